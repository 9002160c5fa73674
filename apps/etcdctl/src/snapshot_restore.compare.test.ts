import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { etcdFlags, freePort, serverCommand, spawnServer, stopProcess, waitHealthy } from "@etcd-ts/test-kit";
import { readGoSnapFile, readGoWal } from "@etcd-ts/wal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { serverFromEnv, startServer } from "./testing/server.js";

/**
 * Differential suite for `snapshot restore`: a snapshot saved from the server under
 * comparison (the real etcd, or etcd-ts with ETCDCTL_TS_COMPARE_SERVER) is restored by the Go
 * etcdctl 3.4 and by etcdctl-ts with the same flags. Both must print the same log lines and
 * exit with the same code, and write the same data directory: a backend with the same status
 * (hash over every bucket, revision, keys), the same WAL records and the same .snap bytes (the
 * v2 store JSON included). The real etcd 3.4 then starts on the directory etcdctl-ts wrote and
 * serves the data and the new member.
 */

let dir: string;
let snapshot: string;
/** expected is `get --prefix ""` of the data saved in the snapshot. */
let expected: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "etcdctl-restore-"));
  snapshot = join(dir, "snap.db");
  const server = await startServer(serverFromEnv());
  try {
    const env = { ETCDCTL_ENDPOINTS: server.endpoint };
    for (let i = 0; i < 20; i++) expect((await runCtl(REAL_ETCDCTL, ["put", `k${i % 7}`, `v${i}`], env)).code).toBe(0);
    expect((await runCtl(REAL_ETCDCTL, ["put", "big", "x".repeat(5000)], env)).code).toBe(0);
    expect((await runCtl(REAL_ETCDCTL, ["del", "k3"], env)).code).toBe(0);
    const lease = await runCtl(REAL_ETCDCTL, ["lease", "grant", "3600"], env);
    const id = /lease ([0-9a-f]+) granted/.exec(lease.stdout.toString())?.[1];
    expect(id, lease.stderr.toString()).toBeDefined();
    expect((await runCtl(REAL_ETCDCTL, ["put", "--lease", id as string, "leased", "yes"], env)).code).toBe(0);
    expected = (await runCtl(REAL_ETCDCTL, ["get", "--prefix", ""], env)).stdout.toString();
    const saved = await runCtl(REAL_ETCDCTL, ["snapshot", "save", snapshot], env);
    expect(saved.code, saved.stderr.toString()).toBe(0);
  } finally {
    await server.stop();
  }
  const db = readFileSync(snapshot);
  writeFileSync(join(dir, "nohash.db"), db.subarray(0, db.length - 32));
  const bad = Buffer.from(db);
  bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
  writeFileSync(join(dir, "badhash.db"), bad);
  mkdirSync(join(dir, "exists.etcd"));
}, 60_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** normalize masks timestamps and the output directory of each CLI. */
function normalize(r: CtlResult, out: string): { stdout: string; stderr: string; code: number | null } {
  const mask = (s: string): string =>
    s
      .replace(/"ts":[0-9.e+]+/g, '"ts":TS')
      .split(out)
      .join("<OUT>")
      .split(dir)
      .join("<DIR>");
  return { stdout: mask(r.stdout.toString()), stderr: mask(r.stderr.toString()), code: r.code };
}

/** restoreBoth runs `snapshot restore` with both CLIs; {OUT} in args is each CLI's own output directory. */
async function restoreBoth(tag: string, args: string[]): Promise<{ go: string; ts: string; real: CtlResult; ours: CtlResult }> {
  const go = join(dir, `${tag}-go`);
  const ts = join(dir, `${tag}-ts`);
  const real = await runCtl(REAL_ETCDCTL, ["snapshot", "restore", ...args.map((a) => a.replaceAll("{OUT}", go))], {});
  const ours = await runCtl(ETCDCTL_TS, ["snapshot", "restore", ...args.map((a) => a.replaceAll("{OUT}", ts))], {});
  const nr = normalize(real, go);
  const nt = normalize(ours, ts);
  expect(nt, `${tag}: ${ours.stderr.toString()}`).toEqual(nr);
  return { go, ts, real, ours };
}

/** tree lists the files under root (relative paths), to compare what each CLI left behind. */
function tree(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((p) => relative(root, join(root, p)))
    .sort();
}

/** status is `snapshot status -w json` by the real etcdctl, without the file size (Go's bbolt leaves free pages after its write). */
async function status(db: string): Promise<unknown> {
  const r = await runCtl(REAL_ETCDCTL, ["snapshot", "status", db, "-w", "json"], {});
  expect(r.code, r.stderr.toString()).toBe(0);
  const j = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
  delete j["totalSize"];
  return j;
}

const jsonable = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x));

async function compareDataDirs(go: string, ts: string, walGo = join(go, "member", "wal"), walTs = join(ts, "member", "wal")): Promise<void> {
  expect(tree(ts)).toEqual(tree(go));
  expect(await status(join(ts, "member", "snap", "db"))).toEqual(await status(join(go, "member", "snap", "db")));
  const [wg, wt] = await Promise.all([readGoWal(walGo, {}), readGoWal(walTs, {})]);
  expect(jsonable(wt)).toBe(jsonable(wg));
  const snaps = readdirSync(join(go, "member", "snap")).filter((f) => f.endsWith(".snap"));
  expect(snaps.length).toBe(1);
  for (const f of snaps) {
    // The .snap file, v2 store JSON included, is byte for byte Go's.
    expect(readFileSync(join(ts, "member", "snap", f)).equals(readFileSync(join(go, "member", "snap", f)))).toBe(true);
    const s = await readGoSnapFile(join(ts, "member", "snap", f));
    expect(Buffer.from(s.data ?? []).toString()).toContain('"/0/members/');
  }
}

describe("etcdctl-ts snapshot restore writes what etcdctl 3.4 writes", () => {
  it("restores a snapshot into the same data directory, which the real etcd starts from and serves", async () => {
    const peer = `http://127.0.0.1:${await freePort()}`;
    const flags = ["--name", "m1", "--initial-cluster", `m1=${peer}`, "--initial-advertise-peer-urls", peer, "--initial-cluster-token", "tok-1"];
    const { go, ts } = await restoreBoth("ok", [snapshot, "--data-dir", "{OUT}", ...flags]);
    await compareDataDirs(go, ts);

    // The real etcd 3.4 on the directory etcdctl-ts restored.
    const client = `http://127.0.0.1:${await freePort()}`;
    const args = etcdFlags({ name: "m1", dataDir: ts, clientUrl: client, listenPeerUrl: peer, advertisePeerUrl: peer, extraFlags: ["--initial-cluster-token", "tok-1"] });
    const { proc } = spawnServer(serverCommand("etcd"), args);
    try {
      await waitHealthy(client, { timeoutMs: 20_000, name: "restored etcd", exited: () => proc.exitCode !== null });
      const env = { ETCDCTL_ENDPOINTS: client };
      const got = await runCtl(REAL_ETCDCTL, ["get", "--prefix", ""], env);
      expect(got.code).toBe(0);
      expect(got.stdout.toString()).toBe(expected);
      const members = await runCtl(REAL_ETCDCTL, ["member", "list", "-w", "json"], env);
      expect(members.code).toBe(0);
      const list = JSON.parse(members.stdout.toString()) as { members: { name: string; peerURLs: string[] }[] };
      expect(list.members.map((m) => [m.name, m.peerURLs])).toEqual([["m1", [peer]]]);
    } finally {
      await stopProcess(proc);
    }
  }, 60_000);

  it("restores a three-member cluster with a separate WAL directory alike", async () => {
    const cluster = "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380,c=http://10.0.0.3:2390";
    const { go, ts } = await restoreBoth("three", [
      snapshot,
      "--name", "c",
      "--initial-cluster", cluster,
      "--initial-advertise-peer-urls", "http://10.0.0.3:2390,http://10.0.0.3:2380",
      "--data-dir", "{OUT}/data",
      "--wal-dir", "{OUT}/wal",
    ]);
    expect(tree(ts)).toEqual(tree(go));
    await compareDataDirs(join(go, "data"), join(ts, "data"), join(go, "wal"), join(ts, "wal"));
  }, 30_000);

  const bad: { name: string; args: string[] }[] = [
    { name: "a missing file", args: ["{DIR}/missing.db", "--data-dir", "{OUT}"] },
    { name: "no argument", args: ["--data-dir", "{OUT}"] },
    { name: "a data dir that exists", args: ["{DIR}/snap.db", "--data-dir", "{DIR}/exists.etcd"] },
    { name: "a WAL dir that exists", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--wal-dir", "{DIR}/exists.etcd"] },
    { name: "a wrong SHA-256 trailer", args: ["{DIR}/badhash.db", "--data-dir", "{OUT}"] },
    { name: "no trailer without --skip-hash-check", args: ["{DIR}/nohash.db", "--data-dir", "{OUT}"] },
    { name: "a name missing from --initial-cluster", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--initial-cluster", "other=http://localhost:2380"] },
    { name: "a URL without a scheme", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--initial-cluster", "default=localhost:2380"] },
    { name: "a URL without a port", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--initial-cluster", "default=http://localhost"] },
    { name: "a URL with a path", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--initial-advertise-peer-urls", "http://localhost:2380/p"] },
    { name: "advertised URLs not in the cluster", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--initial-advertise-peer-urls", "http://127.0.0.1:2380"] },
    { name: "more advertised URLs than the cluster has", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--initial-advertise-peer-urls", "http://localhost:2380,http://localhost:2381"] },
    { name: "a duplicate URL", args: ["{DIR}/snap.db", "--data-dir", "{OUT}", "--initial-cluster", "default=http://localhost:2380,x=http://localhost:2380"] },
  ];
  for (const c of bad) {
    it(`refuses ${c.name} as etcdctl does`, async () => {
      const tag = c.name.replace(/[^a-z]+/gi, "-");
      const { go, ts, real } = await restoreBoth(tag, c.args.map((a) => a.replaceAll("{DIR}", dir)));
      expect(real.code).not.toBe(0);
      // What a failed restore leaves behind (Go keeps the copied db when the hash check fails).
      expect(tree(ts)).toEqual(tree(go));
    }, 30_000);
  }

  it("restores a file without a trailer with --skip-hash-check", async () => {
    const { go, ts } = await restoreBoth("skip", [join(dir, "nohash.db"), "--skip-hash-check", "--data-dir", "{OUT}"]);
    await compareDataDirs(go, ts);
  }, 30_000);
});
