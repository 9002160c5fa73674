import { describe, expect, it } from "vitest";
import { fromEtcdMeta, fromEtcdRevisionKey, toEtcdMeta, toEtcdRevisionKey } from "./etcd_format.js";
import { finishedCompactKey, revisionKey, scheduledCompactKey } from "./revision.js";

describe("mvcc records in etcd's bbolt layout", () => {
  it("maps revision keys to etcd's 17 bytes (main, '_', sub) and back, tombstones included", () => {
    const k = revisionKey({ main: 0x0102030405060708n, sub: 3 });
    const e = toEtcdRevisionKey(k);
    expect(e.toString("hex")).toBe("0102030405060708" + "5f" + "0000000000000003");
    expect(fromEtcdRevisionKey(e).equals(k)).toBe(true);
    const t = revisionKey({ main: 9n, sub: 0 }, true);
    const et = toEtcdRevisionKey(t);
    expect(et.length).toBe(18);
    expect(et[17]).toBe(0x74);
    expect(fromEtcdRevisionKey(et).equals(t)).toBe(true);
  });

  it("keeps the order of revision keys", () => {
    const revs = [
      { main: 1n, sub: 0 },
      { main: 1n, sub: 1 },
      { main: 2n, sub: 0 },
      { main: 256n, sub: 0 },
      { main: 2n ** 40n, sub: 7 },
    ];
    const backend = revs.flatMap((r) => [revisionKey(r), revisionKey(r, true)]);
    const etcd = backend.map(toEtcdRevisionKey);
    for (let i = 1; i < etcd.length; i++) {
      expect(Buffer.compare(backend[i - 1] as Buffer, backend[i] as Buffer)).toBe(Buffer.compare(etcd[i - 1] as Buffer, etcd[i] as Buffer));
    }
  });

  it("refuses malformed keys both ways", () => {
    expect(() => toEtcdRevisionKey(Buffer.from("key/short"))).toThrow(/malformed revision key/);
    expect(() => toEtcdRevisionKey(Buffer.from("lease/0123456789abcdef"))).toThrow(/malformed revision key/);
    expect(() => fromEtcdRevisionKey(Buffer.alloc(17))).toThrow(/malformed etcd revision key/); // no '_'
    expect(() => fromEtcdRevisionKey(Buffer.alloc(16, 0x5f))).toThrow(/malformed etcd revision key/);
  });

  it("maps the compaction marks to etcd's names and 17-byte revisions", () => {
    const v = Buffer.alloc(8);
    v.writeBigUInt64BE(42n);
    const s = toEtcdMeta(scheduledCompactKey, v);
    expect(s?.key.toString()).toBe("scheduledCompactRev");
    expect(s?.value.toString("hex")).toBe("000000000000002a5f0000000000000000");
    expect(toEtcdMeta(finishedCompactKey, v)?.key.toString()).toBe("finishedCompactRev");
    const back = fromEtcdMeta(Buffer.from("finishedCompactRev"), s?.value as Buffer);
    expect(back?.key.equals(finishedCompactKey)).toBe(true);
    expect(back?.value.equals(v)).toBe(true);
    expect(toEtcdMeta(Buffer.from("meta/consistent_index"), v)).toBeUndefined();
    expect(fromEtcdMeta(Buffer.from("consistent_index"), v)).toBeUndefined();
    expect(() => fromEtcdMeta(Buffer.from("scheduledCompactRev"), v)).toThrow(/malformed/);
  });
});
