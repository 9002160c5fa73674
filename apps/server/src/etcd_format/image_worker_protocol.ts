import type { ScanChunk } from "@etcd-ts/backend";

/**
 * The messages between a member's main thread and the worker that turns a backend scan into a
 * Maintenance.Snapshot image file (image_worker.ts, image_worker_main.ts). In order, the main
 * thread sends "build" (the file), the scan's chunks ("data") and "end"; the worker
 * acknowledges every chunk it took up ("ack") and answers "built" once the file holds the
 * whole image. Then "hash" has it read the file back and answer its SHA-256 ("hashed"). Any
 * failure is answered "error".
 */
export type ImageRequest =
  /**
   * build: write the image into the open file descriptor fd (of this process), from offset 0;
   * dir is the file's directory, whose disk must keep minFreeBytes free (or the image is given up).
   */
  | { t: "build"; fd: number; dir: string; minFreeBytes: number }
  /** hash: read the built image back and answer its SHA-256. */
  | { t: "hash" }
  /** data is one scan chunk packed by packScanChunk into buf's first len bytes (transferred; "ack" hands it back). */
  | { t: "data"; buf: ArrayBuffer; len: number }
  | { t: "end" };

export type ImageReply =
  /** ack: a data message was handled; buf is its ArrayBuffer, handed back to be filled again (transferred). */
  | { t: "ack"; buf: ArrayBuffer }
  /** built: the file holds the whole image, sizeBytes long. */
  | { t: "built"; sizeBytes: number }
  /** hashed: the SHA-256 of the image file (transferred). */
  | { t: "hashed"; sha256: ArrayBuffer }
  | { t: "error"; message: string };

/**
 * MIN_FREE_DISK_BYTES is the free space an image leaves on its disk, which also holds the
 * member's WAL and backend: below it the image is given up (the member must not fail a WAL
 * write for a client's snapshot).
 */
export const MIN_FREE_DISK_BYTES = 512 * 1024 * 1024;

/** PACK_BUFFER_BYTES is the least size of a buffer packScanChunk allocates (a scan chunk is about 1 MiB). */
const PACK_BUFFER_BYTES = 2 * 1024 * 1024;

/**
 * packScanChunk copies a scan chunk into an ArrayBuffer that can be transferred to another
 * thread: the entry count (u32), each entry's key and value lengths (u32 pairs), then each key
 * followed by its value, all in the platform's byte order (both threads share it). It fills
 * `reuse` when that is large enough (a buffer the other thread handed back: filling memory
 * already mapped costs a fraction of fresh memory), else a new buffer. It returns the buffer
 * and the bytes used.
 */
export function packScanChunk(c: ScanChunk, reuse?: ArrayBuffer): { buf: ArrayBuffer; len: number } {
  const { keys, values } = c;
  const n = keys.length;
  let len = 4 + 8 * n;
  for (let i = 0; i < n; i++) len += keys[i]!.length + values[i]!.length;
  const buf = reuse !== undefined && reuse.byteLength >= len ? reuse : new ArrayBuffer(Math.max(len, PACK_BUFFER_BYTES));
  const bytes = new Uint8Array(buf);
  const lens = new Uint32Array(buf, 0, 1 + 2 * n);
  lens[0] = n;
  let at = 4 + 8 * n;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    const v = values[i]!;
    lens[1 + 2 * i] = k.length;
    lens[2 + 2 * i] = v.length;
    bytes.set(k, at);
    at += k.length;
    bytes.set(v, at);
    at += v.length;
  }
  return { buf, len };
}

/** unpackScanChunk is packScanChunk's inverse over buf's first len bytes; keys and values are views into buf. */
export function unpackScanChunk(buf: ArrayBuffer, len: number): ScanChunk {
  if (len < 4 || len > buf.byteLength) throw new Error(`snapshot: a packed scan chunk of ${len} bytes in a buffer of ${buf.byteLength}`);
  const n = new Uint32Array(buf, 0, 1)[0]!;
  if (4 + 8 * n > len) throw new Error(`snapshot: a packed scan chunk of ${len} bytes cannot hold ${n} entries`);
  const lens = new Uint32Array(buf, 0, 1 + 2 * n);
  const keys = new Array<Buffer>(n);
  const values = new Array<Buffer>(n);
  let at = 4 + 8 * n;
  for (let i = 0; i < n; i++) {
    const kl = lens[1 + 2 * i]!;
    const vl = lens[2 + 2 * i]!;
    if (at + kl + vl > len) throw new Error(`snapshot: a packed scan chunk's entry ${i} runs past its end`);
    keys[i] = Buffer.from(buf, at, kl);
    at += kl;
    values[i] = Buffer.from(buf, at, vl);
    at += vl;
  }
  if (at !== len) throw new Error(`snapshot: a packed scan chunk has ${len - at} bytes after its entries`);
  return { keys, values };
}
