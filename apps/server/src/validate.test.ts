import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { Errors } from "./errors.js";
import { checkPut, checkTxn, isTxnReadOnly } from "./validate.js";

const b = (s: string) => Buffer.from(s);
const put = (k: string) => etcdserverpb.RequestOp.fromPartial({ requestPut: { key: b(k), value: b("v") } });
const del = (k: string, end?: string) =>
  etcdserverpb.RequestOp.fromPartial({ requestDeleteRange: { key: b(k), rangeEnd: end === undefined ? Buffer.alloc(0) : b(end) } });
const get = (k: string) => etcdserverpb.RequestOp.fromPartial({ requestRange: { key: b(k) } });
const txn = (p: Partial<etcdserverpb.TxnRequest>) => etcdserverpb.TxnRequest.fromPartial(p);

describe("request checks", () => {
  it("checks put shape", () => {
    expect(() => checkPut(etcdserverpb.PutRequest.fromPartial({}))).toThrow(Errors.emptyKey);
    expect(() => checkPut(etcdserverpb.PutRequest.fromPartial({ key: b("k"), value: b("v"), ignoreValue: true }))).toThrow(
      Errors.valueProvided,
    );
    expect(() => checkPut(etcdserverpb.PutRequest.fromPartial({ key: b("k"), lease: 5n, ignoreLease: true }))).toThrow(
      Errors.leaseProvided,
    );
  });

  it("limits txn ops", () => {
    const ops = Array.from({ length: 129 }, (_, i) => put(`k${i}`));
    expect(() => checkTxn(txn({ success: ops }), 128)).toThrow(Errors.tooManyOps);
    expect(() => checkTxn(txn({ success: ops.slice(0, 128) }), 128)).not.toThrow();
  });

  it("refuses duplicate keys and puts inside deleted ranges", () => {
    expect(() => checkTxn(txn({ success: [put("a"), put("a")] }), 128)).toThrow(Errors.duplicateKey);
    expect(() => checkTxn(txn({ success: [del("a", "c"), put("b")] }), 128)).toThrow(Errors.duplicateKey);
    expect(() => checkTxn(txn({ success: [del("a"), put("b")] }), 128)).not.toThrow();
    expect(() => checkTxn(txn({ success: [put("a")], failure: [put("a")] }), 128)).not.toThrow();
    const nested = etcdserverpb.RequestOp.fromPartial({ requestTxn: txn({ success: [put("x")], failure: [put("x")] }) });
    expect(() => checkTxn(txn({ success: [nested] }), 128)).not.toThrow();
    expect(() => checkTxn(txn({ success: [nested, put("x")] }), 128)).toThrow(Errors.duplicateKey);
  });

  it("refuses empty keys and empty ops anywhere", () => {
    expect(() => checkTxn(txn({ compare: [etcdserverpb.Compare.fromPartial({})] }), 128)).toThrow(Errors.emptyKey);
    expect(() => checkTxn(txn({ success: [etcdserverpb.RequestOp.fromPartial({})] }), 128)).toThrow(Errors.keyNotFound);
  });

  it("detects read-only txns", () => {
    expect(isTxnReadOnly(txn({ success: [get("a")], failure: [get("b")] }))).toBe(true);
    expect(isTxnReadOnly(txn({ success: [get("a")], failure: [put("b")] }))).toBe(false);
  });
});
