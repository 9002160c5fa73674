import { varintSize, writeVarint } from "../varint.js";

/**
 * snapshot_messages.ts encodes Maintenance.Snapshot's SnapshotResponses around the image's
 * bytes, which are read from the image file straight into their message.
 */

/**
 * SNAPSHOT_SEND_BYTES is the blob size of each SnapshotResponse: 1 MiB (etcd sends 32 KiB;
 * clients only concatenate the blobs, and 1 MiB stays far below every client's default receive
 * limit, grpc-js's 4 MiB being the smallest, while sending a large backend about twice as fast).
 */
export const SNAPSHOT_SEND_BYTES = 1024 * 1024;

/** SnapshotMessage is one encoded SnapshotResponse and the view of its blob. */
export interface SnapshotMessage {
  message: Buffer;
  blob: Buffer;
}

/**
 * snapshotResponseBuffer allocates an encoded SnapshotResponse {remaining_bytes, blob} whose
 * blob (size bytes) is left to fill: `blob` is the view of it inside `message`. Fields in
 * number order as Go marshals them; remaining_bytes 0 is left out (proto3 default); size is at
 * least 1 (an empty blob would be left out too). The message owns its whole ArrayBuffer (never
 * Node's shared pool).
 */
export function snapshotResponseBuffer(remaining: number, size: number): SnapshotMessage {
  const head = (remaining > 0 ? 1 + varintSize(remaining) : 0) + 1 + varintSize(size);
  const message = Buffer.allocUnsafeSlow(head + size);
  let at = 0;
  if (remaining > 0) {
    message[at++] = (2 << 3) | 0; // remaining_bytes, varint
    at = writeVarint(message, at, remaining);
  }
  message[at++] = (3 << 3) | 2; // blob, length-delimited
  at = writeVarint(message, at, size);
  return { message, blob: message.subarray(at) };
}
