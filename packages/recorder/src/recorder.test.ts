import { describe, expect, it } from "vitest";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { eventFrom, num, txnRequest, txnResult } from "./convert.js";
import { Rng } from "./random.js";
import { prefixEnd } from "./workload.js";

describe("recorder", () => {
  it("prefixEnd covers exactly the keys that start with the prefix", () => {
    expect(prefixEnd("/a/")).toBe("/a0");
    expect(prefixEnd("ab")).toBe("ac");
    const end = prefixEnd("/robustness/7/");
    for (const k of ["/robustness/7/", "/robustness/7/k9", "/robustness/7/\u007f"]) expect(k >= "/robustness/7/" && k < end).toBe(true);
    expect("/robustness/70" < end).toBe(false);
  });

  it("refuses an int64 a number cannot hold exactly", () => {
    expect(num(123n)).toBe(123);
    expect(() => num(2n ** 60n)).toThrow(/does not fit/);
  });

  it("maps a txn request and its answer, op results in branch order", () => {
    const op = {
      type: "txn" as const,
      compare: [{ key: "a", target: "mod" as const, result: ">" as const, value: 3 }],
      success: [{ type: "put" as const, key: "a", value: "1" }, { type: "delete" as const, key: "b", prevKv: true }],
      failure: [{ type: "range" as const, key: "a" }],
    };
    const req = txnRequest(op);
    expect(req.compare[0]?.target).toBe(etcdserverpb.Compare_CompareTarget.MOD);
    expect(req.compare[0]?.result).toBe(etcdserverpb.Compare_CompareResult.GREATER);
    expect(req.compare[0]?.modRevision).toBe(3n);
    expect(req.success.map((o) => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined))).toEqual([["requestPut"], ["requestDeleteRange"]]);
    const kv = mvccpb.KeyValue.fromPartial({ key: Buffer.from("b"), value: Buffer.from("x"), createRevision: 2n, modRevision: 4n, version: 2n });
    const res = txnResult(op, etcdserverpb.TxnResponse.fromPartial({
      header: { revision: 9n },
      succeeded: true,
      responses: [{ responsePut: {} }, { responseDeleteRange: { deleted: 1n, prevKvs: [kv] } }],
    }));
    expect(res).toEqual({
      type: "txn",
      revision: 9,
      succeeded: true,
      results: [
        { type: "put", revision: 0 },
        { type: "delete", revision: 0, deleted: 1, prevKvs: [{ key: "b", value: "x", createRevision: 2, modRevision: 4, version: 2, lease: 0 }] },
      ],
    });
  });

  it("maps watch events, delete and prev_kv included", () => {
    const e = eventFrom(mvccpb.Event.fromPartial({ type: mvccpb.Event_EventType.DELETE, kv: { key: Buffer.from("k"), modRevision: 7n }, prevKv: { key: Buffer.from("k"), value: Buffer.from("v"), modRevision: 5n, createRevision: 5n, version: 1n } }));
    expect(e.type).toBe("delete");
    expect(e.kv.modRevision).toBe(7);
    expect(e.prevKv?.value).toBe("v");
  });

  it("Rng: a seed gives the same sequence; forks are independent of later draws", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.int(0, 100));
    expect(Array.from({ length: 5 }, () => b.int(0, 100))).toEqual(xs);
    const f1 = new Rng(7).fork();
    const f2 = new Rng(7).fork();
    expect(f1.next()).toBe(f2.next());
    for (let i = 0; i < 1000; i++) {
      const v = a.int(3, 5);
      expect(v >= 3 && v <= 5).toBe(true);
    }
  });
});

describe("endpointTarget", () => {
  it("takes etcdctl's endpoint forms apart for grpc-js", async () => {
    const { endpointTarget } = await import("./workload.js");
    expect(endpointTarget("127.0.0.1:2379")).toBe("ipv4:127.0.0.1:2379");
    expect(endpointTarget("http://127.0.0.1:2379")).toBe("ipv4:127.0.0.1:2379");
    expect(endpointTarget("https://etcd-0.example:2379/")).toBe("dns:etcd-0.example:2379");
    expect(endpointTarget("localhost:2379")).toBe("dns:localhost:2379");
    expect(endpointTarget("[::1]:2379")).toBe("ipv6:[::1]:2379");
    expect(endpointTarget("unix://tmp/etcd.sock")).toBe("unix:tmp/etcd.sock");
  });
});
