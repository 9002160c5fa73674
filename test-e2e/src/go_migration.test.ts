import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ETCDCTL_TS_BIN, REAL_ETCDCTL, run } from "@etcd-ts/test-kit";
import { Client } from "@etcd-ts/client";
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster.js";
import { Member } from "./harness/member.js";
import { ctl, ok } from "./harness/etcdctl.js";

/**
 * Go etcd data directories under etcd-ts (issue 11): a 3-member real etcd 3.4.23 cluster
 * moves onto etcd-ts by stopping each member and starting etcd-ts with the same flags; a real
 * etcd snapshot restored by etcdctl-ts is served by etcd-ts; a damaged WAL is repaired or
 * refused as the real etcd does it.
 */

const ROOT = ["--user", "root:rootpw"];

interface Status {
  Status: { header: { revision: number; member_id: string | number }; leader: string | number; raftIndex: number };
}

async function revision(endpoint: string, ...auth: string[]): Promise<number> {
  const st = JSON.parse(await ok(endpoint, ...auth, "endpoint", "status", "-w", "json")) as Status[];
  return st[0]?.Status.header.revision as number;
}

async function hashKv(endpoint: string, rev: number, ...auth: string[]): Promise<{ hash: number; compact_revision: number }> {
  const h = JSON.parse(await ok(endpoint, ...auth, "endpoint", "hashkv", "--rev", String(rev), "-w", "json")) as { HashKV: { hash: number; compact_revision: number } }[];
  return { hash: h[0]?.HashKV.hash as number, compact_revision: h[0]?.HashKV.compact_revision as number };
}

/** sha256s hashes every regular file under dir, by path relative to it. */
function sha256s(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out[path.slice(dir.length)] = createHash("sha256").update(readFileSync(path)).digest("hex");
  }
  return out;
}

/** writeLoad writes keys with history, a deletion, a leased key, users, roles and a compaction through the npm etcd3 client and etcdctl. */
async function writeLoad(url: string, endpoint: string): Promise<{ lease: string; compactAt: number }> {
  const client = new Etcd3({ hosts: url });
  try {
    for (let i = 0; i < 260; i++) await client.put(`k${i % 90}`).value(`value-${i}`);
    await client.delete().key("k3");
  } finally {
    client.close();
  }
  const lease = /lease ([0-9a-f]+) granted/.exec(await ok(endpoint, "lease", "grant", "900"))?.[1] as string;
  await ok(endpoint, "put", "leased", "v", "--lease", lease);
  const compactAt = (await revision(endpoint)) - 60;
  await ok(endpoint, "compaction", String(compactAt));
  await ok(endpoint, "user", "add", "alice", "--new-user-password", "alicepw");
  await ok(endpoint, "role", "add", "reader");
  await ok(endpoint, "role", "grant-permission", "reader", "read", "k", "--prefix");
  await ok(endpoint, "user", "grant-role", "alice", "reader");
  await ok(endpoint, "put", "last", "1");
  return { lease, compactAt };
}

/** Seen is what a client sees of a cluster, compared before and after the binary swap. */
interface Seen {
  kvs: string;
  members: string;
  users: string;
  role: string;
  leases: string;
  timeToLive: string;
}

async function seen(endpoint: string, lease: string, auth: string[] = [], role = "reader"): Promise<Seen> {
  const members = JSON.parse(await ok(endpoint, ...auth, "member", "list", "-w", "json")) as { members: unknown[] };
  return {
    kvs: JSON.stringify((JSON.parse(await ok(endpoint, ...auth, "get", "", "--prefix", "-w", "json")) as { kvs: unknown }).kvs),
    members: JSON.stringify(members.members),
    users: await ok(endpoint, ...auth, "user", "list"),
    role: await ok(endpoint, ...auth, "role", "get", role),
    leases: await ok(endpoint, ...auth, "lease", "list"),
    timeToLive: (await ok(endpoint, ...auth, "lease", "timetolive", lease, "--keys")).replace(/remaining\(\d+s\)/, "remaining(_)"),
  };
}

describe("a Go etcd data directory under etcd-ts", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("a 3-member real etcd cluster moves in place: same IDs, members, data and leader; originals kept untouched", async () => {
    // --snapshot-count 100: the members have .snap files and WAL entries after them.
    const c = await TestCluster.start("etcd", 3, { extraArgs: ["--snapshot-count", "100"] });
    cleanups.push(() => c.destroy());
    const first = c.members[0]!;
    const ep = c.endpoint(first);
    const { lease } = await writeLoad(c.clientUrl(first), ep);
    await ok(ep, "user", "add", "root", "--new-user-password", "rootpw");
    await ok(ep, "auth", "enable");
    const rev = await revision(ep, ...ROOT);
    const before = await seen(ep, lease, ROOT);
    const hashes = await Promise.all(c.members.map((m) => hashKv(c.endpoint(m), rev, ...ROOT)));
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
    const ids = JSON.parse(await ok(ep, ...ROOT, "endpoint", "status", "--endpoints", c.endpoints(), "-w", "json")) as Status[];

    for (const m of c.members) await c.kill(m, "SIGTERM");
    const originals = c.members.map((m) => sha256s(join(m.dataDir, "member")));
    expect(Object.keys(originals[0]!).some((f) => f.endsWith(".snap")), "the real etcd saved a snapshot").toBe(true);

    c.kind = "etcd-ts";
    for (const m of c.members) await c.spawn(m);
    for (const m of c.members) await c.waitHealthy(m, 60_000);

    // The same cluster: IDs, a leader, members, data, history hash.
    const after = JSON.parse(await ok(ep, ...ROOT, "endpoint", "status", "--endpoints", c.endpoints(), "-w", "json")) as Status[];
    expect(after.map((s) => String(s.Status.header.member_id))).toEqual(ids.map((s) => String(s.Status.header.member_id)));
    const leaders = new Set(after.map((s) => String(s.Status.leader)));
    expect(leaders.size).toBe(1);
    expect(after.map((s) => String(s.Status.header.member_id))).toContain([...leaders][0]);
    for (const m of c.members) {
      const e = c.endpoint(m);
      expect(await seen(e, lease, ROOT)).toEqual(before);
      expect(await hashKv(e, rev, ...ROOT)).toEqual(hashes[0]);
    }
    // Users keep their passwords (bcrypt hashes carried over); permissions hold.
    expect(await ok(ep, "--user", "alice:alicepw", "get", "k10")).toContain("k10");
    const denied = await ctl(ep, "--user", "alice:alicepw", "put", "k10", "x");
    expect(denied.stderr).toContain("permission denied");
    // The originals are kept aside, byte for byte.
    c.members.forEach((m, i) => expect(sha256s(join(m.dataDir, "member.go-etcd"))).toEqual(originals[i]));
    // The converted cluster takes writes on every member.
    await ok(c.endpoint(c.members[2]!), ...ROOT, "put", "after", "migration");
    for (const m of c.members) {
      expect(await ok(c.endpoint(m), ...ROOT, "get", "after", "--consistency", "s")).toContain("migration");
    }
    // A restart is an ordinary etcd-ts restart (nothing converted twice).
    await c.kill(c.members[1]!, "SIGTERM");
    await c.spawn(c.members[1]!);
    await c.waitHealthy(c.members[1]!, 30_000);
    expect(readFileSync(c.members[1]!.logFile, "utf8").match(/converted a Go etcd data directory/g)?.length).toBe(1);
  });

  it("a real etcd snapshot restored by etcdctl-ts or the real etcdctl, under a new name and peer URL, is served by etcd-ts with the same data and HashKV", async () => {
    const real = await Member.create({ kind: "etcd" });
    cleanups.push(() => real.destroy());
    await real.start();
    const { lease } = await writeLoad(real.url, real.endpoint);
    const rev = await revision(real.endpoint);
    const before = await seen(real.endpoint, lease);
    const hash = await hashKv(real.endpoint, rev);
    const dir = mkdtempSync(join(tmpdir(), "e2e-go-restore-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "real.db");
    await ok(real.endpoint, "snapshot", "save", file);
    await real.kill();

    // The Go etcdctl's restore leaves the old members in the backend's members bucket; the
    // member list is the v2 store's, as Go etcd reads it.
    for (const tool of [[process.execPath, ETCDCTL_TS_BIN], [REAL_ETCDCTL]] as const) {
      const ts = await Member.create({ kind: "etcd-ts" });
      cleanups.push(() => ts.destroy());
      const peer = `http://127.0.0.1:${ts.peerPort}`;
      const [cmd, ...pre] = tool;
      const restore = await run(cmd, [...pre, "snapshot", "restore", file, "--data-dir", ts.dataDir, "--name", "restored", "--initial-cluster", `restored=${peer}`, "--initial-advertise-peer-urls", peer]);
      expect(restore.code, restore.stdout + restore.stderr).toBe(0);
      await ts.start();
      const got = await seen(ts.endpoint, lease);
      expect(got.kvs).toEqual(before.kvs);
      expect(got.users).toEqual(before.users);
      expect(got.role).toEqual(before.role);
      expect(got.leases).toEqual(before.leases);
      expect(got.timeToLive).toEqual(before.timeToLive);
      expect(await hashKv(ts.endpoint, rev)).toEqual(hash);
      const members = (JSON.parse(await ok(ts.endpoint, "member", "list", "-w", "json")) as { members: { peerURLs: string[] }[] }).members;
      expect(members.map((m) => m.peerURLs)).toEqual([[peer]]);
      await ts.kill();
    }
  });

  it("a Go etcd killed mid-burst: etcd-ts applies the WAL entries its backend lacks, as the real etcd does on restart", async () => {
    // etcd commits its backend every --backend-batch-interval (100 ms by default), so a kill
    // soon after a commit on a loaded machine could leave nothing for the WAL replay to do.
    // With an hour, the backend is committed only where the test asks: a defragmentation
    // commits it after the base keys, so the member list and those keys are in the backend
    // and everything after them is in the WAL only.
    const go = await Member.create({ kind: "etcd", extraArgs: ["--backend-batch-interval", "1h"] });
    cleanups.push(() => go.destroy());
    await go.start();
    for (let i = 0; i < 30; i++) await ok(go.endpoint, "put", `base${i}`, "v");
    await ok(go.endpoint, "defrag");
    // Writes keep flowing while etcd is killed with -9. Users and roles (passwords hashed at
    // apply in Go), leases, transactions and deletions come first.
    const client = new Etcd3({ hosts: go.url });
    const lease = client.lease(900, { autoKeepAlive: false });
    const leaseId = BigInt(await lease.grant()).toString(16);
    try {
      await client.user("carol").create("carolpw");
      await client.role("writer").create();
      await client.role("writer").grant({ permission: "Readwrite", range: client.range({ prefix: "w" }) });
      await client.user("carol").addRole("writer");
      await lease.put("leased2").value("x");
      await client.if("base1", "Value", "==", "v").then(client.put("txn-then").value("1")).else(client.put("txn-else").value("1")).commit();
      await client.delete().key("base2");
    } finally {
      client.close();
    }
    const burst = new Client({ endpoints: [go.url] });
    const abort = new AbortController();
    // etcd is killed right when a put is acknowledged, 200 puts into the burst, with the other
    // writers' puts in flight: the acknowledged one was applied but not yet in the backend's
    // next commit, and the ones in flight are in the WAL only. (A kill after a fixed sleep
    // found the burst stalled on a loaded machine, with nothing left to apply.)
    let acked = 0;
    let killed = false;
    const writers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; !abort.signal.aborted; i++) {
        await burst
          .put({ key: Buffer.from(`burst${w}-${i % 20}`), value: Buffer.from(`b${i}`) }, { signal: abort.signal, timeoutMs: 5000 })
          .then(() => {
            if (++acked >= 200 && !killed) {
              killed = true;
              go.proc?.kill("SIGKILL");
            }
          })
          .catch(() => undefined);
      }
    });
    for (const end = Date.now() + 30_000; !killed && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    expect(killed, `the burst reached ${acked} acknowledged puts in 30 s`).toBe(true);
    await go.exited;
    abort.abort();
    await Promise.all(writers);
    burst.close();

    const copy = async (kind: "etcd" | "etcd-ts"): Promise<Member> => {
      const m = await Member.create({ kind });
      cleanups.push(() => m.destroy());
      cpSync(go.dataDir, m.dataDir, { recursive: true });
      await m.start();
      return m;
    };
    const real = await copy("etcd");
    const ts = await copy("etcd-ts");
    const converted = /"msg":"converted a Go etcd data directory[^\n]*"entries-to-apply":(\d+)/.exec(readFileSync(ts.logFile, "utf8"));
    expect(converted, ts.logTail()).not.toBeNull();
    expect(Number(converted?.[1]), "the backend lagged the WAL").toBeGreaterThan(0);
    const rev = await revision(real.endpoint);
    expect(await revision(ts.endpoint)).toBe(rev);
    const a = await seen(real.endpoint, leaseId, [], "writer");
    const b = await seen(ts.endpoint, leaseId, [], "writer");
    expect({ ...b, members: "" }).toEqual({ ...a, members: "" });
    expect(await hashKv(ts.endpoint, rev)).toEqual(await hashKv(real.endpoint, rev));
    // carol's password, hashed during the conversion, works.
    await ok(ts.endpoint, "user", "add", "root", "--new-user-password", "rootpw");
    await ok(ts.endpoint, "auth", "enable");
    expect(await ok(ts.endpoint, "--user", "carol:carolpw", "put", "w1", "ok")).toContain("OK");
  });

  it("with --wal-dir: a conversion that crashed is begun again, or finished, at the next start", async () => {
    const base = mkdtempSync(join(tmpdir(), "e2e-go-waldir-"));
    cleanups.push(async () => rmSync(base, { recursive: true, force: true }));
    const walDir = join(base, "wal");
    const go = await Member.create({ kind: "etcd", extraArgs: ["--wal-dir", walDir] });
    cleanups.push(() => go.destroy());
    await go.start();
    for (let i = 0; i < 10; i++) await ok(go.endpoint, "put", `k${i}`, `v${i}`);
    const before = await ok(go.endpoint, "get", "k", "--prefix", "-w", "json").then((o) => (JSON.parse(o) as { kvs: unknown }).kvs);
    await go.kill();
    const originals = { member: sha256s(join(go.dataDir, "member")), wal: sha256s(walDir) };

    const crashAt = async (failpoint: string): Promise<void> => {
      const m = await Member.create({ kind: "etcd-ts", dataDir: go.dataDir, extraArgs: ["--wal-dir", walDir], env: { ETCD_TS_FAILPOINTS: `${failpoint}=panic` } });
      await expect(m.start()).rejects.toThrow();
      expect(m.logTail()).toContain(failpoint);
    };
    // Before the built member is marked complete: the Go files stay where they were.
    await crashAt("goConvertBeforeMark");
    expect(sha256s(join(go.dataDir, "member"))).toEqual(originals.member);
    expect(sha256s(walDir)).toEqual(originals.wal);
    expect(existsSync(join(go.dataDir, "member.converting"))).toBe(true);
    // Between the renames: the next start must finish them.
    await crashAt("goConvertMidSwap");
    expect(existsSync(join(go.dataDir, "member"))).toBe(false);
    expect(sha256s(`${walDir}.go-etcd`)).toEqual(originals.wal);
    expect(sha256s(join(go.dataDir, "member.go-etcd"))).toEqual(originals.member);

    const ts = await Member.create({ kind: "etcd-ts", dataDir: go.dataDir, extraArgs: ["--wal-dir", walDir] });
    await ts.start();
    cleanups.push(async () => void (await ts.kill("SIGKILL")));
    expect(ts.logTail()).toContain("finishing an interrupted conversion");
    expect(await ok(ts.endpoint, "get", "k", "--prefix", "-w", "json").then((o) => (JSON.parse(o) as { kvs: unknown }).kvs)).toEqual(before);
    expect(readdirSync(walDir).some((n) => n.endsWith(".wal"))).toBe(true);
    expect(existsSync(join(go.dataDir, "member", "snap", "db", "CURRENT")), "the backend is RocksDB now").toBe(true);
  });

  it("is refused while the Go etcd still runs on the data directory (its WAL lock)", async () => {
    const go = await Member.create({ kind: "etcd" });
    cleanups.push(() => go.destroy());
    await go.start();
    await ok(go.endpoint, "put", "k", "v");
    const ts = await Member.create({ kind: "etcd-ts", dataDir: go.dataDir });
    await expect(ts.start()).rejects.toThrow();
    expect(ts.logTail()).toContain("is locked by");
    expect(existsSync(join(go.dataDir, "member.go-etcd"))).toBe(false);
    expect(existsSync(join(go.dataDir, "member.converting"))).toBe(false);
    expect(await ok(go.endpoint, "get", "k")).toContain("v");
  });

  describe("a damaged WAL, as the real etcd treats it", () => {
    /** goDataDir runs a real etcd single member with some keys and stops it; the data dir is then copied for each server. */
    async function goDataDir(): Promise<{ member: Member; walFile: string }> {
      const member = await Member.create({ kind: "etcd" });
      cleanups.push(() => member.destroy());
      await member.start();
      for (let i = 0; i < 20; i++) await ok(member.endpoint, "put", `k${i}`, `v${i}`);
      await member.kill();
      const walDir = join(member.dataDir, "member", "wal");
      const wal = readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort().at(-1) as string;
      return { member, walFile: join(walDir, wal) };
    }

    /** frames walks Go WAL frames (8-byte length word, then data and padding) up to the zeros after the last record. */
    function frames(buf: Buffer): { offset: number; dataLen: number }[] {
      const out: { offset: number; dataLen: number }[] = [];
      let at = 0;
      while (at + 8 <= buf.length) {
        const word = buf.readBigUInt64LE(at);
        if (word === 0n) break;
        const len = Number(word & 0x00ffffffffffffffn);
        const pad = (word & 0x8000000000000000n) !== 0n ? Number((word >> 56n) & 0x7n) : 0;
        out.push({ offset: at, dataLen: len });
        at += 8 + len + pad;
      }
      return out;
    }

    /** startOn copies the Go data dir and starts kind on the copy (same flags); it returns the member, started or not, and whether it became healthy. */
    async function startOn(src: Member, kind: "etcd" | "etcd-ts"): Promise<{ m: Member; healthy: boolean; code: number | null }> {
      const m = await Member.create({ kind });
      cleanups.push(() => m.destroy());
      cpSync(src.dataDir, m.dataDir, { recursive: true });
      try {
        await m.start();
        return { m, healthy: true, code: null };
      } catch {
        return { m, healthy: false, code: await m.exited };
      }
    }

    it("a torn last record is cut off and both servers serve the same keys", async () => {
      const { member, walFile } = await goDataDir();
      const buf = readFileSync(walFile);
      const last = frames(buf).at(-1)!;
      const end = last.offset + 8 + last.dataLen + ((8 - ((last.dataLen) % 8)) % 8);
      // A record whose length word made it to disk but whose data did not: a zeroed sector.
      const fd = openSync(walFile, "r+");
      const word = Buffer.alloc(8);
      word.writeBigUInt64LE(600n);
      writeSync(fd, word, 0, 8, end);
      writeSync(fd, Buffer.from("torn"), 0, 4, end + 8);
      closeSync(fd);
      const real = await startOn(member, "etcd");
      const ts = await startOn(member, "etcd-ts");
      expect(real.healthy, real.m.logTail()).toBe(true);
      expect(ts.healthy, ts.m.logTail()).toBe(true);
      expect(readFileSync(ts.m.logFile, "utf8")).toContain("repaired WAL");
      expect(await ok(ts.m.endpoint, "get", "k", "--prefix", "-w", "json").then((o) => (JSON.parse(o) as { kvs: unknown }).kvs)).toEqual(
        await ok(real.m.endpoint, "get", "k", "--prefix", "-w", "json").then((o) => (JSON.parse(o) as { kvs: unknown }).kvs),
      );
    });

    it("a bad CRC in the middle is refused by both, and the originals stay where they were", async () => {
      const { member, walFile } = await goDataDir();
      const buf = readFileSync(walFile);
      const fs = frames(buf);
      const mid = fs[Math.floor(fs.length / 2)]!;
      const at = mid.offset + 8 + mid.dataLen - 1; // the last byte of the record's data
      buf[at] = buf[at]! ^ 0xff;
      const fd = openSync(walFile, "r+");
      writeSync(fd, buf, at, 1, at);
      closeSync(fd);
      const real = await startOn(member, "etcd");
      const ts = await startOn(member, "etcd-ts");
      expect(real.healthy).toBe(false);
      expect(real.m.logTail()).toContain("crc mismatch");
      expect(ts.healthy).toBe(false);
      expect(ts.code).not.toBe(0);
      expect(ts.m.logTail()).toContain("crc mismatch");
      expect(existsSync(join(ts.m.dataDir, "member.go-etcd"))).toBe(false);
      expect(existsSync(join(ts.m.dataDir, "member.converting"))).toBe(false);
      expect(sha256s(join(ts.m.dataDir, "member"))).toEqual(sha256s(join(member.dataDir, "member")));
    });
  });
});
