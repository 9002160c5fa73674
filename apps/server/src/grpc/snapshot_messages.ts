import { varintSize, writeVarint } from "../varint.js";

/**
 * snapshot_messages.ts encodes Maintenance.Snapshot's SnapshotResponses straight from the
 * image's bytes, so that the image's worker hands the gRPC layer finished messages.
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
 * Node's shared pool), so it can be transferred to another thread.
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

/**
 * SnapshotMessageCutter cuts an image of `total` bytes, given in pieces of any size, into
 * encoded SnapshotResponses of SNAPSHOT_SEND_BYTES blobs (the last one smaller) with the bytes
 * still to come in remaining_bytes, each byte copied once, straight into its message.
 */
export class SnapshotMessageCutter {
  private offset = 0;
  private cur: SnapshotMessage | undefined;
  private filled = 0;

  constructor(private readonly total: number) {}

  /** push adds the next piece of the image and appends the messages it completed to out. */
  push(c: Uint8Array, out: SnapshotMessage[]): void {
    let at = 0;
    while (at < c.length) {
      if (this.cur === undefined) {
        const size = Math.min(SNAPSHOT_SEND_BYTES, this.total - this.offset);
        if (size <= 0) throw new Error(`snapshot: the image is longer than its planned ${this.total} bytes`);
        this.cur = snapshotResponseBuffer(this.total - this.offset - size, size);
        this.filled = 0;
      }
      const n = Math.min(c.length - at, this.cur.blob.length - this.filled);
      this.cur.blob.set(c.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.cur.blob.length) {
        this.offset += this.filled;
        out.push(this.cur);
        this.cur = undefined;
      }
    }
  }

  /** finish checks that the image had exactly the planned size. */
  finish(): void {
    if (this.cur !== undefined || this.offset !== this.total) {
      throw new Error(`snapshot: the image ended at ${this.offset + (this.cur === undefined ? 0 : this.filled)} of its planned ${this.total} bytes`);
    }
  }
}
