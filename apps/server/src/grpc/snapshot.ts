import type { etcdserverpb } from "@etcd-ts/proto";
import type { ServerStream } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { humanizeBytes } from "../quota.js";

/**
 * sendSnapshot answers Maintenance.Snapshot as etcd does: the backend as an etcd 3.4 bbolt
 * file, as of one consistent point, in SNAPSHOT_SEND_BYTES blobs with the bytes still to come
 * in remaining_bytes, then one last message whose blob is the SHA-256 of everything sent
 * (remaining_bytes 0), which `etcdctl snapshot restore` checks. The image is written to a
 * file first and then read from it as it is sent (see makeClientSnapshot): the next message
 * is read while the current one waits for the client's flow control, so a slow client holds a
 * few messages in memory, not the image, and the member keeps serving meanwhile.
 */
export async function sendSnapshot(s: EtcdServer, call: ServerStream<etcdserverpb.SnapshotResponse | Buffer>): Promise<void> {
  const snap = await s.clientSnapshot(call.signal);
  const log = s.logger;
  const total = snap.sizeBytes;
  const msgs = snap.messages;
  let next: Promise<IteratorResult<Buffer, void>> | undefined;
  try {
    const start = Date.now();
    log.info("sending database snapshot to client", { "total-bytes": total, size: humanizeBytes(total) });
    next = msgs.next();
    for (;;) {
      const r = await next;
      next = undefined;
      if (r.done === true) break;
      next = msgs.next();
      next.catch(() => undefined);
      await call.send(r.value);
    }
    const sha = await snap.sha256();
    log.info("sending database sha256 checksum to client", { "total-bytes": total, "checksum-size": sha.length });
    await call.send({ header: undefined, remainingBytes: 0n, blob: sha });
    log.info("successfully sent database snapshot to client", { "total-bytes": total, size: humanizeBytes(total), took: `${((Date.now() - start) / 1000).toFixed(3)}s` });
  } finally {
    // A message being made finishes before the image is stopped.
    if (next !== undefined) await next.catch(() => undefined);
    await snap.release();
  }
}
