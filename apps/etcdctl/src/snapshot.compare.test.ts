import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { serverFromEnv, startServer, type RunningServer } from "./testing/server.js";

/**
 * Differential suite for `snapshot save` and `snapshot status`: the Go etcdctl and etcdctl-ts
 * against one server (the real etcd, or etcd-ts with ETCDCTL_TS_COMPARE_SERVER) must print the
 * same bytes and exit with the same code. Both save a snapshot of the same data, so the status
 * of each file (hash over every bucket, revision, keys, size) is the same whichever CLI reads it.
 */

let server: RunningServer;
let dir: string;

beforeAll(async () => {
  server = await startServer(serverFromEnv());
  dir = mkdtempSync(join(tmpdir(), "etcdctl-snapshot-"));
  for (let i = 0; i < 30; i++) {
    const r = await runCtl(REAL_ETCDCTL, ["put", `k${i % 12}`, `v${i}`], { ETCDCTL_ENDPOINTS: server.endpoint });
    expect(r.code).toBe(0);
  }
  await runCtl(REAL_ETCDCTL, ["put", "big", "x".repeat(9000)], { ETCDCTL_ENDPOINTS: server.endpoint });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** sub replaces {EP} and {DIR} in args. */
function sub(args: string[]): string[] {
  return args.map((a) => a.replaceAll("{EP}", server.endpoint).replaceAll("{DIR}", dir));
}

/** normalize masks the run-dependent parts of stderr: timestamps, durations, the directory. */
function normalize(r: CtlResult): { stdout: string; stderr: string; code: number | null } {
  const stderr = normalizeStderr(r.stderr.toString(), [server.endpoint])
    .replace(/"ts":[0-9.e+]+/g, '"ts":TS')
    .replace(/"took":[0-9.e+-]+/g, '"took":T')
    .split(dir)
    .join("<DIR>");
  return { stdout: r.stdout.toString().split(dir).join("<DIR>"), stderr, code: r.code };
}

async function both(args: string[], env: Record<string, string> = {}): Promise<[CtlResult, CtlResult]> {
  const a = await runCtl(REAL_ETCDCTL, sub(args), env);
  const b = await runCtl(ETCDCTL_TS, sub(args), env);
  return [a, b];
}

describe("etcdctl-ts snapshot prints what etcdctl 3.4 prints", () => {
  it("save writes a file whose status both CLIs report alike, with etcdctl's output and log lines", async () => {
    const real = await runCtl(REAL_ETCDCTL, sub(["--endpoints", "{EP}", "snapshot", "save", "{DIR}/a.db"]), {});
    const ts = await runCtl(ETCDCTL_TS, sub(["--endpoints", "{EP}", "snapshot", "save", "{DIR}/b.db"]), {});
    const nr = normalize(real);
    const nt = normalize(ts);
    expect(nt.code, ts.stderr.toString()).toBe(nr.code);
    expect(nr.code).toBe(0);
    expect(nt.stdout).toBe(nr.stdout.replace("a.db", "b.db"));
    // The same log lines (messages and fields), sizes included.
    expect(nt.stderr.replaceAll("b.db", "X.db")).toBe(nr.stderr.replaceAll("a.db", "X.db"));
    expect(existsSync(join(dir, "b.db.part"))).toBe(false);
    for (const fmt of ["simple", "json", "fields", "table", "protobuf"]) {
      for (const f of ["a.db", "b.db"]) {
        const [x, y] = await both(["snapshot", "status", `{DIR}/${f}`, "-w", fmt]);
        expect(y.stdout.toString(), `${f} -w ${fmt}`).toBe(x.stdout.toString());
        expect(y.stderr.toString(), `${f} -w ${fmt}`).toBe(x.stderr.toString());
        expect(y.code, `${f} -w ${fmt}`).toBe(x.code);
      }
    }
    // Same data: the two files report the same hash, revision and keys.
    const sa = (await runCtl(ETCDCTL_TS, sub(["snapshot", "status", "{DIR}/a.db", "-w", "json"]), {})).stdout.toString();
    const sb = (await runCtl(ETCDCTL_TS, sub(["snapshot", "status", "{DIR}/b.db", "-w", "json"]), {})).stdout.toString();
    expect(sb).toBe(sa);
  }, 60_000);

  const cases: { name: string; args: string[]; setup?: () => void }[] = [
    { name: "save without a file name", args: ["--endpoints", "{EP}", "snapshot", "save"] },
    { name: "save with two file names", args: ["--endpoints", "{EP}", "snapshot", "save", "{DIR}/x", "{DIR}/y"] },
    { name: "save from two endpoints", args: ["--endpoints", "{EP},{EP}", "snapshot", "save", "{DIR}/two.db"] },
    { name: "save into a missing directory", args: ["--endpoints", "{EP}", "snapshot", "save", "{DIR}/no/such/dir/x.db"] },
    { name: "status without a file", args: ["snapshot", "status"] },
    { name: "status of a missing file", args: ["snapshot", "status", "{DIR}/missing.db"] },
    { name: "status with a bad format", args: ["snapshot", "status", "{DIR}/missing.db", "-w", "bogus"] },
    { name: "snapshot alone", args: ["snapshot"] },
    { name: "snapshot save --help", args: ["snapshot", "save", "--help"] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      c.setup?.();
      const [a, b] = await both(c.args);
      const na = normalize(a);
      const nb = normalize(b);
      expect(nb.code).toBe(na.code);
      expect(nb.stdout).toBe(na.stdout);
      expect(nb.stderr).toBe(na.stderr);
    });
  }

  it("status refuses a damaged file with an error, where a truncated one can crash the Go etcdctl", async () => {
    mkdirSync(join(dir, "bad"), { recursive: true });
    const good = readFileSync(join(dir, "a.db"));
    writeFileSync(join(dir, "bad", "trunc.db"), good.subarray(0, 3 * 4096 + 100));
    const flipped = Buffer.from(good);
    for (const off of [16 + 8, 4096 + 16 + 8]) flipped[off] = (flipped[off] as number) ^ 0xff; // both meta pages
    writeFileSync(join(dir, "bad", "flipped.db"), flipped);
    for (const f of ["trunc.db", "flipped.db"]) {
      const r = await runCtl(ETCDCTL_TS, ["snapshot", "status", join(dir, "bad", f)], {});
      expect(r.code, f).toBe(1);
      expect(r.stderr.toString(), f).toMatch(/^Error: bbolt: /);
      expect(r.stdout.toString(), f).toBe("");
    }
  });

  it("save refuses a file it cannot create, as etcdctl does", async () => {
    if (process.getuid?.() === 0) return; // root writes anywhere: nothing to refuse
    const ro = join(dir, "ro");
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    const [a, b] = await both(["--endpoints", "{EP}", "snapshot", "save", `${ro}/x.db`]);
    expect(normalize(b)).toEqual(normalize(a));
  });
});
