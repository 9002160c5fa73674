/**
 * toy-etcd.ts is a grpc-js server answering the few etcd calls the bench's lease-put and
 * watch workloads make (KV.Put, Watch.Watch, Lease.LeaseGrant, Lease.LeaseRevoke) with
 * etcd's messages and a single revision counter, so those workloads can be tested over
 * both transports without etcd. `fault` lets a test drop or duplicate an event on its
 * way to one watcher.
 */
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
  private readonly server = new grpc.Server();
  private seq = 0;

  private header(): etcdserverpb.ResponseHeader {
    return { clusterId: 1n, memberId: 2n, revision: BigInt(this.revision), raftTerm: 3n };
  }

  async start(): Promise<void> {
    this.server.addService(
      {
        Put: method("/etcdserverpb.KV/Put", false, false),
        LeaseGrant: method("/etcdserverpb.Lease/LeaseGrant", false, false),
        LeaseRevoke: method("/etcdserverpb.Lease/LeaseRevoke", false, false),
        Watch: method("/etcdserverpb.Watch/Watch", true, true),
      },
      {
        Put: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, this.put(call.request)),
        LeaseGrant: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          const req = etcdserverpb.LeaseGrantRequest.decode(call.request);
          const ID = this.nextLease++;
          this.leases.add(ID);
          cb(null, bytes(etcdserverpb.LeaseGrantResponse.encode({ header: this.header(), ID, TTL: req.TTL, error: "" }).finish()));
        },
        LeaseRevoke: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          const req = etcdserverpb.LeaseRevokeRequest.decode(call.request);
          if (!this.leases.delete(req.ID)) return cb({ code: grpc.status.NOT_FOUND, details: "etcdserver: requested lease not found" });
          cb(null, bytes(etcdserverpb.LeaseRevokeResponse.encode({ header: this.header() }).finish()));
        },
        Watch: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.watch(call),
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

  private watch(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
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
