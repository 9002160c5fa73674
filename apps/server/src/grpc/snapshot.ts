import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import type { etcdserverpb } from "@etcd-ts/proto";
import type { ServerStream } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { humanizeBytes } from "../quota.js";

/**
 * SNAPSHOT_SEND_BYTES is the blob size of each SnapshotResponse: 1 MiB (etcd sends 32 KiB;
 * clients only concatenate the blobs, and 1 MiB stays far below every client's default receive
 * limit, grpc-js's 4 MiB being the smallest, while sending a large backend about twice as fast).
 */
export const SNAPSHOT_SEND_BYTES = 1024 * 1024;

/**
 * sendSnapshot answers Maintenance.Snapshot as etcd does: the backend as an etcd 3.4 bbolt
 * file, as of one consistent point, in SNAPSHOT_SEND_BYTES blobs with the bytes still to come
 * in remaining_bytes, then one last message whose blob is the SHA-256 of everything sent
 * (remaining_bytes 0), which `etcdctl snapshot restore` checks. Each send waits for the
 * client's flow control, so a slow client holds one blob in memory, not the file; the member
 * keeps serving meanwhile (the image is a file of its own, removed when the call ends).
 */
export async function sendSnapshot(s: EtcdServer, call: ServerStream<etcdserverpb.SnapshotResponse>): Promise<void> {
  const snap = await s.clientSnapshot(call.signal);
  const log = s.logger;
  try {
    const total = snap.sizeBytes;
    const start = Date.now();
    log.info("sending database snapshot to client", { "total-bytes": total, size: humanizeBytes(total) });
    const h = createHash("sha256");
    const fh = await open(snap.path, "r");
    try {
      let sent = 0;
      while (sent < total) {
        const blob = Buffer.allocUnsafe(Math.min(SNAPSHOT_SEND_BYTES, total - sent));
        let got = 0;
        while (got < blob.length) {
          const { bytesRead } = await fh.read(blob, got, blob.length - got, sent + got);
          if (bytesRead === 0) throw new Error(`snapshot: ${snap.path} ended at ${sent + got} of ${total} bytes`);
          got += bytesRead;
        }
        sent += blob.length;
        h.update(blob);
        await call.send({ header: undefined, remainingBytes: BigInt(total - sent), blob });
      }
    } finally {
      await fh.close();
    }
    const sha = h.digest();
    log.info("sending database sha256 checksum to client", { "total-bytes": total, "checksum-size": sha.length });
    await call.send({ header: undefined, remainingBytes: 0n, blob: sha });
    log.info("successfully sent database snapshot to client", { "total-bytes": total, size: humanizeBytes(total), took: `${((Date.now() - start) / 1000).toFixed(3)}s` });
  } finally {
    await snap.release();
  }
}
