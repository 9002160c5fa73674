import type { BboltBucketInput } from "@etcd-ts/bbolt";
import { ETCD_BUCKETS, type EtcdEntry } from "./layout.js";

/**
 * etcdBuckets groups entries ordered by bucket then key (toEtcdEntries' order) into bbolt
 * bucket inputs, one per name of ETCD_BUCKETS in order, empty buckets included (etcd 3.4
 * creates all of them). The buckets share one iterator: each must be read to its end before
 * the next is asked for (bbolt's writer does). An entry of a bucket out of order is an error,
 * never dropped.
 */
export async function* etcdBuckets(entries: AsyncIterable<EtcdEntry>, signal?: AbortSignal): AsyncGenerator<BboltBucketInput, void, undefined> {
  const it = entries[Symbol.asyncIterator]();
  try {
    yield* grouped(it, signal);
  } finally {
    // However the consumer stopped (a write error, an abandoned bucket), the scan below is
    // closed, so its native iterator and the snapshot it pins are released at once.
    await it.return?.();
  }
}

async function* grouped(it: AsyncIterator<EtcdEntry>, signal: AbortSignal | undefined): AsyncGenerator<BboltBucketInput, void, undefined> {
  let next = await it.next();
  for (const name of ETCD_BUCKETS) {
    let open = true;
    const inner = async function* (): AsyncGenerator<readonly [Buffer, Buffer]> {
      while (!next.done && next.value.bucket === name) {
        const e = next.value;
        signal?.throwIfAborted();
        next = await it.next();
        yield [e.key, e.value] as const;
      }
      open = false;
    };
    yield { name: Buffer.from(name), entries: inner() };
    if (open) throw new Error(`etcd format: bucket ${name} was not read to its end before the next one`);
  }
  if (!next.done) throw new Error(`etcd format: entry of bucket ${next.value.bucket} out of bucket order`);
}
