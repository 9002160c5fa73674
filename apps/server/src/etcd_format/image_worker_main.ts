/**
 * image_worker_main.ts is the entry of the worker thread that makes a Maintenance.Snapshot
 * image (see image_worker.ts for the main thread's side and image_worker_protocol.ts for the
 * messages): it maps the backend scans the main thread sends to etcd's buckets, plans the
 * bbolt layout from the first scan (a dry run), then builds the pages from the second and
 * cuts them into encoded SnapshotResponses, hashing the image as it goes. Each chunk is
 * handled in one synchronous step, and its buffer handed back when done. The member's main
 * thread only reads RocksDB and sends the messages; the conversion, the page building and
 * the hashing run here, on the other core.
 */
import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { BboltPushWriter, metaPages, type BboltLayout } from "@etcd-ts/bbolt";
import { SNAPSHOT_SEND_BYTES, SnapshotMessageCutter, type SnapshotMessage } from "../grpc/snapshot_messages.js";
import { unpackScanChunk, type ImageReply, type ImageRequest } from "./image_worker_protocol.js";
import { EtcdBucketsWriter } from "./layout.js";

const port = parentPort;
if (port === null) throw new Error("image_worker_main.ts runs as a worker thread");

function reply(m: ImageReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

/** Pass is the scan being converted: the writer it fills and, when the image is being made, where the pages go. */
interface Pass {
  writer: BboltPushWriter;
  buckets: EtcdBucketsWriter;
  emit?: { cutter: SnapshotMessageCutter; hash: Hash };
}

let pass: Pass | undefined;
let planned: BboltLayout | undefined;
let failed = false;

function startPass(dry: boolean): Pass {
  // Pages are written into one reused buffer: flush copies them into messages at once.
  const writer = new BboltPushWriter({ chunkBytes: SNAPSHOT_SEND_BYTES }, dry, true);
  return { writer, buckets: new EtcdBucketsWriter(writer) };
}

/** flush cuts the pages written so far into messages and sends them. */
function flush(p: Pass, pages: readonly Buffer[]): void {
  const e = p.emit;
  if (e === undefined || pages.length === 0) return;
  const out: SnapshotMessage[] = [];
  for (const page of pages) e.cutter.push(page, out);
  if (out.length === 0) return;
  for (const m of out) e.hash.update(m.blob);
  const bufs = out.map((m) => m.message.buffer as ArrayBuffer);
  reply({ t: "messages", bufs }, bufs);
}

function handle(m: ImageRequest): void {
  switch (m.t) {
    case "plan":
      pass = startPass(true);
      return;
    case "emit": {
      if (planned === undefined) throw new Error("snapshot: the image was not planned before it was made");
      const p = startPass(false);
      p.emit = { cutter: new SnapshotMessageCutter(planned.highWaterPgid * planned.pageSize), hash: createHash("sha256") };
      pass = p;
      flush(p, metaPages(planned));
      return;
    }
    case "data": {
      if (pass === undefined) throw new Error("snapshot: scan data before a pass began");
      // Nothing keeps a view into m.buf past add (the writers copy what they keep), so it goes back.
      pass.buckets.add(unpackScanChunk(m.buf, m.len));
      flush(pass, pass.writer.take());
      reply({ t: "ack", buf: m.buf }, [m.buf]);
      return;
    }
    case "end": {
      const p = pass;
      if (p === undefined) throw new Error("snapshot: the end of a scan before a pass began");
      pass = undefined;
      p.buckets.finish();
      const layout = p.writer.finish();
      if (p.emit === undefined) {
        planned = layout;
        reply({ t: "planned", sizeBytes: layout.highWaterPgid * layout.pageSize });
        return;
      }
      const want = planned!;
      if (layout.rootPgid !== want.rootPgid || layout.highWaterPgid !== want.highWaterPgid || layout.freelistPgid !== want.freelistPgid) {
        throw new Error(
          `snapshot: the backend changed between the two scans (first: root page ${want.rootPgid}, ${want.highWaterPgid} pages; second: root page ${layout.rootPgid}, ${layout.highWaterPgid} pages)`,
        );
      }
      flush(p, p.writer.take());
      p.emit.cutter.finish();
      const sha = p.emit.hash.digest();
      const sha256 = sha.buffer.slice(sha.byteOffset, sha.byteOffset + sha.length) as ArrayBuffer;
      reply({ t: "done", sha256 }, [sha256]);
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
