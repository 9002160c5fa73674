import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";

/**
 * A snapshot stream carries a raft snapshot between members: frames of [u32 big-endian
 * length][bytes]. Frame 0 is the encoded raft message (MsgSnap, metadata only), frame 1 the
 * membership, then key and value frames alternate: the whole backend at the sender's
 * consistent index. Framing is ours (etcd-ts's peer protocol), not etcd's.
 */

/** SnapshotContents is what a received snapshot holds once read back. */
export interface SnapshotContents {
  message: Buffer;
  membership: Buffer;
  pairs: AsyncIterable<[Buffer, Buffer]>;
}

/** writeFrame writes one length-prefixed frame, honouring backpressure. */
export async function writeFrame(out: Writable, data: Buffer): Promise<void> {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const ok = out.write(len) && out.write(data);
  if (!ok) await once(out, "drain");
}

/** FrameReader reads length-prefixed frames from a byte stream. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  constructor(src: Readable) {
    this.it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** next returns the next frame, or undefined at a clean end of stream. */
  async next(): Promise<Buffer | undefined> {
    if (!(await this.fill(4))) return undefined;
    const n = this.buf.readUInt32BE(0);
    if (!(await this.fill(4 + n))) throw new Error("peer: snapshot stream ends inside a frame");
    const frame = this.buf.subarray(4, 4 + n);
    this.buf = this.buf.subarray(4 + n);
    return frame;
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      const r = await this.it.next();
      if (r.done === true) {
        if (this.buf.length === 0) return false;
        if (this.buf.length < n) throw new Error("peer: snapshot stream ends inside a frame");
      }
      this.buf = this.buf.length === 0 ? (r.value as Buffer) : Buffer.concat([this.buf, r.value as Buffer]);
    }
    return true;
  }
}

/** saveStream copies a received snapshot stream to a file (the receiver installs it later). */
export async function saveStream(src: Readable, path: string): Promise<void> {
  const out = createWriteStream(path);
  for await (const chunk of src) {
    if (!out.write(chunk as Buffer)) await once(out, "drain");
  }
  out.end();
  await once(out, "close");
}

/** readSnapshotFile opens a saved snapshot stream for installing. */
export async function readSnapshotFile(path: string): Promise<SnapshotContents> {
  const reader = new FrameReader(createReadStream(path));
  const message = await reader.next();
  const membership = await reader.next();
  if (message === undefined || membership === undefined) throw new Error(`peer: snapshot file ${path} is truncated`);
  async function* pairs(): AsyncGenerator<[Buffer, Buffer]> {
    for (;;) {
      const k = await reader.next();
      if (k === undefined) return;
      const v = await reader.next();
      if (v === undefined) throw new Error(`peer: snapshot file ${path} ends after a key`);
      yield [Buffer.from(k), Buffer.from(v)];
    }
  }
  return { message, membership, pairs: pairs() };
}
