import { etcdraftpb, etcdserverpb, raftpb, serverpb } from "@etcd-ts/proto";
import { decodeGoNormalEntryData } from "@etcd-ts/wal";

/**
 * Go etcd 3.4's raft log entries as etcd-ts entries, for starting etcd-ts on a Go etcd data
 * directory (go_data_dir.ts). Every entry keeps its index, term and type, so the members of a
 * converted cluster keep logs that match one another; only the data changes format:
 *
 * - a normal entry's etcdserverpb.InternalRaftRequest becomes etcd-ts's
 *   serverpb.InternalRaftRequest: the v3 requests are the same messages; passwords in
 *   AuthUserAdd and AuthUserChangePassword become bcrypt hashes (etcd 3.4 hashes at apply,
 *   etcd-ts's log carries the hash); Authenticate keeps its name and simple token;
 * - a bare v2 Request (or the v2 field of an InternalRaftRequest) that publishes a member's
 *   attributes (PUT /0/members/<id>/attributes) or the cluster version (PUT /0/version)
 *   becomes MemberAttributes or ClusterVersionSet; any other v2 request (v2 keys API writes,
 *   SYNC) applies nothing in etcd-ts, which keeps no v2 store, and becomes an empty entry;
 * - a conf change's raftpb.ConfChange (member JSON as context) becomes etcd-ts's
 *   single-change ConfChange with a ConfChangeContext.
 */

/** GoEntryStats counts what convertGoEntries met, for the conversion's log line. */
export interface GoEntryStats {
  normal: number;
  confChanges: number;
  /** v2Dropped are v2 requests that etcd-ts has no store for (applied as empty entries). */
  v2Dropped: number;
  /** passwordsHashed are AuthUserAdd/ChangePassword requests whose password was hashed. */
  passwordsHashed: number;
}

/** GoEntryConverter converts entries; hash turns a password into the bcrypt hash etcd-ts's log carries. */
export class GoEntryConverter {
  readonly stats: GoEntryStats = { normal: 0, confChanges: 0, v2Dropped: 0, passwordsHashed: 0 };

  constructor(private readonly hash: (password: string) => Promise<Buffer>) {}

  /** convert maps one Go entry; it throws on data Go etcd itself could not apply. */
  async convert(e: etcdraftpb.Entry): Promise<raftpb.Entry> {
    const index = e.Index ?? 0n;
    const term = e.Term ?? 0n;
    const data = e.Data ?? Buffer.alloc(0);
    switch (e.Type ?? etcdraftpb.EntryType.EntryNormal) {
      case etcdraftpb.EntryType.EntryNormal:
        this.stats.normal++;
        return { index, term, type: raftpb.EntryType.ENTRY_NORMAL, data: await this.normalData(index, data) };
      case etcdraftpb.EntryType.EntryConfChange:
        this.stats.confChanges++;
        return { index, term, type: raftpb.EntryType.ENTRY_CONF_CHANGE, data: confChangeData(index, data) };
      default:
        throw new Error(`go etcd data: entry ${index} has type ${e.Type}, which etcd 3.4 never writes`);
    }
  }

  private async normalData(index: bigint, data: Buffer): Promise<Buffer> {
    let decoded;
    try {
      decoded = decodeGoNormalEntryData(data);
    } catch (err) {
      throw new Error(`go etcd data: entry ${index} holds neither an InternalRaftRequest nor a v2 Request: ${(err as Error).message}`);
    }
    if (decoded.kind === "empty") return Buffer.alloc(0);
    if (decoded.kind === "v2") return this.v2Data(index, decoded.request);
    const req = decoded.request;
    if (req.v2 !== undefined) return this.v2Data(index, req.v2);
    const out = await this.internal(req);
    if (out === undefined) throw new Error(`go etcd data: entry ${index} holds an InternalRaftRequest with no request etcd-ts knows`);
    return Buffer.from(serverpb.InternalRaftRequest.encode(serverpb.InternalRaftRequest.fromPartial(out)).finish());
  }

  private async internal(r: etcdserverpb.InternalRaftRequest): Promise<Partial<serverpb.InternalRaftRequest> | undefined> {
    const header: serverpb.RequestHeader = {
      id: r.header?.ID ?? r.ID,
      username: r.header?.username ?? "",
      authRevision: r.header?.authRevision ?? 0n,
    };
    const out: Partial<serverpb.InternalRaftRequest> = { header };
    if (r.range !== undefined) out.range = r.range;
    else if (r.put !== undefined) out.put = r.put;
    else if (r.deleteRange !== undefined) out.deleteRange = r.deleteRange;
    else if (r.txn !== undefined) out.txn = r.txn;
    else if (r.compaction !== undefined) out.compaction = r.compaction;
    else if (r.leaseGrant !== undefined) out.leaseGrant = r.leaseGrant;
    else if (r.leaseRevoke !== undefined) out.leaseRevoke = r.leaseRevoke;
    else if (r.alarm !== undefined) out.alarm = r.alarm;
    else if (r.leaseCheckpoint !== undefined) out.leaseCheckpoint = r.leaseCheckpoint;
    else if (r.authEnable !== undefined) out.authEnable = r.authEnable;
    else if (r.authDisable !== undefined) out.authDisable = r.authDisable;
    else if (r.authenticate !== undefined) out.authenticate = { name: r.authenticate.name, simpleToken: r.authenticate.simpleToken };
    else if (r.authUserAdd !== undefined) {
      const noPassword = r.authUserAdd.options?.noPassword === true;
      this.stats.passwordsHashed += noPassword ? 0 : 1;
      out.authUserAdd = {
        name: r.authUserAdd.name,
        hashedPassword: noPassword ? Buffer.alloc(0) : await this.hash(r.authUserAdd.password),
        noPassword,
      };
    } else if (r.authUserChangePassword !== undefined) {
      this.stats.passwordsHashed++;
      out.authUserChangePassword = { name: r.authUserChangePassword.name, hashedPassword: await this.hash(r.authUserChangePassword.password) };
    } else if (r.authUserDelete !== undefined) out.authUserDelete = r.authUserDelete;
    else if (r.authUserGet !== undefined) out.authUserGet = r.authUserGet;
    else if (r.authUserGrantRole !== undefined) out.authUserGrantRole = r.authUserGrantRole;
    else if (r.authUserRevokeRole !== undefined) out.authUserRevokeRole = r.authUserRevokeRole;
    else if (r.authUserList !== undefined) out.authUserList = r.authUserList;
    else if (r.authRoleList !== undefined) out.authRoleList = r.authRoleList;
    else if (r.authRoleAdd !== undefined) out.authRoleAdd = r.authRoleAdd;
    else if (r.authRoleDelete !== undefined) out.authRoleDelete = r.authRoleDelete;
    else if (r.authRoleGet !== undefined) out.authRoleGet = r.authRoleGet;
    else if (r.authRoleGrantPermission !== undefined) out.authRoleGrantPermission = r.authRoleGrantPermission;
    else if (r.authRoleRevokePermission !== undefined) out.authRoleRevokePermission = r.authRoleRevokePermission;
    else return undefined;
    return out;
  }

  private v2Data(index: bigint, r: etcdserverpb.Request): Buffer {
    const path = r.Path ?? "";
    if (r.Method === "PUT" && path === CLUSTER_VERSION_PATH) {
      return Buffer.from(serverpb.InternalRaftRequest.encode(serverpb.InternalRaftRequest.fromPartial({ clusterVersionSet: { ver: r.Val ?? "" } })).finish());
    }
    const attrs = MEMBER_ATTRIBUTES_PATH.exec(path);
    if (r.Method === "PUT" && attrs !== null) {
      const memberId = BigInt(`0x${attrs[1]}`);
      let doc: unknown;
      try {
        doc = JSON.parse(r.Val ?? "");
      } catch (err) {
        throw new Error(`go etcd data: entry ${index} publishes bad member attributes: ${(err as Error).message}`);
      }
      const o = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
      const name = typeof o["name"] === "string" ? o["name"] : "";
      const urls = Array.isArray(o["clientURLs"]) ? o["clientURLs"].filter((u): u is string => typeof u === "string") : [];
      return Buffer.from(serverpb.InternalRaftRequest.encode(serverpb.InternalRaftRequest.fromPartial({ memberAttributes: { memberId, name, clientUrls: urls } })).finish());
    }
    this.stats.v2Dropped++;
    return Buffer.alloc(0);
  }
}

/** CLUSTER_VERSION_PATH is where etcd 3.4 keeps the cluster version in its v2 store. */
const CLUSTER_VERSION_PATH = "/0/version";
/** MEMBER_ATTRIBUTES_PATH matches a member's attributes in etcd 3.4's v2 store (ID in hex). */
const MEMBER_ATTRIBUTES_PATH = /^\/0\/members\/([0-9a-f]{1,16})\/attributes$/;

const CONF_CHANGE_TYPES: ReadonlyMap<etcdraftpb.ConfChangeType, raftpb.ConfChangeType> = new Map([
  [etcdraftpb.ConfChangeType.ConfChangeAddNode, raftpb.ConfChangeType.CONF_CHANGE_ADD_NODE],
  [etcdraftpb.ConfChangeType.ConfChangeRemoveNode, raftpb.ConfChangeType.CONF_CHANGE_REMOVE_NODE],
  [etcdraftpb.ConfChangeType.ConfChangeUpdateNode, raftpb.ConfChangeType.CONF_CHANGE_UPDATE_NODE],
  [etcdraftpb.ConfChangeType.ConfChangeAddLearnerNode, raftpb.ConfChangeType.CONF_CHANGE_ADD_LEARNER_NODE],
]);

/**
 * confChangeData converts a Go ConfChange. Its context is etcd's member JSON for adds and
 * updates ({"id":..,"peerURLs":[..],"name":..,"isLearner":..}), empty for a removal; the member
 * ID is taken from NodeID (exact), not from the JSON number.
 */
function confChangeData(index: bigint, data: Buffer): Buffer {
  let cc: etcdraftpb.ConfChange;
  try {
    cc = etcdraftpb.ConfChange.decode(data);
  } catch (err) {
    throw new Error(`go etcd data: conf change entry ${index} does not decode: ${(err as Error).message}`);
  }
  const type = CONF_CHANGE_TYPES.get(cc.type ?? etcdraftpb.ConfChangeType.ConfChangeAddNode);
  if (type === undefined) throw new Error(`go etcd data: conf change entry ${index} has unknown type ${cc.type}`);
  const nodeId = cc.nodeId ?? 0n;
  const ctx: serverpb.ConfChangeContext = { requestId: cc.id ?? 0n, memberId: nodeId, peerUrls: [], isLearner: false, name: "" };
  const text = (cc.context ?? Buffer.alloc(0)).toString("utf8");
  if (text !== "") {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new Error(`go etcd data: conf change entry ${index} has a bad member context: ${(err as Error).message}`);
    }
    const o = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
    if (Array.isArray(o["peerURLs"])) ctx.peerUrls = o["peerURLs"].filter((u): u is string => typeof u === "string");
    if (typeof o["name"] === "string") ctx.name = o["name"];
    ctx.isLearner = o["isLearner"] === true;
  }
  const out: raftpb.ConfChange = {
    transition: raftpb.ConfChangeTransition.CONF_CHANGE_TRANSITION_AUTO,
    changes: [{ type, nodeId }],
    context: Buffer.from(serverpb.ConfChangeContext.encode(ctx).finish()),
  };
  return Buffer.from(raftpb.ConfChange.encode(out).finish());
}
