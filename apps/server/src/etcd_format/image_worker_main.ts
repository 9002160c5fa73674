/**
 * image_worker_main.ts is the entry of the worker thread that makes a Maintenance.Snapshot
 * image (see image_worker.ts for the main thread's side and image_worker_protocol.ts for the
 * messages): it maps the backend scan the main thread sends to etcd's buckets and builds the
 * bbolt pages, writing them into the image file as they come, and the meta pages (which name
 * the root page and the page count) last, at the file's start; then it reads the file back
 * to hash it while the main thread sends it. Each chunk is handled in one synchronous step,
 * and its buffer handed back when done. The member's main thread only reads RocksDB and the
 * file; the conversion, the page building, the file writes and the hashing run here, on the
 * other core.
 */
import { createHash } from "node:crypto";
import { readSync, statfsSync, writevSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { BboltPushWriter, metaPages } from "@etcd-ts/bbolt";
import { unpackScanChunk, type ImageReply, type ImageRequest } from "./image_worker_protocol.js";
import { EtcdBucketsWriter } from "./layout.js";

const port = parentPort;
if (port === null) throw new Error("image_worker_main.ts runs as a worker thread");

function reply(m: ImageReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

/**
 * Pass is the scan being converted: the writer it fills, the file its pages go to and where
 * the next ones go, and when the disk's free space is looked at next.
 */
interface Pass {
  writer: BboltPushWriter;
  buckets: EtcdBucketsWriter;
  fd: number;
  dir: string;
  minFree: number;
  position: number;
  nextSpaceCheck: number;
}

let pass: Pass | undefined;
let failed = false;
/** built is the finished image file, which "hash" reads back. */
let built: { fd: number; size: number } | undefined;

/** SPACE_CHECK_BYTES: the free space is looked at again after this many bytes of the image. */
const SPACE_CHECK_BYTES = 32 * 1024 * 1024;
/** HASH_READ_BYTES is how much of the image file "hash" reads at a time. */
const HASH_READ_BYTES = 1024 * 1024;

/** checkSpace gives the image up when its disk has less than the build's minFreeBytes free (for the member's other files). */
function checkSpace(p: Pass): void {
  if (p.position < p.nextSpaceCheck) return;
  p.nextSpaceCheck = p.position + SPACE_CHECK_BYTES;
  const st = statfsSync(p.dir);
  const free = st.bavail * st.bsize;
  if (free < p.minFree) {
    throw new Error(
      `snapshot: gave up writing the image after ${mib(p.position)}: ${mib(free)} left free on the disk of ${p.dir}, which keeps ${mib(p.minFree)} for the member's own files`,
    );
  }
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(0)} MiB`;
}

/** writeAllSync writes pages at position in order (the reused page buffer is valid until the next put) and returns the bytes written. */
function writeAllSync(fd: number, pages: Buffer[], position: number): number {
  let total = 0;
  for (const b of pages) total += b.length;
  let done = 0;
  while (done < total) {
    let skip = done;
    const rest: Buffer[] = [];
    for (const b of pages) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip === 0 ? b : b.subarray(skip));
        skip = 0;
      }
    }
    const n = writevSync(fd, rest, position + done);
    if (n <= 0) throw new Error(`snapshot: writing the image file wrote ${n} bytes`);
    done += n;
  }
  return total;
}

function handle(m: ImageRequest): void {
  switch (m.t) {
    case "build": {
      // Pages are written into one reused buffer and from it to the file at once. Data pages
      // come first in the pass (ids 2 on); the meta pages (0 and 1) are written at the end.
      const writer = new BboltPushWriter({}, false, true);
      const p: Pass = { writer, buckets: new EtcdBucketsWriter(writer), fd: m.fd, dir: m.dir, minFree: m.minFreeBytes, position: 2 * writer.settings.pageSize, nextSpaceCheck: 0 };
      checkSpace(p);
      pass = p;
      return;
    }
    case "hash": {
      const b = built;
      if (b === undefined) throw new Error("snapshot: asked to hash an image that was not built");
      const hash = createHash("sha256");
      const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
      for (let at = 0; at < b.size; ) {
        const n = readSync(b.fd, buf, 0, Math.min(HASH_READ_BYTES, b.size - at), at);
        if (n === 0) throw new Error(`snapshot: the image file ended at ${at} of its ${b.size} bytes`);
        hash.update(buf.subarray(0, n));
        at += n;
      }
      const sha = hash.digest();
      const sha256 = sha.buffer.slice(sha.byteOffset, sha.byteOffset + sha.length) as ArrayBuffer;
      reply({ t: "hashed", sha256 }, [sha256]);
      return;
    }
    case "data": {
      const p = pass;
      if (p === undefined) throw new Error("snapshot: scan data before the image began");
      // Nothing keeps a view into m.buf past add (the writers copy what they keep), so it goes back.
      p.buckets.add(unpackScanChunk(m.buf, m.len));
      p.position += writeAllSync(p.fd, p.writer.take(), p.position);
      checkSpace(p);
      reply({ t: "ack", buf: m.buf }, [m.buf]);
      return;
    }
    case "end": {
      const p = pass;
      if (p === undefined) throw new Error("snapshot: the end of a scan before the image began");
      pass = undefined;
      p.buckets.finish();
      const layout = p.writer.finish();
      p.position += writeAllSync(p.fd, p.writer.take(), p.position);
      const size = layout.highWaterPgid * layout.pageSize;
      if (p.position !== size) throw new Error(`snapshot: the image file ends at ${p.position} of its ${size} bytes`);
      writeAllSync(p.fd, metaPages(layout), 0);
      built = { fd: p.fd, size };
      reply({ t: "built", sizeBytes: size });
      return;
    }
  }
}

port.on("message", (m: ImageRequest) => {
  if (failed) return;
  try {
    handle(m);
  } catch (err) {
    failed = true;
    reply({ t: "error", message: err instanceof Error ? err.message : String(err) });
  }
});
