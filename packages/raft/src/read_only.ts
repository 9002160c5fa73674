import type { raftpb } from "@etcd-ts/proto";
import { RaftInvariantError } from "./errors.js";
import { bufferKey } from "./util.js";

/** ReadOnlyOption selects how the leader confirms a ReadIndex request. */
export enum ReadOnlyOption {
  /**
   * ReadOnlySafe: the leader confirms it is still leader with a heartbeat round acked by a
   * quorum before answering. Linearizable regardless of clocks.
   */
  ReadOnlySafe = 0,
  /**
   * ReadOnlyLeaseBased: the leader answers at once, relying on its lease (check-quorum
   * must be on). Unsafe if clocks drift unboundedly.
   */
  ReadOnlyLeaseBased = 1,
}

/**
 * ReadState answers a ReadIndex request: once the application has applied up to index it
 * may serve the read identified by requestCtx.
 */
export interface ReadState {
  index: bigint;
  requestCtx: Buffer;
}

/** ReadIndexStatus is one pending ReadIndex request and the heartbeat acks it collected. */
export interface ReadIndexStatus {
  req: raftpb.Message;
  index: bigint;
  acks: Map<bigint, boolean>;
}

/**
 * ReadOnly tracks pending ReadOnlySafe requests, keyed by their request context, in arrival
 * order. An ack for one request also confirms every request queued before it.
 */
export class ReadOnly {
  readonly option: ReadOnlyOption;
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  /** addRequest queues the request m (entries[0].data is its context) at commit index `index`. */
  addRequest(index: bigint, m: raftpb.Message): void {
    const key = bufferKey(m.entries[0]!.data);
    if (this.pending.has(key)) return;
    this.pending.set(key, { index, req: m, acks: new Map() });
    this.queue.push(key);
  }

  /** recvAck records id's heartbeat ack for context; returns the acks so far (undefined if unknown). */
  recvAck(id: bigint, context: Buffer): Map<bigint, boolean> | undefined {
    const rs = this.pending.get(bufferKey(context));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** advance dequeues and returns every request up to and including the one for context. */
  advance(context: Buffer): ReadIndexStatus[] {
    const key = bufferKey(context);
    const pos = this.queue.indexOf(key);
    if (pos < 0) return [];
    const done = this.queue.slice(0, pos + 1);
    this.queue = this.queue.slice(pos + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      const rs = this.pending.get(k);
      if (rs === undefined) throw new RaftInvariantError("cannot find corresponding read state from pending map");
      this.pending.delete(k);
      out.push(rs);
    }
    return out;
  }

  /** lastPendingRequestCtx is the context of the newest pending request, if any. */
  lastPendingRequestCtx(): Buffer | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)!.req.entries[0]!.data;
  }
}
