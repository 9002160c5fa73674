import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REAL_ETCDCTL, run } from "@etcd-ts/test-kit";
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";
import { ctl, ok } from "./harness/etcdctl.js";

/**
 * etcd-ts -> `etcdctl snapshot save` (the real etcdctl 3.4) -> `etcdctl snapshot restore` ->
 * the real etcd 3.4.23 serves the same data: every key with its revisions and version, the
 * same HashKV at the same revision, leases with their keys, users and roles. The real
 * `etcdctl snapshot status` reads the file. Snapshot is an admin call once auth is on.
 */

interface Kv {
  key: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: string;
  lease?: number;
}

async function kvs(endpoint: string): Promise<Kv[]> {
  const out = JSON.parse(await ok(endpoint, "get", "", "--prefix", "-w", "json")) as { kvs?: Kv[] };
  return out.kvs ?? [];
}

describe("snapshot: etcd-ts -> the real etcdctl -> the real etcd", () => {
  const members: Member[] = [];
  const dir = mkdtempSync(join(tmpdir(), "e2e-snapshot-"));
  afterAll(async () => {
    for (const m of members) await m.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("restores into a real etcd that serves the same data", async () => {
    const ts = await Member.create({ kind: "etcd-ts" });
    members.push(ts);
    await ts.start();
    const ep = ts.endpoint;
    const client = new Etcd3({ hosts: ts.url });
    try {
      for (let i = 0; i < 200; i++) await client.put(`k${i % 120}`).value(`value-${i}`);
    } finally {
      client.close();
    }
    await ok(ep, "del", "k7");
    await ok(ep, "put", "big", "x".repeat(20_000)); // more than a page: bbolt overflow pages
    const lease = /lease ([0-9a-f]+) granted/.exec(await ok(ep, "lease", "grant", "600"))?.[1] as string;
    await ok(ep, "put", "leased", "v", "--lease", lease);
    const status = JSON.parse(await ok(ep, "endpoint", "status", "-w", "json")) as { Status: { header: { revision: number } } }[];
    const compactAt = (status[0]?.Status.header.revision ?? 0) - 50;
    await ok(ep, "compaction", String(compactAt));
    await ok(ep, "user", "add", "alice", "--new-user-password", "pw");
    await ok(ep, "role", "add", "reader");
    await ok(ep, "role", "grant-permission", "reader", "read", "k", "--prefix");
    await ok(ep, "user", "grant-role", "alice", "reader");
    await ok(ep, "put", "last", "1");
    const rev = (JSON.parse(await ok(ep, "endpoint", "status", "-w", "json")) as { Status: { header: { revision: number } } }[])[0]?.Status.header.revision as number;

    const file = join(dir, "etcd-ts.db");
    const save = await ctl(ep, "snapshot", "save", file);
    expect(save.code, save.stdout + save.stderr).toBe(0);
    expect(save.stdout).toContain(`Snapshot saved at ${file}`);
    // The file is the bbolt image plus the 32-byte SHA-256 etcdctl keeps.
    expect(statSync(file).size % 4096).toBe(32);

    const st = JSON.parse((await run(REAL_ETCDCTL, ["snapshot", "status", file, "-w", "json"])).stdout) as { revision: number; totalKey: number; totalSize: number };
    expect(st.revision).toBe(rev);
    expect(st.totalKey).toBeGreaterThan(120);
    expect(st.totalSize).toBe(statSync(file).size - 32);

    const real = await Member.create({ kind: "etcd" });
    members.push(real);
    const peer = `http://127.0.0.1:${real.peerPort}`;
    const restore = await run(REAL_ETCDCTL, ["snapshot", "restore", file, "--data-dir", real.dataDir, "--name", "default", "--initial-cluster", `default=${peer}`, "--initial-advertise-peer-urls", peer]);
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect(existsSync(join(real.dataDir, "member", "snap", "db"))).toBe(true);
    await real.start();
    const rep = real.endpoint;

    expect(await kvs(rep)).toEqual(await kvs(ep));
    const hashTs = JSON.parse(await ok(ep, "endpoint", "hashkv", "--rev", String(rev), "-w", "json")) as { HashKV: { hash: number; compact_revision: number } }[];
    const hashReal = JSON.parse(await ok(rep, "endpoint", "hashkv", "--rev", String(rev), "-w", "json")) as { HashKV: { hash: number; compact_revision: number } }[];
    expect(hashReal[0]?.HashKV.hash).toBe(hashTs[0]?.HashKV.hash);
    expect(hashReal[0]?.HashKV.compact_revision).toBe(compactAt);
    // The compaction came along: older revisions are gone on the real etcd too.
    const old = await ctl(rep, "get", "k1", "--rev", String(compactAt - 1));
    expect(old.stderr).toContain("required revision has been compacted");
    expect(await ok(rep, "lease", "list")).toContain(lease);
    expect(await ok(rep, "lease", "timetolive", lease, "--keys")).toContain("attached keys([leased])");
    expect(await ok(rep, "user", "get", "alice")).toBe(await ok(ep, "user", "get", "alice"));
    expect(await ok(rep, "role", "get", "reader")).toBe(await ok(ep, "role", "get", "reader"));
  });

  it("is an admin call once auth is on", async () => {
    const ts = await Member.create({ kind: "etcd-ts" });
    members.push(ts);
    await ts.start();
    const ep = ts.endpoint;
    await ok(ep, "user", "add", "root", "--new-user-password", "rootpw");
    await ok(ep, "user", "add", "bob", "--new-user-password", "bobpw");
    await ok(ep, "auth", "enable");
    const denied = await ctl(ep, "--user", "bob:bobpw", "snapshot", "save", join(dir, "bob.db"));
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("etcdserver: permission denied");
    expect(existsSync(join(dir, "bob.db"))).toBe(false);
    const saved = await ctl(ep, "--user", "root:rootpw", "snapshot", "save", join(dir, "root.db"));
    expect(saved.code, saved.stderr).toBe(0);
  });
});
