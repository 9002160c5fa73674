import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { REAL_ETCDCTL } from "@etcd-ts/test-kit";
import { describe, expect, it } from "vitest";
import { Etcd } from "./etcd.js";
import { EtcdError } from "./errors.js";
import { compare, op } from "./ops.js";
import { useEtcd } from "./testing/etcd_fixture.js";

// The Etcd API against both servers: every call, the same expectations.
describe.each(["etcd", "etcd-ts"] as const)("Etcd API against %s", (kind) => {
  const fx = useEtcd(kind, "t");
  const fresh = (): Etcd => fx.fresh();

  it("puts and gets strings, bytes and JSON; a missing key is undefined", async () => {
    const e = fresh();
    await e.put("s", "héllo");
    await e.put("b", Buffer.from([0, 255, 1]));
    await e.putJSON("j", { a: [1, "x"], b: null });
    expect(await e.get("s")).toBe("héllo");
    expect(await e.getBytes("b")).toEqual(Buffer.from([0, 255, 1]));
    expect(await e.getJSON<{ a: unknown[] }>("j")).toEqual({ a: [1, "x"], b: null });
    expect(await e.get("missing")).toBeUndefined();
    expect(await e.getJSON("missing")).toBeUndefined();
    expect(() => e.putJSON("u", undefined)).toThrow(TypeError);
  });

  it("reports revisions, versions and the previous value", async () => {
    const e = fresh();
    const p1 = await e.put("k", "1");
    const p2 = await e.put("k", "2", { prevKv: true });
    expect(p2.revision).toBe(p1.revision + 1n);
    expect(p2.prevKv?.string()).toBe("1");
    expect(p2.prevKv?.keyString).toBe("k");
    const kv = await e.getKv("k");
    expect(kv).toMatchObject({ createRevision: p1.revision, modRevision: p2.revision, version: 2n, lease: 0n });
    expect(await e.get("k", { revision: p1.revision })).toBe("1");
    expect((await e.put("new", "x", { prevKv: true })).prevKv).toBeUndefined();
  });

  it("reads ranges with limit, sort, keys only, count only and revision filters", async () => {
    const e = fresh();
    const revs: bigint[] = [];
    for (const k of ["a", "b", "c", "d"]) revs.push((await e.put(`r/${k}`, k.toUpperCase())).revision);
    await e.put("r/b", "B2");
    await e.put("s", "outside");

    expect((await e.getAll("r/")).map((kv) => kv.keyString)).toEqual(["r/a", "r/b", "r/c", "r/d"]);
    const limited = await e.range("r/", { prefix: true, limit: 2 });
    expect([limited.kvs.map((kv) => kv.keyString), limited.count, limited.more]).toEqual([["r/a", "r/b"], 4n, true]);
    const desc = await e.range("r/", { prefix: true, sort: { target: "modRevision", order: "descend" } });
    expect(desc.kvs.map((kv) => kv.keyString)).toEqual(["r/b", "r/d", "r/c", "r/a"]);
    const byValue = await e.range("r/", { prefix: true, sort: { target: "value", order: "ascend" } });
    expect(byValue.kvs.map((kv) => kv.string())).toEqual(["A", "B2", "C", "D"]);
    const keysOnly = await e.range("r/", { prefix: true, keysOnly: true });
    expect(keysOnly.kvs.map((kv) => kv.value.length)).toEqual([0, 0, 0, 0]);
    expect(await e.keys("r/")).toEqual(["r/a", "r/b", "r/c", "r/d"]);
    expect(await e.count("r/")).toBe(4n);
    expect(await e.count()).toBe(5n);
    const countOnly = await e.range("r/", { prefix: true, countOnly: true });
    expect([countOnly.kvs.length, countOnly.count]).toEqual([0, 4n]);
    expect((await e.range("r/b", { rangeEnd: "r/d" })).kvs.map((kv) => kv.keyString)).toEqual(["r/b", "r/c"]);
    expect((await e.range("r/c", { fromKey: true })).kvs.map((kv) => kv.keyString)).toEqual(["r/c", "r/d", "s"]);
    const old = await e.range("r/", { prefix: true, revision: revs[1] as bigint });
    expect(old.kvs.map((kv) => kv.keyString)).toEqual(["r/a", "r/b"]);
    const filtered = await e.range("r/", { prefix: true, minModRevision: revs[2] as bigint });
    expect(filtered.kvs.map((kv) => kv.keyString)).toEqual(["r/b", "r/c", "r/d"]);
    const serial = await e.range("r/", { prefix: true, serializable: true });
    expect(serial.count).toBe(4n);
  });

  it("deletes a key, a range and a prefix, with the previous values", async () => {
    const e = fresh();
    for (const k of ["x/1", "x/2", "x/3", "y"]) await e.put(k, k);
    const one = await e.delete("x/1", { prevKv: true });
    expect([one.deleted, one.prevKvs.map((kv) => [kv.keyString, kv.string()])]).toEqual([1n, [["x/1", "x/1"]]]);
    expect((await e.delete("nothing")).deleted).toBe(0n);
    const all = await e.deleteAll("x/", { prevKv: true });
    expect(all.prevKvs.map((kv) => kv.keyString)).toEqual(["x/2", "x/3"]);
    expect(await e.keys()).toEqual(["y"]);
  });

  it("runs transactions: every compare target, both branches, typed results, nested txns", async () => {
    const e = fresh();
    const put = await e.put("a", "1");
    await e.put("b", "x");
    const t = await e
      .txn()
      .if(
        compare.value("a", "==", "1"),
        compare.version("a", "==", 1),
        compare.createRevision("a", "==", put.revision),
        compare.modRevision("b", ">", put.revision),
        compare.lease("a", "==", 0n),
        compare.version("missing", "==", 0),
      )
      .do(op.put("c", "3", { prevKv: true }), op.get("a"), op.delete("b", { prevKv: true }))
      .else(op.get("b"))
      .commit();
    expect(t.succeeded).toBe(true);
    if (!t.succeeded) throw new Error("unreachable");
    const [p, g, d] = t.results;
    expect(p.prevKv).toBeUndefined();
    expect(g.kvs.map((kv) => kv.string())).toEqual(["1"]);
    expect([d.deleted, d.prevKvs[0]?.string()]).toEqual([1n, "x"]);
    expect(t.revision).toBe((await e.getKv("c"))?.modRevision);

    const f = await e.txn().if(compare.value("a", "!=", "1")).do(op.put("never", "1")).else(op.get("a"), op.putJSON("j", [1])).commit();
    expect(f.succeeded).toBe(false);
    if (f.succeeded) throw new Error("unreachable");
    expect(f.results[0].kvs[0]?.string()).toBe("1");
    expect(await e.getJSON("j")).toEqual([1]);
    expect(await e.get("never")).toBeUndefined();

    // A nested transaction and a compare over a prefix (every key must match).
    await e.put("p/1", "v");
    await e.put("p/2", "v");
    const nested = await e
      .txn()
      .if(compare.value("p/", "==", "v", { prefix: true }))
      .do(op.txn([compare.value("a", "==", "2")], [op.put("inner", "then")], [op.put("inner", "else")]))
      .commit();
    expect(nested.succeeded).toBe(true);
    expect(nested.results[0]).toMatchObject({ kind: "txn", succeeded: false });
    expect(await e.get("inner")).toBe("else");
    await e.put("p/2", "w");
    expect((await e.txn().if(compare.value("p/", "==", "v", { prefix: true })).commit()).succeeded).toBe(false);
  });

  it("compares a key's lease and attaches keys to leases", async () => {
    const e = fresh();
    const lease = await e.client.lease.grant(60);
    await e.put("l", "1", { lease: lease.ID });
    expect((await e.getKv("l"))?.lease).toBe(lease.ID);
    const t = await e.txn().if(compare.lease("l", "==", { id: lease.ID })).do(op.put("l", "2", { ignoreLease: true })).commit();
    expect(t.succeeded).toBe(true);
    expect((await e.getKv("l"))?.lease).toBe(lease.ID);
    await e.client.lease.revoke(lease.ID);
    expect(await e.get("l")).toBeUndefined();
  });

  it("keeps a namespace's keys under its prefix, in every call", async () => {
    const root = fresh();
    const app = root.namespace("app/");
    await root.put("app", "not in app/");
    await root.put("apq", "after app/");
    await app.put("a", "1");
    await app.put("b", "2", { prevKv: true });
    expect(await root.get("app/a")).toBe("1");
    expect((await app.getAll()).map((kv) => kv.keyString)).toEqual(["a", "b"]);
    // "from key" and the keyspace's end stop at the end of the namespace.
    expect(await app.keys()).toEqual(["a", "b"]);
    expect((await app.range("b", { fromKey: true })).kvs.map((kv) => kv.keyString)).toEqual(["b"]);
    expect(await app.count()).toBe(2n);
    const inner = app.namespace("x/");
    await inner.put("k", "v");
    expect(await root.get("app/x/k")).toBe("v");
    expect(await app.keys()).toEqual(["a", "b", "x/k"]);
    const t = await app.txn().if(compare.value("a", "==", "1")).do(op.get("x/", { prefix: true }), op.delete("b", { prevKv: true })).commit();
    if (!t.succeeded) throw new Error("compare failed");
    expect(t.results[0].kvs.map((kv) => kv.keyString)).toEqual(["x/k"]);
    expect(t.results[1].prevKvs.map((kv) => kv.keyString)).toEqual(["b"]);
    expect((await app.deleteAll()).deleted).toBe(2n);
    expect(await root.keys()).toEqual(["app", "apq"]);
    // The empty key would be the prefix itself, which no prefix read lists: refused, as in Go.
    await expect(app.put("", "x")).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message: "etcdserver: key is not provided" });
  });

  it("compacts, after which older revisions are refused with etcd's error", async () => {
    const e = fresh();
    const first = await e.put("c", "1");
    const second = await e.put("c", "2");
    await e.compact(second.revision, { physical: true });
    const err = await e.get("c", { revision: first.revision }).catch((x: unknown) => x);
    expect(err).toMatchObject({ code: grpc.status.OUT_OF_RANGE, message: "etcdserver: mvcc: required revision has been compacted" });
    expect(await e.get("c")).toBe("2");
  });

  it("passes deadlines and abort signals to the call", async () => {
    const e = fresh();
    const ac = new AbortController();
    ac.abort();
    await expect(e.put("k", "v", { signal: ac.signal })).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    expect(await e.get("k", { timeoutMs: 5000 })).toBeUndefined();
  });

  it("saves a snapshot to a file that the real etcdctl reads, and leaves no file when it cannot", async () => {
    const e = fresh();
    const put = await e.put("snap", "shot");
    const dir = mkdtempSync(join(tmpdir(), "client-snap-"));
    try {
      const path = join(dir, "backup.db");
      const size = await e.client.maintenance.saveSnapshot(fx.server.endpoint, path);
      expect(statSync(path).size).toBe(size);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const status = JSON.parse(execFileSync(REAL_ETCDCTL, ["snapshot", "status", path, "-w", "json"], { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8" })) as { revision: number };
      expect(BigInt(status.revision)).toBeGreaterThanOrEqual(put.revision);
      // Nothing listens on port 1: no file, no part file.
      await expect(e.client.maintenance.saveSnapshot("127.0.0.1:1", join(dir, "none.db"), { timeoutMs: 1000 })).rejects.toBeInstanceOf(EtcdError);
      expect(readdirSync(dir)).toEqual(["backup.db"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
