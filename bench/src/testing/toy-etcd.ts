/**
 * toy-etcd.ts is a grpc-js server answering the few etcd calls the bench's lease-put and
 * watch workloads make (KV.Put, Watch.Watch, Lease.LeaseGrant, Lease.LeaseRevoke) with
 * etcd's messages and a single revision counter, so those workloads can be tested over
 * both transports without etcd. `fault` lets a test drop or duplicate an event on its
 * way to one watcher.
 *
 * It also plays etcd's auth for --auth (Auth.UserAdd, UserGrantRole, AuthEnable,
 * Authenticate, and KV.Range to probe a token): once enabled, every other call needs a
 * token it issued, in the metadata "token", refused with etcd's status and text otherwise.
 * `calls` logs every call's method name and the token it carried.
 *
 * For the snapshot workload it answers KV.Txn (counting the puts), Maintenance.Status
 * (dbSize: snapshotSize) and Maintenance.Snapshot: snapshotSize bytes in blobs of
 * snapshotChunk bytes, each with the bytes still to come, then a 32-byte SHA-256 blob, as
 * etcd does; `snapshotFault` makes it end the stream early (OK status) or fail it.
 *
 * For the range-all workload it answers a KV.Range with a range_end (a prefix range) with
 * `rangeAll.kvs` KeyValues of `rangeAll.valueSize`-byte values and a count of
 * `rangeAll.count` (default: the kvs), and logs every Range in `ranges`.
 */
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";

const id = (b: Buffer): Buffer => b;
const bytes = (m: Uint8Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength);

function method(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id };
}

/** ToyWatcher is one watcher: the stream it lives on and its range. */
interface ToyWatcher {
  /** seq numbers watchers in creation order over the whole server. */
  seq: number;
  watchId: bigint;
  key: Buffer;
  end: Buffer;
  call: grpc.ServerDuplexStream<Buffer, Buffer>;
}

/** ToyCall is one call the toy received: its method name and the token it carried. */
export interface ToyCall {
  method: string;
  token: string | undefined;
}

/** ToyUser is a user of the toy's auth store. */
interface ToyUser {
  password: string;
  roles: Set<string>;
}

type ToyError = { code: grpc.status; details: string };

/** Fault decides what happens to one event on its way to one watcher. */
export type Fault = (watcherSeq: number, revision: number) => "drop" | "dup" | undefined;

export class ToyEtcd {
  revision = 100;
  nextLease = 0x7000000000000001n;
  readonly leases = new Set<bigint>();
  readonly watchers: ToyWatcher[] = [];
  fault: Fault | undefined;
  /** refuseWatch makes every Watch call fail at once with UNIMPLEMENTED. */
  refuseWatch = false;
  port = 0;
  /** authEnabled is set by a successful AuthEnable. */
  authEnabled = false;
  readonly users = new Map<string, ToyUser>();
  /** tokens are the tokens Authenticate issued. */
  readonly tokens = new Set<string>();
  /** calls logs every call received, in order. */
  readonly calls: ToyCall[] = [];
  /** txnPuts counts the puts of every Txn received. */
  txnPuts = 0;
  /** snapshotSize and snapshotChunk shape the Snapshot stream (file bytes, blob size). */
  snapshotSize = 100_000;
  snapshotChunk = 32 * 1024;
  /** snapshotFault: "truncate" ends the stream OK after the first blob, "fail" fails it there. */
  snapshotFault: "truncate" | "fail" | undefined;
  /** rangeAll shapes the answer to a prefix Range; undefined answers it empty, as any other Range. */
  rangeAll: { kvs: number; valueSize: number; count?: number } | undefined;
  /** ranges logs every RangeRequest received. */
  readonly ranges: etcdserverpb.RangeRequest[] = [];
  private readonly server = new grpc.Server();
  private seq = 0;

  /**
   * admit logs a call and applies etcd's token check: with auth on, a call without a
   * token fails InvalidArgument "user name is empty", one with an unknown token
   * Unauthenticated "invalid auth token". Returns the error, or undefined to go on.
   */
  private admit(method: string, md: grpc.Metadata, needsToken = true): ToyError | undefined {
    const v = md.get("token")[0];
    const token = v === undefined ? undefined : String(v);
    this.calls.push({ method, token });
    if (!this.authEnabled || !needsToken) return undefined;
    if (token === undefined) return { code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: user name is empty" };
    if (!this.tokens.has(token)) return { code: grpc.status.UNAUTHENTICATED, details: "etcdserver: invalid auth token" };
    return undefined;
  }

  /** unary wraps a unary handler with admit(). */
  private unary(
    name: string,
    f: (req: Buffer) => Buffer | ToyError,
    needsToken = true,
  ): (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => void {
    return (call, cb) => {
      const refused = this.admit(name, call.metadata, needsToken);
      if (refused !== undefined) return cb(refused);
      const r = f(call.request);
      if (Buffer.isBuffer(r)) cb(null, r);
      else cb(r);
    };
  }

  private userAdd(request: Buffer): Buffer | ToyError {
    const req = etcdserverpb.AuthUserAddRequest.decode(request);
    if (req.name === "") return { code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: user name is empty" };
    if (this.users.has(req.name)) return { code: grpc.status.FAILED_PRECONDITION, details: "etcdserver: user name already exists" };
    this.users.set(req.name, { password: req.password, roles: new Set() });
    return bytes(etcdserverpb.AuthUserAddResponse.encode({ header: this.header() }).finish());
  }

  private grantRole(request: Buffer): Buffer | ToyError {
    const req = etcdserverpb.AuthUserGrantRoleRequest.decode(request);
    const u = this.users.get(req.user);
    if (u === undefined) return { code: grpc.status.FAILED_PRECONDITION, details: "etcdserver: user name not found" };
    if (req.role !== "root") return { code: grpc.status.FAILED_PRECONDITION, details: "etcdserver: role name not found" };
    u.roles.add(req.role);
    return bytes(etcdserverpb.AuthUserGrantRoleResponse.encode({ header: this.header() }).finish());
  }

  private authEnable(): Buffer | ToyError {
    const root = this.users.get("root");
    if (root === undefined) return { code: grpc.status.FAILED_PRECONDITION, details: "etcdserver: root user does not exist" };
    if (!root.roles.has("root")) return { code: grpc.status.FAILED_PRECONDITION, details: "etcdserver: root user does not have root role" };
    this.authEnabled = true;
    return bytes(etcdserverpb.AuthEnableResponse.encode({ header: this.header() }).finish());
  }

  private authenticate(request: Buffer): Buffer | ToyError {
    const req = etcdserverpb.AuthenticateRequest.decode(request);
    if (!this.authEnabled) return { code: grpc.status.FAILED_PRECONDITION, details: "etcdserver: authentication is not enabled" };
    const u = this.users.get(req.name);
    if (u === undefined || u.password !== req.password) {
      return { code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: authentication failed, invalid user ID or password" };
    }
    const token = `toyToken${this.tokens.size}.${this.revision}`;
    this.tokens.add(token);
    return bytes(etcdserverpb.AuthenticateResponse.encode({ header: this.header(), token }).finish());
  }

  private range(request: Buffer): Buffer {
    const req = etcdserverpb.RangeRequest.decode(request);
    this.ranges.push(req);
    const shape = this.rangeAll;
    if (shape === undefined || req.rangeEnd.length === 0) {
      return bytes(etcdserverpb.RangeResponse.encode({ header: this.header(), kvs: [], more: false, count: 0n }).finish());
    }
    const value = Buffer.alloc(shape.valueSize, 0x61);
    const kvs: mvccpb.KeyValue[] = [];
    for (let i = 0; i < shape.kvs; i++) {
      const key = Buffer.concat([req.key, Buffer.from(String(i).padStart(7, "0"))]);
      kvs.push({ key, createRevision: 2n, modRevision: 2n, version: 1n, value, lease: 0n });
    }
    const count = BigInt(shape.count ?? shape.kvs);
    return bytes(etcdserverpb.RangeResponse.encode({ header: this.header(), kvs, more: false, count }).finish());
  }

  private header(): etcdserverpb.ResponseHeader {
    return { clusterId: 1n, memberId: 2n, revision: BigInt(this.revision), raftTerm: 3n };
  }

  async start(): Promise<void> {
    this.server.addService(
      {
        Put: method("/etcdserverpb.KV/Put", false, false),
        Range: method("/etcdserverpb.KV/Range", false, false),
        LeaseGrant: method("/etcdserverpb.Lease/LeaseGrant", false, false),
        LeaseRevoke: method("/etcdserverpb.Lease/LeaseRevoke", false, false),
        Watch: method("/etcdserverpb.Watch/Watch", true, true),
        UserAdd: method("/etcdserverpb.Auth/UserAdd", false, false),
        UserGrantRole: method("/etcdserverpb.Auth/UserGrantRole", false, false),
        AuthEnable: method("/etcdserverpb.Auth/AuthEnable", false, false),
        Authenticate: method("/etcdserverpb.Auth/Authenticate", false, false),
        Txn: method("/etcdserverpb.KV/Txn", false, false),
        Status: method("/etcdserverpb.Maintenance/Status", false, false),
        Snapshot: method("/etcdserverpb.Maintenance/Snapshot", false, true),
      },
      {
        Put: this.unary("Put", (req) => this.put(req)),
        Range: this.unary("Range", (req) => this.range(req)),
        LeaseGrant: this.unary("LeaseGrant", (request) => {
          const req = etcdserverpb.LeaseGrantRequest.decode(request);
          const ID = this.nextLease++;
          this.leases.add(ID);
          return bytes(etcdserverpb.LeaseGrantResponse.encode({ header: this.header(), ID, TTL: req.TTL, error: "" }).finish());
        }),
        LeaseRevoke: this.unary("LeaseRevoke", (request) => {
          const req = etcdserverpb.LeaseRevokeRequest.decode(request);
          if (!this.leases.delete(req.ID)) return { code: grpc.status.NOT_FOUND, details: "etcdserver: requested lease not found" };
          return bytes(etcdserverpb.LeaseRevokeResponse.encode({ header: this.header() }).finish());
        }),
        Watch: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.watch(call),
        // etcd checks admin permission on these once auth is on; the bench calls them before.
        UserAdd: this.unary("UserAdd", (req) => this.userAdd(req)),
        UserGrantRole: this.unary("UserGrantRole", (req) => this.grantRole(req)),
        AuthEnable: this.unary("AuthEnable", () => this.authEnable()),
        Authenticate: this.unary("Authenticate", (req) => this.authenticate(req), false),
        Txn: this.unary("Txn", (req) => this.txn(req)),
        Status: this.unary("Status", () =>
          bytes(etcdserverpb.StatusResponse.encode(etcdserverpb.StatusResponse.fromPartial({ header: this.header(), dbSize: BigInt(this.snapshotSize) })).finish()),
        ),
        Snapshot: (call: grpc.ServerWritableStream<Buffer, Buffer>) => this.snapshot(call),
      },
    );
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  }

  stop(): void {
    this.server.forceShutdown();
  }

  private put(request: Buffer): Buffer {
    const req = etcdserverpb.PutRequest.decode(request);
    this.revision++;
    const kv: mvccpb.KeyValue = {
      key: req.key,
      createRevision: BigInt(this.revision),
      modRevision: BigInt(this.revision),
      version: 1n,
      value: req.value,
      lease: req.lease,
    };
    for (const w of this.watchers) {
      if (Buffer.compare(req.key, w.key) < 0 || Buffer.compare(req.key, w.end) >= 0) continue;
      const f = this.fault?.(w.seq, this.revision);
      if (f === "drop") continue;
      const msg = bytes(
        etcdserverpb.WatchResponse.encode({
          header: this.header(),
          watchId: w.watchId,
          created: false,
          canceled: false,
          compactRevision: 0n,
          cancelReason: "",
          fragment: false,
          events: [{ type: mvccpb.Event_EventType.PUT, kv, prevKv: undefined }],
        }).finish(),
      );
      w.call.write(msg);
      if (f === "dup") w.call.write(msg);
    }
    return bytes(etcdserverpb.PutResponse.encode({ header: this.header(), prevKv: undefined }).finish());
  }

  private txn(request: Buffer): Buffer {
    const req = etcdserverpb.TxnRequest.decode(request);
    this.revision++;
    this.txnPuts += req.success.filter((op) => op.requestPut !== undefined).length;
    return bytes(etcdserverpb.TxnResponse.encode(etcdserverpb.TxnResponse.fromPartial({ header: this.header(), succeeded: true })).finish());
  }

  private snapshot(call: grpc.ServerWritableStream<Buffer, Buffer>): void {
    const refused = this.admit("Snapshot", call.metadata);
    if (refused !== undefined) {
      call.emit("error", refused);
      return;
    }
    const msg = (remaining: number, blob: Buffer): Buffer =>
      bytes(etcdserverpb.SnapshotResponse.encode({ header: this.header(), remainingBytes: BigInt(remaining), blob }).finish());
    const h = createHash("sha256");
    let sent = 0;
    while (sent < this.snapshotSize) {
      const blob = Buffer.alloc(Math.min(this.snapshotChunk, this.snapshotSize - sent), sent & 0xff);
      sent += blob.length;
      h.update(blob);
      call.write(msg(this.snapshotSize - sent, blob));
      if (this.snapshotFault === "truncate") return void call.end();
      if (this.snapshotFault === "fail") {
        call.emit("error", { code: grpc.status.UNAVAILABLE, details: "etcdserver: toy snapshot failed" });
        return;
      }
    }
    call.write(msg(0, h.digest()));
    call.end();
  }

  private watch(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const refused = this.admit("Watch", call.metadata);
    if (refused !== undefined) {
      call.emit("error", refused);
      return;
    }
    if (this.refuseWatch) {
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "unknown service etcdserverpb.Watch" });
      return;
    }
    let next = 0n;
    call.on("data", (b: Buffer) => {
      const req = etcdserverpb.WatchRequest.decode(b);
      const c = req.createRequest;
      if (c === undefined) return;
      const w: ToyWatcher = { seq: this.seq++, watchId: next++, key: c.key, end: c.rangeEnd, call };
      this.watchers.push(w);
      call.write(
        bytes(
          etcdserverpb.WatchResponse.encode({
            header: this.header(),
            watchId: w.watchId,
            created: true,
            canceled: false,
            compactRevision: 0n,
            cancelReason: "",
            fragment: false,
            events: [],
          }).finish(),
        ),
      );
    });
    const drop = (): void => {
      for (let i = this.watchers.length - 1; i >= 0; i--) if (this.watchers[i]!.call === call) this.watchers.splice(i, 1);
    };
    call.on("cancelled", drop);
    call.on("error", drop);
    call.on("end", () => {
      drop();
      call.end();
    });
  }
}
