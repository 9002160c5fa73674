import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Balancer } from "./balancer.js";
import { parseEndpoint } from "./endpoint.js";
import { aborted, canceledError, EtcdError, fromServiceError } from "./errors.js";
import type { CallOptions } from "./options.js";

/** SHA256_BYTES is the size of the SHA-256 a snapshot stream ends with. */
const SHA256_BYTES = 32;

/** LeaderEndpoint is the client endpoint of the leader and the status it answered. */
export interface LeaderEndpoint {
  endpoint: string;
  status: etcdserverpb.StatusResponse;
}

/**
 * Maintenance wraps etcdserverpb.Maintenance. Calls given an endpoint go to that member only
 * (which need not be one of the client's endpoints); without one they fail over like reads.
 */
export class Maintenance {
  private readonly balancer: Balancer;

  constructor(balancer: Balancer) {
    this.balancer = balancer;
  }

  status(endpoint?: string, opts?: CallOptions): Promise<etcdserverpb.StatusResponse> {
    const req = etcdserverpb.StatusRequest.create();
    if (endpoint === undefined) {
      return this.balancer.unary((c) => c.maintenance.status.bind(c.maintenance), req, "repeatable", opts);
    }
    return this.balancer.unaryOn(
      parseEndpoint(endpoint),
      (c) => c.maintenance.status.bind(c.maintenance),
      req,
      "repeatable",
      opts,
    );
  }

  /** hashKV hashes the MVCC key space up to revision (0: the latest). */
  hashKV(endpoint: string | undefined, revision: bigint, opts?: CallOptions): Promise<etcdserverpb.HashKVResponse> {
    const req = etcdserverpb.HashKVRequest.fromPartial({ revision });
    if (endpoint === undefined) {
      return this.balancer.unary((c) => c.maintenance.hashKv.bind(c.maintenance), req, "repeatable", opts);
    }
    return this.balancer.unaryOn(
      parseEndpoint(endpoint),
      (c) => c.maintenance.hashKv.bind(c.maintenance),
      req,
      "repeatable",
      opts,
    );
  }

  /**
   * alarm lists (GET), raises (ACTIVATE) or disarms (DEACTIVATE) alarms: memberId 0n and
   * alarm NONE with DEACTIVATE disarm every alarm, as `etcdctl alarm disarm` does. A list
   * fails over like a read; a change only while no server has received it.
   */
  alarm(
    action: etcdserverpb.AlarmRequest_AlarmAction,
    memberId = 0n,
    alarm: etcdserverpb.AlarmType = etcdserverpb.AlarmType.NONE,
    opts?: CallOptions,
  ): Promise<etcdserverpb.AlarmResponse> {
    const req = etcdserverpb.AlarmRequest.fromPartial({ action, memberID: memberId, alarm });
    const policy = action === etcdserverpb.AlarmRequest_AlarmAction.GET ? "repeatable" : "nonRepeatable";
    return this.balancer.unary((c) => c.maintenance.alarm.bind(c.maintenance), req, policy, opts);
  }

  /** defragment defragments member `endpoint`'s backend (that member only). */
  defragment(endpoint: string, opts?: CallOptions): Promise<etcdserverpb.DefragmentResponse> {
    return this.balancer.unaryOn(
      parseEndpoint(endpoint),
      (c) => c.maintenance.defragment.bind(c.maintenance),
      etcdserverpb.DefragmentRequest.create(),
      "nonRepeatable",
      opts,
    );
  }

  /**
   * findLeader asks the client's endpoints for their status, in order, and returns the first
   * one that is the leader. Endpoints that fail are skipped; when none is the leader it
   * rejects with the last failure, or a local FailedPrecondition error when all answered.
   * opts.timeoutMs bounds each status call.
   */
  async findLeader(opts?: CallOptions): Promise<LeaderEndpoint> {
    const eps = this.balancer.endpointList();
    let lastErr: unknown;
    for (const ep of eps) {
      try {
        const status = await this.status(ep.raw, opts);
        if (status.header !== undefined && status.header.memberId === status.leader) {
          return { endpoint: ep.raw, status };
        }
      } catch (e) {
        lastErr = e;
      }
    }
    if (lastErr !== undefined) throw lastErr;
    throw new EtcdError(
      grpc.status.FAILED_PRECONDITION,
      `client: no leader endpoint given at [${eps.map((e) => e.raw).join(" ")}]`,
      true,
    );
  }

  /**
   * moveLeader transfers leadership to member targetId. MoveLeader is only served by the
   * leader, so the call goes to endpoint when given, else to the leader found by findLeader.
   */
  async moveLeader(targetId: bigint, opts?: CallOptions, endpoint?: string): Promise<etcdserverpb.MoveLeaderResponse> {
    const to = endpoint ?? (await this.findLeader(opts)).endpoint;
    return this.balancer.unaryOn(
      parseEndpoint(to),
      (c) => c.maintenance.moveLeader.bind(c.maintenance),
      etcdserverpb.MoveLeaderRequest.fromPartial({ targetID: targetId }),
      "nonRepeatable",
      opts,
    );
  }

  /**
   * saveSnapshot writes member `endpoint`'s snapshot to the file `path`, as etcdctl's
   * `snapshot save` does: into `<path>.part` (mode 0600), fsync'ed, then renamed into place,
   * so `path` is either absent or whole. It also checks the trailing SHA-256 against the
   * bytes before it (etcdctl only checks that one is there): a mismatch, a short stream or a
   * failed write leaves no file and rejects. Resolves the file's size in bytes.
   */
  async saveSnapshot(endpoint: string, path: string, opts?: CallOptions): Promise<number> {
    const part = `${path}.part`;
    const fh = await open(part, "w", 0o600);
    let size = 0;
    try {
      const hash = createHash("sha256");
      // The last 32 bytes seen are the candidate trailer; everything before them is the image.
      let tail = Buffer.alloc(0);
      for await (const chunk of this.snapshot(endpoint, opts)) {
        await fh.write(chunk);
        size += chunk.length;
        const joined = Buffer.concat([tail, chunk]);
        const cut = Math.max(0, joined.length - SHA256_BYTES);
        hash.update(joined.subarray(0, cut));
        tail = joined.subarray(cut);
      }
      if (size < SHA256_BYTES || !hash.digest().equals(tail)) {
        throw new EtcdError(grpc.status.DATA_LOSS, `client: snapshot from ${endpoint} failed its SHA-256 check [bytes: ${size}]`, true, endpoint);
      }
      await fh.sync();
      await fh.close();
      await rename(part, path);
      return size;
    } catch (e) {
      await fh.close().catch(() => undefined);
      await rm(part, { force: true });
      throw e;
    }
  }

  /**
   * snapshot streams member `endpoint`'s backend as etcd's snapshot file: the bbolt image,
   * then its 32-byte SHA-256 (what clientv3's Snapshot reader yields; write the chunks to a
   * file in order). opts.timeoutMs bounds the whole transfer (no deadline when unset, as
   * etcdctl without --command-timeout); opts.signal cancels it. Reading slowly slows the
   * member down (flow control), nothing is buffered without bound.
   */
  async *snapshot(endpoint: string, opts?: CallOptions): AsyncGenerator<Buffer, void, undefined> {
    if (aborted(opts?.signal)) throw canceledError();
    await this.balancer.authenticate(opts);
    if (aborted(opts?.signal)) throw canceledError();
    const ep = parseEndpoint(endpoint);
    const conn = this.balancer.connection(ep);
    const callOpts: grpc.CallOptions = opts?.timeoutMs !== undefined ? { deadline: Date.now() + opts.timeoutMs } : {};
    const call = conn.maintenance.snapshot(etcdserverpb.SnapshotRequest.create(), this.balancer.metadata(), callOpts);
    const onAbort = (): void => call.cancel();
    opts?.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const r of call as AsyncIterable<etcdserverpb.SnapshotResponse>) yield r.blob;
    } catch (e) {
      if (aborted(opts?.signal)) throw canceledError();
      throw fromServiceError(e as grpc.ServiceError, ep.raw);
    } finally {
      opts?.signal?.removeEventListener("abort", onAbort);
      call.cancel();
    }
  }
}
