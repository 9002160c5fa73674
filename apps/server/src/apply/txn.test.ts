import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { b, KvHarness, meta, rangeReq, show } from "./testing/kv_harness.js";

const R = etcdserverpb.Compare_CompareResult;
const T = etcdserverpb.Compare_CompareTarget;

let h: KvHarness;

beforeEach(async () => {
  h = await KvHarness.create();
});

afterEach(async () => {
  await h.destroy();
});

type Operand = { version?: bigint; createRevision?: bigint; modRevision?: bigint; value?: string; lease?: bigint };

function cmp(key: string, target: etcdserverpb.Compare_CompareTarget, result: etcdserverpb.Compare_CompareResult, operand: Operand, rangeEnd = ""): etcdserverpb.Compare {
  const { value, ...rest } = operand;
  return etcdserverpb.Compare.fromPartial({
    key: b(key),
    rangeEnd: b(rangeEnd),
    target,
    result,
    ...rest,
    ...(value !== undefined ? { value: b(value) } : {}),
  });
}

const putOp = (key: string, value: string, opts: Partial<etcdserverpb.PutRequest> = {}): etcdserverpb.RequestOp => ({
  requestPut: etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value), ...opts }),
});
const getOp = (key: string, end = "", opts: Partial<etcdserverpb.RangeRequest> = {}): etcdserverpb.RequestOp => ({
  requestRange: rangeReq(key, end, opts),
});
const delOp = (key: string, end = "", opts: Partial<etcdserverpb.DeleteRangeRequest> = {}): etcdserverpb.RequestOp => ({
  requestDeleteRange: etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(key), rangeEnd: b(end), ...opts }),
});
const txnOp = (req: etcdserverpb.TxnRequest): etcdserverpb.RequestOp => ({ requestTxn: req });

function txnReq(compare: etcdserverpb.Compare[], success: etcdserverpb.RequestOp[], failure: etcdserverpb.RequestOp[] = []): etcdserverpb.TxnRequest {
  return { compare, success, failure };
}

function succeeds(...compare: etcdserverpb.Compare[]): boolean {
  return h.txn(txnReq(compare, [])).response.succeeded;
}

describe("KVStore txn compares", () => {
  // Key "a": created at 2, modified at 3, version 2, value "m", lease 5.
  beforeEach(() => {
    h.grantLease(5n);
    h.put("a", "x");
    h.put("a", "m", { lease: 5n });
  });

  const cases: Array<[string, etcdserverpb.Compare_CompareTarget, Operand, Operand, Operand]> = [
    // target, operand equal, operand below the key's, operand above the key's
    ["version", T.VERSION, { version: 2n }, { version: 1n }, { version: 3n }],
    ["create", T.CREATE, { createRevision: 2n }, { createRevision: 1n }, { createRevision: 3n }],
    ["mod", T.MOD, { modRevision: 3n }, { modRevision: 2n }, { modRevision: 4n }],
    ["value", T.VALUE, { value: "m" }, { value: "a" }, { value: "z" }],
    ["lease", T.LEASE, { lease: 5n }, { lease: 4n }, { lease: 6n }],
  ];
  for (const [name, target, equal, below, above] of cases) {
    it(`compares ${name} with every result`, () => {
      expect(succeeds(cmp("a", target, R.EQUAL, equal))).toBe(true);
      expect(succeeds(cmp("a", target, R.EQUAL, below))).toBe(false);
      expect(succeeds(cmp("a", target, R.NOT_EQUAL, equal))).toBe(false);
      expect(succeeds(cmp("a", target, R.NOT_EQUAL, above))).toBe(true);
      expect(succeeds(cmp("a", target, R.GREATER, below))).toBe(true);
      expect(succeeds(cmp("a", target, R.GREATER, equal))).toBe(false);
      expect(succeeds(cmp("a", target, R.LESS, above))).toBe(true);
      expect(succeeds(cmp("a", target, R.LESS, equal))).toBe(false);
    });
  }

  it("compares a missing key as version / create / mod / lease 0 and fails every value compare", () => {
    expect(succeeds(cmp("nope", T.VERSION, R.EQUAL, { version: 0n }))).toBe(true);
    expect(succeeds(cmp("nope", T.CREATE, R.EQUAL, { createRevision: 0n }))).toBe(true);
    expect(succeeds(cmp("nope", T.MOD, R.LESS, { modRevision: 1n }))).toBe(true);
    expect(succeeds(cmp("nope", T.LEASE, R.EQUAL, { lease: 0n }))).toBe(true);
    expect(succeeds(cmp("nope", T.VERSION, R.GREATER, { version: 0n }))).toBe(false);
    expect(succeeds(cmp("nope", T.VALUE, R.EQUAL, { value: "" }))).toBe(false);
    expect(succeeds(cmp("nope", T.VALUE, R.NOT_EQUAL, { value: "x" }))).toBe(false);
  });

  it("treats an unset operand as 0 / empty", () => {
    h.put("e", "");
    expect(succeeds(cmp("a", T.MOD, R.GREATER, {}))).toBe(true);
    expect(succeeds(cmp("e", T.VALUE, R.EQUAL, {}))).toBe(true);
    expect(succeeds(cmp("a", T.VERSION, R.EQUAL, { value: "ignored" }))).toBe(false);
  });

  it("requires every key of a range compare to match; an empty range compares as missing", () => {
    h.put("b", "m");
    h.put("c", "n");
    expect(succeeds(cmp("a", T.VALUE, R.EQUAL, { value: "m" }, "c"))).toBe(true);
    expect(succeeds(cmp("a", T.VALUE, R.EQUAL, { value: "m" }, "\0"))).toBe(false);
    expect(succeeds(cmp("a", T.CREATE, R.GREATER, { createRevision: 0n }, "\0"))).toBe(true);
    expect(succeeds(cmp("x", T.VERSION, R.EQUAL, { version: 0n }, "z"))).toBe(true);
    expect(succeeds(cmp("x", T.VALUE, R.EQUAL, { value: "" }, "z"))).toBe(false);
  });

  it("needs all compares to hold", () => {
    expect(succeeds(cmp("a", T.VERSION, R.EQUAL, { version: 2n }), cmp("a", T.VALUE, R.EQUAL, { value: "m" }))).toBe(true);
    expect(succeeds(cmp("a", T.VERSION, R.EQUAL, { version: 2n }), cmp("a", T.VALUE, R.EQUAL, { value: "n" }))).toBe(false);
  });
});

describe("KVStore txn execution", () => {
  it("runs the success or failure branch and reports succeeded", async () => {
    h.put("a", "1");
    const ok = h.txn(txnReq([cmp("a", T.VALUE, R.EQUAL, { value: "1" })], [putOp("b", "yes")], [putOp("b", "no")]));
    expect(ok.response.succeeded).toBe(true);
    const bad = h.txn(txnReq([cmp("a", T.VALUE, R.EQUAL, { value: "2" })], [putOp("c", "yes")], [putOp("c", "no")]));
    expect(bad.response.succeeded).toBe(false);
    expect(await h.kv("a", "\0")).toEqual(["a=1", "b=yes", "c=no"]);
  });

  it("gives all changes one revision with increasing sub revisions, and reads see earlier writes", () => {
    h.put("x", "0");
    const events: bigint[] = [];
    h.listen((evs, rev) => events.push(rev, BigInt(evs.length)));
    const w = h.txn(
      txnReq([], [getOp("a"), putOp("a", "1"), getOp("a"), putOp("b", "2", { prevKv: true }), delOp("x", "", { prevKv: true }), delOp("zz"), getOp("a", "c")]),
    );
    expect(w.revision).toBe(3n);
    expect(h.store.currentRevision).toBe(3n);
    const rs = w.response.responses;
    expect(rs[0]!.responseRange).toEqual({ header: hdr(2n), kvs: [], more: false, count: 0n });
    expect(rs[1]!.responsePut).toEqual({ header: hdr(3n), prevKv: undefined });
    expect(rs[2]!.responseRange!.kvs.map(meta)).toEqual(["a=1 c3 m3 v1 l0"]);
    expect(rs[2]!.responseRange!.header).toEqual(hdr(3n));
    expect(rs[3]!.responsePut!.prevKv).toBeUndefined();
    expect(rs[4]!.responseDeleteRange).toEqual({ header: hdr(3n), deleted: 1n, prevKvs: [expect.objectContaining({ value: b("0") })] });
    expect(rs[5]!.responseDeleteRange).toEqual({ header: hdr(3n), deleted: 0n, prevKvs: [] });
    expect(rs[6]!.responseRange!.kvs.map(show)).toEqual(["a=1", "b=2"]);
    expect(w.response.header).toBeUndefined();
    expect(w.events.map((e) => `${e.type}:${e.kv!.key.toString()}@${e.kv!.modRevision}`)).toEqual(["0:a@3", "0:b@3", "1:x@3"]);
    expect(events).toEqual([3n, 3n]);
    expect(w.done).toBeUndefined();
  });

  it("stores sub revisions so that history reads each change of a txn", async () => {
    h.txn(txnReq([], [putOp("a", "1"), putOp("b", "2"), putOp("c", "3")]));
    await h.commit();
    await h.reopen();
    expect(await h.kv("a", "\0", { revision: 2n })).toEqual(["a=1", "b=2", "c=3"]);
  });

  it("keeps the revision for a txn that only reads or deletes nothing", () => {
    h.put("a", "1");
    const ro = h.txn(txnReq([], [getOp("a")], [getOp("b")]));
    expect(ro.revision).toBe(2n);
    expect(ro.events).toEqual([]);
    expect(ro.response.responses[0]!.responseRange!.kvs.map(show)).toEqual(["a=1"]);
    const noop = h.txn(txnReq([], [delOp("zz")]));
    expect(noop.revision).toBe(2n);
    expect(noop.response.responses[0]!.responseDeleteRange).toEqual({ header: hdr(2n), deleted: 0n, prevKvs: [] });
    const empty = h.txn(txnReq([cmp("a", T.VERSION, R.EQUAL, { version: 9n })], [putOp("a", "2")], []));
    expect([empty.revision, empty.response.succeeded, empty.response.responses]).toEqual([2n, false, []]);
    expect(h.store.currentRevision).toBe(2n);
  });

  it("evaluates nested txn compares against the state before the txn", async () => {
    h.put("a", "1");
    const inner = txnReq([cmp("a", T.VALUE, R.EQUAL, { value: "1" })], [putOp("c", "inner-ok")], [putOp("c", "inner-fail")]);
    const other = txnReq([cmp("b", T.VERSION, R.EQUAL, { version: 0n })], [putOp("d", "b-missing")], [putOp("d", "b-present")]);
    const w = h.txn(txnReq([], [putOp("a", "2"), putOp("b", "x"), txnOp(inner), txnOp(other)]));
    expect(w.revision).toBe(3n);
    const [, , r1, r2] = w.response.responses;
    expect(r1!.responseTxn!.succeeded).toBe(true);
    expect(r1!.responseTxn!.header).toEqual(hdr(0n));
    expect(r1!.responseTxn!.responses[0]!.responsePut!.header).toEqual(hdr(3n));
    expect(r2!.responseTxn!.succeeded).toBe(true);
    expect(await h.kv("a", "\0")).toEqual(["a=2", "b=x", "c=inner-ok", "d=b-missing"]);
    const c = await h.range("c");
    expect(c.kvs[0]!.modRevision).toBe(3n);
  });

  it("walks nested txns in failure branches and deeper levels", async () => {
    h.put("flag", "on");
    const deep = txnReq([cmp("flag", T.VALUE, R.EQUAL, { value: "off" })], [putOp("z", "deep-ok")], [putOp("z", "deep-fail")]);
    const mid = txnReq([cmp("flag", T.VALUE, R.EQUAL, { value: "on" })], [txnOp(deep), putOp("y", "mid-ok")], [putOp("y", "mid-fail")]);
    const w = h.txn(txnReq([cmp("flag", T.VALUE, R.EQUAL, { value: "nope" })], [putOp("x", "top-ok")], [putOp("x", "top-fail"), txnOp(mid)]));
    expect(w.response.succeeded).toBe(false);
    expect(await h.kv("x", "\0")).toEqual(["x=top-fail", "y=mid-ok", "z=deep-fail"]);
    expect(w.events).toHaveLength(3);
  });

  it("checks ignore_value on the executed path before changing anything", () => {
    h.put("a", "1");
    expect(() => h.txn(txnReq([], [putOp("b", "x"), putOp("c", "", { ignoreValue: true })]))).toThrow("etcdserver: key not found");
    expect(() => h.txn(txnReq([], [txnOp(txnReq([], [putOp("c", "", { ignoreLease: true })]))]))).toThrow(
      "etcdserver: key not found",
    );
    expect(h.store.currentRevision).toBe(2n);
    const w = h.txn(txnReq([], [putOp("a", "", { ignoreValue: true })], [putOp("zz", "", { ignoreValue: true })]));
    expect(w.revision).toBe(3n);
  });

  it("checks a put's lease on the executed path only, before changing anything", () => {
    h.put("a", "1");
    const lost = txnReq([cmp("a", T.VALUE, R.EQUAL, { value: "1" })], [putOp("b", "x"), putOp("c", "y", { lease: 9n })], [getOp("a")]);
    expect(() => h.txn(lost)).toThrow("etcdserver: requested lease not found");
    expect(h.store.currentRevision).toBe(2n);
    // The same put on the branch not taken is not checked, as in etcd.
    const untaken = txnReq([cmp("a", T.VALUE, R.EQUAL, { value: "other" })], [putOp("c", "y", { lease: 9n })], [putOp("b", "x")]);
    expect(h.txn(untaken).revision).toBe(3n);
    h.grantLease(9n);
    expect(h.txn(lost).response.succeeded).toBe(true);
  });

  it("checks range revisions on the executed path against the state before the txn", async () => {
    h.put("a", "1");
    h.put("a", "2");
    await h.commit();
    expect(() => h.txn(txnReq([], [putOp("b", "1"), getOp("a", "", { revision: 4n })]))).toThrow(
      "mvcc: required revision is a future revision",
    );
    h.store.compact(3n);
    expect(() => h.txn(txnReq([], [getOp("a", "", { revision: 2n })]))).toThrow(
      "mvcc: required revision has been compacted",
    );
    const w = h.txn(txnReq([], [getOp("a", "", { revision: 3n })], [getOp("a", "", { revision: 2n })]));
    expect(w.response.responses[0]!.responseRange!.kvs.map(show)).toEqual(["a=2"]);
  });

  it("completes past-revision ranges inside a txn through done", async () => {
    h.put("a", "1");
    h.put("a", "2");
    await h.commit();
    const w = h.txn(txnReq([], [putOp("a", "3"), getOp("a", "", { revision: 2n }), getOp("a", "", { revision: 3n })]));
    expect(w.done).toBeInstanceOf(Promise);
    await w.done;
    expect(w.response.responses[1]!.responseRange!.kvs.map(show)).toEqual(["a=1"]);
    expect(w.response.responses[1]!.responseRange!.header).toEqual(hdr(4n));
    expect(w.response.responses[2]!.responseRange!.kvs.map(show)).toEqual(["a=2"]);
    expect(w.response.responses[2]!.responseRange!.count).toBe(1n);
  });

  it("answers an empty request op with an empty response op", () => {
    const w = h.txn(txnReq([], [{}]));
    expect(w.response.responses).toEqual([{}]);
  });
});

function hdr(revision: bigint): etcdserverpb.ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0n };
}
