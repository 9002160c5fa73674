import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { raftpb } from "@etcd-ts/proto";

/**
 * A snapshot stream carries a raft snapshot between members: frames of [u32 big-endian
 * length][bytes]. Framing is ours (etcd-ts's peer protocol), not etcd's:
 *
 * - frame 0: the encoded raft message (MsgSnap, metadata only), written by the transport;
 * - frame 1: the sender's membership;
 * - key and value frames alternating: the whole backend, as of one consistent index;
 * - the trailer: an empty frame (backend keys are never empty), a frame holding the encoded
 *   raftpb.SnapshotMetadata of the data (index: the backend's consistent index, its term, the
 *   conf state at it), and a frame holding the SHA-256 of every byte from frame 1 through the
 *   metadata frame (length prefixes included). Nothing follows it.
 *
 * A stream cut anywhere (even at a pair boundary) lacks a valid trailer and is refused.
 */

/** SnapshotContents is what a received snapshot holds once read back. */
export interface SnapshotContents {
  message: Buffer;
  membership: Buffer;
  /**
   * pairs yields the backend's key/value pairs. It checks the trailer once the last pair was
   * read, and throws (instead of ending) when the stream is truncated or its digest is wrong.
   */
  pairs: AsyncIterable<[Buffer, Buffer]>;
  /** metadata is the trailer's snapshot metadata; it throws before pairs was read to its end. */
  metadata(): raftpb.SnapshotMetadata;
}

/** DIGEST_BYTES is the size of the trailer's SHA-256. */
const DIGEST_BYTES = 32;

/** hashFrame adds one frame, with its length prefix, to a digest. */
function hashFrame(h: Hash, data: Buffer): void {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  h.update(len);
  h.update(data);
}

/**
 * writeFrame writes one length-prefixed frame, honouring backpressure: both parts are always
 * written (a full buffer after the length prefix must not skip the body), then it waits for
 * the stream to drain if either write asked it to.
 */
export async function writeFrame(out: Writable, data: Buffer): Promise<void> {
  if (out.destroyed || out.writableEnded) throw new Error("peer: snapshot stream closed");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const roomAfterLen = out.write(len);
  const roomAfterData = out.write(data);
  if (!roomAfterLen || !roomAfterData) await drained(out);
}

/**
 * drained waits until `out` can take more, and fails when it closes or errs first: a stream
 * destroyed while full never drains, and a writer waiting on it alone would wait forever.
 */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      out.off("drain", onDrain);
      out.off("close", onClose);
      out.off("error", onError);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error("peer: snapshot stream closed"));
    const onError = (err: Error): void => done(err);
    out.on("drain", onDrain);
    out.on("close", onClose);
    out.on("error", onError);
  });
}

/**
 * SnapshotWriter writes what follows frame 0 of a snapshot stream: the membership, the pairs
 * and the trailer, keeping the digest the trailer ends with.
 */
export class SnapshotWriter {
  private readonly hash = createHash("sha256");
  private pairsWritten = 0;

  constructor(private readonly out: Writable) {}

  /** pairs is how many key/value pairs were written so far. */
  get pairs(): number {
    return this.pairsWritten;
  }

  membership(data: Buffer): Promise<void> {
    return this.frame(data);
  }

  async pair(key: Buffer, value: Buffer): Promise<void> {
    if (key.length === 0) throw new Error("peer: a snapshot key must not be empty");
    await this.frame(key);
    await this.frame(value);
    this.pairsWritten++;
  }

  /** finish writes the trailer: the end frame, the data's snapshot metadata, the digest. */
  async finish(metadata: raftpb.SnapshotMetadata): Promise<void> {
    await this.frame(Buffer.alloc(0));
    await this.frame(Buffer.from(raftpb.SnapshotMetadata.encode(metadata).finish()));
    await writeFrame(this.out, this.hash.digest());
  }

  private frame(data: Buffer): Promise<void> {
    hashFrame(this.hash, data);
    return writeFrame(this.out, data);
  }
}

/** FrameCutError: the byte stream ended inside a frame. */
export class FrameCutError extends Error {
  constructor() {
    super("peer: snapshot stream ends inside a frame");
    this.name = "FrameCutError";
  }
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
    if (!(await this.fill(4 + n))) throw new FrameCutError();
    const frame = this.buf.subarray(4, 4 + n);
    this.buf = this.buf.subarray(4 + n);
    return frame;
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      const r = await this.it.next();
      if (r.done === true) {
        if (this.buf.length === 0) return false;
        if (this.buf.length < n) throw new FrameCutError();
      }
      this.buf = this.buf.length === 0 ? (r.value as Buffer) : Buffer.concat([this.buf, r.value as Buffer]);
    }
    return true;
  }
}

/** saveStream copies a received snapshot stream to a file (the receiver installs it later). */
export async function saveStream(src: Readable, path: string): Promise<void> {
  const out = createWriteStream(path);
  try {
    for await (const chunk of src) {
      if (!out.write(chunk as Buffer)) await drained(out);
    }
  } catch (err) {
    // A sender that went away must not leave the file open (its blocks stay used while it is).
    out.destroy();
    throw err;
  }
  out.end();
  await once(out, "close");
}

/**
 * readSnapshotFile opens a saved snapshot stream for installing. The first two frames are read
 * at once; the pairs as they are consumed, the trailer after them (see SnapshotContents).
 */
export async function readSnapshotFile(path: string): Promise<SnapshotContents> {
  const src = createReadStream(path);
  const reader = new FrameReader(src);
  const truncated = (): Error => new Error(`peer: snapshot file ${path} is truncated`);
  /** next reads a frame that must be there: any end of the file before it is a truncation. */
  const next = async (): Promise<Buffer> => {
    let f: Buffer | undefined;
    try {
      f = await reader.next();
    } catch (err) {
      src.destroy();
      throw err instanceof FrameCutError ? truncated() : err;
    }
    if (f === undefined) {
      src.destroy();
      throw truncated();
    }
    return f;
  };
  const hash = createHash("sha256");
  const message = Buffer.from(await next());
  const membership = Buffer.from(await next());
  hashFrame(hash, membership);
  let metadata: raftpb.SnapshotMetadata | undefined;
  async function* pairs(): AsyncGenerator<[Buffer, Buffer]> {
    try {
      for (;;) {
        const k = await next();
        hashFrame(hash, k);
        if (k.length === 0) break;
        const v = await next();
        hashFrame(hash, v);
        yield [Buffer.from(k), Buffer.from(v)];
      }
      const meta = await next();
      hashFrame(hash, meta);
      const digest = await next();
      if (digest.length !== DIGEST_BYTES || !hash.digest().equals(digest)) {
        throw new Error(`peer: snapshot file ${path} is corrupt (its SHA-256 does not match)`);
      }
      const rest = await reader.next().catch(() => Buffer.alloc(1));
      if (rest !== undefined) throw new Error(`peer: snapshot file ${path} has data after its end`);
      metadata = raftpb.SnapshotMetadata.decode(meta);
    } finally {
      // Also when the consumer stops early: the file is not held open.
      src.destroy();
    }
  }
  return {
    message,
    membership,
    pairs: pairs(),
    metadata: () => {
      if (metadata === undefined) throw new Error(`peer: snapshot file ${path}: the metadata is known once every pair was read`);
      return metadata;
    },
  };
}

/** VerifiedSnapshot is what verifySnapshotFile read from a complete stream. */
export interface VerifiedSnapshot {
  /** message is frame 0: the MsgSnap as the sender's raft made it. */
  message: raftpb.Message;
  /** metadata is the trailer's: the snapshot the data actually is. */
  metadata: raftpb.SnapshotMetadata;
  pairs: number;
}

/**
 * verifySnapshotFile reads a saved stream to its end and checks it is complete and intact
 * (trailer and digest); it throws `peer: snapshot file ... is truncated` (or corrupt) otherwise.
 */
export async function verifySnapshotFile(path: string): Promise<VerifiedSnapshot> {
  const c = await readSnapshotFile(path);
  let pairs = 0;
  for await (const _ of c.pairs) pairs++;
  return { message: raftpb.Message.decode(c.message), metadata: c.metadata(), pairs };
}
