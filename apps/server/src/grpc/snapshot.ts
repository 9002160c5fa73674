import { createHash } from "node:crypto";
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

/** SnapshotMessage is one encoded SnapshotResponse and the view of its blob. */
interface SnapshotMessage {
  message: Buffer;
  blob: Buffer;
}

/**
 * messagesOf cuts an image of `total` bytes, produced in pieces of any size, into encoded
 * SnapshotResponses of SNAPSHOT_SEND_BYTES blobs (the last one smaller), each piece copied
 * once, straight into its message. It throws when the image is longer or shorter than total.
 */
export async function* messagesOf(chunks: AsyncIterable<Buffer>, total: number): AsyncGenerator<SnapshotMessage, void, undefined> {
  let offset = 0;
  let cur: SnapshotMessage | undefined;
  let filled = 0;
  for await (const c of chunks) {
    let at = 0;
    while (at < c.length) {
      if (cur === undefined) {
        const size = Math.min(SNAPSHOT_SEND_BYTES, total - offset);
        if (size <= 0) throw new Error(`snapshot: the image is longer than its planned ${total} bytes`);
        cur = snapshotResponseBuffer(total - offset - size, size);
        filled = 0;
      }
      const n = Math.min(c.length - at, cur.blob.length - filled);
      c.copy(cur.blob, filled, at, at + n);
      filled += n;
      at += n;
      if (filled === cur.blob.length) {
        offset += filled;
        const done = cur;
        cur = undefined;
        yield done;
      }
    }
  }
  if (cur !== undefined || offset !== total) throw new Error(`snapshot: the image ended at ${offset + (cur === undefined ? 0 : filled)} of its planned ${total} bytes`);
}

/**
 * sendSnapshot answers Maintenance.Snapshot as etcd does: the backend as an etcd 3.4 bbolt
 * file, as of one consistent point, in SNAPSHOT_SEND_BYTES blobs with the bytes still to come
 * in remaining_bytes, then one last message whose blob is the SHA-256 of everything sent
 * (remaining_bytes 0), which `etcdctl snapshot restore` checks. The image is produced as it is
 * sent (see makeClientSnapshot): the next message is made while the current one waits for the
 * client's flow control, so a slow client holds a message or two in memory, not the image,
 * and the member keeps serving meanwhile.
 */
export async function sendSnapshot(s: EtcdServer, call: ServerStream<etcdserverpb.SnapshotResponse | Buffer>): Promise<void> {
  const snap = await s.clientSnapshot(call.signal);
  const log = s.logger;
  const total = snap.sizeBytes;
  const msgs = messagesOf(snap.chunks, total);
  let next: Promise<IteratorResult<SnapshotMessage, void>> | undefined;
  try {
    const start = Date.now();
    log.info("sending database snapshot to client", { "total-bytes": total, size: humanizeBytes(total) });
    const h = createHash("sha256");
    next = msgs.next();
    for (;;) {
      const r = await next;
      next = undefined;
      if (r.done === true) break;
      next = msgs.next();
      next.catch(() => undefined);
      h.update(r.value.blob);
      await call.send(r.value.message);
    }
    const sha = h.digest();
    log.info("sending database sha256 checksum to client", { "total-bytes": total, "checksum-size": sha.length });
    await call.send({ header: undefined, remainingBytes: 0n, blob: sha });
    log.info("successfully sent database snapshot to client", { "total-bytes": total, size: humanizeBytes(total), took: `${((Date.now() - start) / 1000).toFixed(3)}s` });
  } finally {
    // A message being made finishes before the image is stopped.
    if (next !== undefined) await next.catch(() => undefined);
    await msgs.return(undefined).catch(() => undefined);
    await snap.release();
  }
}
