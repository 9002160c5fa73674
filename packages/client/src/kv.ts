import { etcdserverpb } from "@etcd-ts/proto";
import type { Balancer } from "./balancer.js";
import type { CallOptions } from "./options.js";

type DeepPartial<T> = etcdserverpb.DeepPartial<T>;

/**
 * KV wraps etcdserverpb.KV. Range is retried on another endpoint after UNAVAILABLE; Put,
 * DeleteRange, Txn and Compact fail over only while no server has received them. A Txn is
 * treated as a read when it holds no writes, as etcd's Go client does.
 */
export class KV {
  private readonly balancer: Balancer;

  constructor(balancer: Balancer) {
    this.balancer = balancer;
  }

  range(req: DeepPartial<etcdserverpb.RangeRequest>, opts?: CallOptions): Promise<etcdserverpb.RangeResponse> {
    return this.balancer.unary(
      (c) => c.kv.range.bind(c.kv),
      etcdserverpb.RangeRequest.fromPartial(req),
      "repeatable",
      opts,
    );
  }

  put(req: DeepPartial<etcdserverpb.PutRequest>, opts?: CallOptions): Promise<etcdserverpb.PutResponse> {
    return this.balancer.unary(
      (c) => c.kv.put.bind(c.kv),
      etcdserverpb.PutRequest.fromPartial(req),
      "nonRepeatable",
      opts,
    );
  }

  deleteRange(
    req: DeepPartial<etcdserverpb.DeleteRangeRequest>,
    opts?: CallOptions,
  ): Promise<etcdserverpb.DeleteRangeResponse> {
    return this.balancer.unary(
      (c) => c.kv.deleteRange.bind(c.kv),
      etcdserverpb.DeleteRangeRequest.fromPartial(req),
      "nonRepeatable",
      opts,
    );
  }

  txn(req: DeepPartial<etcdserverpb.TxnRequest>, opts?: CallOptions): Promise<etcdserverpb.TxnResponse> {
    const full = etcdserverpb.TxnRequest.fromPartial(req);
    const policy = txnIsReadOnly(full) ? "repeatable" : "nonRepeatable";
    return this.balancer.unary((c) => c.kv.txn.bind(c.kv), full, policy, opts);
  }

  compact(
    req: DeepPartial<etcdserverpb.CompactionRequest>,
    opts?: CallOptions,
  ): Promise<etcdserverpb.CompactionResponse> {
    return this.balancer.unary(
      (c) => c.kv.compact.bind(c.kv),
      etcdserverpb.CompactionRequest.fromPartial(req),
      "repeatable",
      opts,
    );
  }
}

/** txnIsReadOnly reports whether a txn (and its nested txns) holds only ranges. */
export function txnIsReadOnly(t: etcdserverpb.TxnRequest): boolean {
  const ok = (op: etcdserverpb.RequestOp): boolean =>
    op.requestRange !== undefined || (op.requestTxn !== undefined && txnIsReadOnly(op.requestTxn));
  return t.success.every(ok) && t.failure.every(ok);
}
