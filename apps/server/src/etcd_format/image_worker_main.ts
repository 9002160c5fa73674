/**
 * image_worker_main.ts is the entry of the worker thread that makes a Maintenance.Snapshot
 * image (see image_worker.ts for the main thread's side and image_worker_protocol.ts for the
 * messages): it maps the backend scan the main thread sends to etcd's buckets and builds the
 * bbolt pages, writing them into the image file as they come, and the meta pages (which name
 * the root page and the page count) last, at the file's start. Each chunk is handled in one
 * synchronous step, and its buffer handed back when done. The member's main thread only
 * reads RocksDB; the conversion, the page building and the file writes run here, on the
 * other core.
 */
import { writevSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { BboltPushWriter, metaPages } from "@etcd-ts/bbolt";
import { unpackScanChunk, type ImageReply, type ImageRequest } from "./image_worker_protocol.js";
import { EtcdBucketsWriter } from "./layout.js";

const port = parentPort;
if (port === null) throw new Error("image_worker_main.ts runs as a worker thread");

function reply(m: ImageReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

/** Pass is the scan being converted: the writer it fills and where in the file its pages go next. */
interface Pass {
  writer: BboltPushWriter;
  buckets: EtcdBucketsWriter;
  fd: number;
  position: number;
}

let pass: Pass | undefined;
let failed = false;

/** PAGE_BUFFER_BYTES is how much of the pages the writer keeps in its reused buffer between two file writes. */
const PAGE_BUFFER_BYTES = 1024 * 1024;

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
      const writer = new BboltPushWriter({ chunkBytes: PAGE_BUFFER_BYTES }, false, true);
      pass = { writer, buckets: new EtcdBucketsWriter(writer), fd: m.fd, position: 2 * writer.settings.pageSize };
      return;
    }
    case "data": {
      const p = pass;
      if (p === undefined) throw new Error("snapshot: scan data before the image began");
      // Nothing keeps a view into m.buf past add (the writers copy what they keep), so it goes back.
      p.buckets.add(unpackScanChunk(m.buf, m.len));
      p.position += writeAllSync(p.fd, p.writer.take(), p.position);
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
