import { describe, expect, it } from "vitest";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { encodeWithEvents } from "./watch.js";

const kv = (key: string, rev: bigint): mvccpb.KeyValue => ({
  key: Buffer.from(key),
  createRevision: 2n,
  modRevision: rev,
  version: 3n,
  value: Buffer.from("v".repeat(300)),
  lease: 0x7fffffffffffffffn,
});

const response = (p: Partial<etcdserverpb.WatchResponse>): etcdserverpb.WatchResponse => ({
  header: { clusterId: 0xfedcba9876543210n, memberId: 0x1234n, revision: 99n, raftTerm: 7n },
  watchId: 0n,
  created: false,
  canceled: false,
  compactRevision: 0n,
  cancelReason: "",
  fragment: false,
  events: [],
  ...p,
});

describe("encodeWithEvents", () => {
  it("encodes exactly as the generated encoder, for every kind of response", () => {
    const put: mvccpb.Event = { type: mvccpb.Event_EventType.PUT, kv: kv("a", 99n), prevKv: kv("a", 98n) };
    const del: mvccpb.Event = { type: mvccpb.Event_EventType.DELETE, kv: { ...kv("b", 99n), value: Buffer.alloc(0) }, prevKv: undefined };
    const cases: etcdserverpb.WatchResponse[] = [
      response({ events: [put, del] }),
      response({ events: [put] }),
      response({ watchId: 4n, events: [] }),
      response({ watchId: 5n, events: [put] }),
      response({ watchId: 300n, events: [del] }),
      response({ watchId: 1n << 40n, events: [put, put] }),
      response({ watchId: -1n, events: [put] }),
      response({ watchId: 3n, fragment: true, events: [put] }),
      response({ watchId: 3n, canceled: true, compactRevision: 50n }),
      response({ watchId: 3n, created: true }),
      // The header of another revision (the cached one must not be reused).
      response({ header: { clusterId: 1n, memberId: 2n, revision: 100n, raftTerm: 7n }, watchId: 9n, events: [put] }),
      response({ header: { clusterId: 1n, memberId: 2n, revision: 100n, raftTerm: 8n }, watchId: 9n, events: [put] }),
      response({ header: undefined, watchId: 9n, events: [put] }),
    ];
    for (const r of cases) {
      expect(encodeWithEvents(r, r.events).toString("hex")).toBe(Buffer.from(etcdserverpb.WatchResponse.encode(r).finish()).toString("hex"));
    }
  });
});
