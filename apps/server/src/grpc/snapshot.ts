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

/** varintBytes is the size of v as a protobuf varint. */
function varintBytes(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function putVarint(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

/**
 * snapshotResponseBuffer allocates an encoded SnapshotResponse {remaining_bytes, blob} whose
 * blob (size bytes) is left to fill: `blob` is the view of it inside `message`. Fields in
 * number order as Go marshals them; remaining_bytes 0 is left out (proto3 default); size is at
 * least 1 (an empty blob would be left out too).
 */
export function snapshotResponseBuffer(remaining: number, size: number): { message: Buffer; blob: Buffer } {
  const head = (remaining > 0 ? 1 + varintBytes(remaining) : 0) + 1 + varintBytes(size);
  const message = Buffer.allocUnsafe(head + size);
  let at = 0;
  if (remaining > 0) {
    message[at++] = (2 << 3) | 0; // remaining_bytes, varint
    at = putVarint(message, at, remaining);
  }
  message[at++] = (3 << 3) | 2; // blob, length-delimited
  at = putVarint(message, at, size);
  return { message, blob: message.subarray(at) };
}

/**
 * sendSnapshot answers Maintenance.Snapshot as etcd does: the backend as an etcd 3.4 bbolt
 * file, as of one consistent point, in SNAPSHOT_SEND_BYTES blobs with the bytes still to come
 * in remaining_bytes, then one last message whose blob is the SHA-256 of everything sent
 * (remaining_bytes 0), which `etcdctl snapshot restore` checks. Each send waits for the
 * client's flow control, so a slow client holds one blob in memory, not the file; the member
 * keeps serving meanwhile (the image is a file of its own, removed when the call ends).
 */
export async function sendSnapshot(s: EtcdServer, call: ServerStream<etcdserverpb.SnapshotResponse | Buffer>): Promise<void> {
  const snap = await s.clientSnapshot(call.signal);
  const log = s.logger;
  try {
    const total = snap.sizeBytes;
    const start = Date.now();
    log.info("sending database snapshot to client", { "total-bytes": total, size: humanizeBytes(total) });
    const h = createHash("sha256");
    const fh = await open(snap.path, "r");
    /**
     * read reads the blob at offset `at` (SNAPSHOT_SEND_BYTES, or what is left) straight into
     * an encoded SnapshotResponse, which is sent as it is (no copy but the gRPC framing's).
     */
    const read = async (at: number): Promise<{ message: Buffer; blob: Buffer }> => {
      const size = Math.min(SNAPSHOT_SEND_BYTES, total - at);
      const { message, blob } = snapshotResponseBuffer(total - at - size, size);
      let got = 0;
      while (got < size) {
        const { bytesRead } = await fh.read(blob, got, size - got, at + got);
        if (bytesRead === 0) throw new Error(`snapshot: ${snap.path} ended at ${at + got} of ${total} bytes`);
        got += bytesRead;
      }
      return { message, blob };
    };
    // The next blob is read while the current one is hashed and sent.
    let next: Promise<{ message: Buffer; blob: Buffer }> | undefined;
    try {
      let sent = 0;
      if (total > 0) next = read(0);
      while (next !== undefined) {
        const { message, blob } = await next;
        next = undefined;
        const after = sent + blob.length;
        if (after < total) {
          next = read(after);
          next.catch(() => undefined);
        }
        h.update(blob);
        await call.send(message);
        sent = after;
      }
    } finally {
      if (next !== undefined) await next.catch(() => undefined);
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
