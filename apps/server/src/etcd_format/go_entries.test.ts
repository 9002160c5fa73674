import { etcdraftpb, etcdserverpb, raftpb, serverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { GoEntryConverter } from "./go_entries.js";

const fakeHash = async (pw: string): Promise<Buffer> => Buffer.from(`hash(${pw})`);

function goNormal(index: bigint, data: Uint8Array): etcdraftpb.Entry {
  return { Type: etcdraftpb.EntryType.EntryNormal, Term: 7n, Index: index, Data: Buffer.from(data) };
}

function internal(req: Partial<etcdserverpb.InternalRaftRequest>): Uint8Array {
  return etcdserverpb.InternalRaftRequest.encode(etcdserverpb.InternalRaftRequest.fromPartial(req)).finish();
}

function v2(req: etcdserverpb.Request): Uint8Array {
  return etcdserverpb.Request.encode(req).finish();
}

async function convertOne(e: etcdraftpb.Entry): Promise<{ entry: raftpb.Entry; conv: GoEntryConverter }> {
  const conv = new GoEntryConverter(fakeHash);
  return { entry: await conv.convert(e), conv };
}

function decoded(e: raftpb.Entry): serverpb.InternalRaftRequest {
  return serverpb.InternalRaftRequest.decode(e.data);
}

describe("GoEntryConverter", () => {
  it("keeps index, term and a v3 request with its header", async () => {
    const put = { key: Buffer.from("k"), value: Buffer.from("v"), lease: 5n, prevKv: true, ignoreValue: false, ignoreLease: false };
    const { entry } = await convertOne(goNormal(42n, internal({ header: { ID: 99n, username: "bob", authRevision: 3n }, put })));
    expect(entry.index).toBe(42n);
    expect(entry.term).toBe(7n);
    expect(entry.type).toBe(raftpb.EntryType.ENTRY_NORMAL);
    const r = decoded(entry);
    expect(r.header).toEqual({ id: 99n, username: "bob", authRevision: 3n });
    expect(r.put?.key.toString()).toBe("k");
    expect(r.put?.lease).toBe(5n);
    expect(r.put?.prevKv).toBe(true);
  });

  it("turns passwords into the hashes etcd-ts's log carries", async () => {
    const add = await convertOne(goNormal(1n, internal({ header: { ID: 1n, username: "", authRevision: 0n }, authUserAdd: { name: "u", password: "pw", options: undefined } })));
    expect(decoded(add.entry).authUserAdd).toEqual({ name: "u", hashedPassword: Buffer.from("hash(pw)"), noPassword: false });
    expect(add.conv.stats.passwordsHashed).toBe(1);
    const noPw = await convertOne(goNormal(2n, internal({ header: { ID: 2n, username: "", authRevision: 0n }, authUserAdd: { name: "u", password: "", options: { noPassword: true } } })));
    expect(decoded(noPw.entry).authUserAdd).toEqual({ name: "u", hashedPassword: Buffer.alloc(0), noPassword: true });
    const change = await convertOne(goNormal(3n, internal({ header: { ID: 3n, username: "", authRevision: 0n }, authUserChangePassword: { name: "u", password: "new" } })));
    expect(decoded(change.entry).authUserChangePassword).toEqual({ name: "u", hashedPassword: Buffer.from("hash(new)") });
    const auth = await convertOne(goNormal(4n, internal({ header: { ID: 4n, username: "", authRevision: 0n }, authenticate: { name: "u", password: "pw", simpleToken: "tok" } })));
    expect(decoded(auth.entry).authenticate).toEqual({ name: "u", simpleToken: "tok" });
  });

  it("maps etcd 3.4's v2 member attributes and cluster version, and drops other v2 requests", async () => {
    const attrs = await convertOne(
      goNormal(5n, v2({ ID: 1n, Method: "PUT", Path: "/0/members/fa5d8f5bd7ecf2d1/attributes", Val: '{"name":"m1","clientURLs":["http://127.0.0.1:2379"]}' })),
    );
    expect(decoded(attrs.entry).memberAttributes).toEqual({ memberId: 0xfa5d8f5bd7ecf2d1n, name: "m1", clientUrls: ["http://127.0.0.1:2379"] });
    const ver = await convertOne(goNormal(6n, v2({ ID: 2n, Method: "PUT", Path: "/0/version", Val: "3.4.0" })));
    expect(decoded(ver.entry).clusterVersionSet).toEqual({ ver: "3.4.0" });
    const keys = await convertOne(goNormal(7n, v2({ ID: 3n, Method: "PUT", Path: "/1/foo", Val: "bar", Dir: false })));
    expect(keys.entry.data.length).toBe(0);
    expect(keys.conv.stats.v2Dropped).toBe(1);
    const sync = await convertOne(goNormal(8n, v2({ ID: 4n, Method: "SYNC", Time: 5n })));
    expect(sync.entry.data.length).toBe(0);
  });

  it("keeps empty entries empty and refuses data Go etcd could not apply", async () => {
    expect((await convertOne(goNormal(9n, new Uint8Array()))).entry.data.length).toBe(0);
    await expect(new GoEntryConverter(fakeHash).convert(goNormal(10n, Buffer.from([0xff, 0xff, 0xff])))).rejects.toThrow(/entry 10/);
    await expect(new GoEntryConverter(fakeHash).convert({ Type: etcdraftpb.EntryType.EntryConfChangeV2, Term: 1n, Index: 11n, Data: Buffer.alloc(0) })).rejects.toThrow(
      /entry 11 has type 2/,
    );
  });

  it("converts conf changes with etcd's member JSON, the member ID exact above 2^53", async () => {
    const id = 0xfa5d8f5bd7ecf2d1n;
    const ctx = `{"id":${id},"peerURLs":["http://127.0.0.1:2380"],"name":"m1","isLearner":true}`;
    const cc = etcdraftpb.ConfChange.encode({ id: 77n, type: etcdraftpb.ConfChangeType.ConfChangeAddLearnerNode, nodeId: id, context: Buffer.from(ctx) }).finish();
    const { entry } = await convertOne({ Type: etcdraftpb.EntryType.EntryConfChange, Term: 2n, Index: 12n, Data: Buffer.from(cc) });
    expect(entry.type).toBe(raftpb.EntryType.ENTRY_CONF_CHANGE);
    const out = raftpb.ConfChange.decode(entry.data);
    expect(out.changes).toEqual([{ type: raftpb.ConfChangeType.CONF_CHANGE_ADD_LEARNER_NODE, nodeId: id }]);
    expect(serverpb.ConfChangeContext.decode(out.context)).toEqual({ requestId: 77n, memberId: id, peerUrls: ["http://127.0.0.1:2380"], isLearner: true, name: "m1" });

    const rm = etcdraftpb.ConfChange.encode({ id: 78n, type: etcdraftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: id }).finish();
    const removed = raftpb.ConfChange.decode((await convertOne({ Type: etcdraftpb.EntryType.EntryConfChange, Term: 2n, Index: 13n, Data: Buffer.from(rm) })).entry.data);
    expect(removed.changes).toEqual([{ type: raftpb.ConfChangeType.CONF_CHANGE_REMOVE_NODE, nodeId: id }]);
    expect(serverpb.ConfChangeContext.decode(removed.context).memberId).toBe(id);
  });
});
