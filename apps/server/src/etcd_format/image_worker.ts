import { Worker } from "node:worker_threads";
import type { ScanChunk } from "@etcd-ts/backend";
import { workerUrl } from "../worker_url.js";
import { MIN_FREE_DISK_BYTES, packScanChunk, type ImageReply, type ImageRequest } from "./image_worker_protocol.js";

/** IMAGE_WORKER_INFLIGHT bounds the scan chunks (about 1 MiB each) posted to the worker and not yet taken up. */
const IMAGE_WORKER_INFLIGHT = 4;
/** IMAGE_WORKER_HEAP_MB bounds the worker's heap: it holds a few chunks and pages, never the image. */
const IMAGE_WORKER_HEAP_MB = 256;

/**
 * ImageWorker runs one Maintenance.Snapshot image on a worker thread
 * (image_worker_main.ts): this side feeds it a scan of the backend, a few chunks ahead, and
 * the worker writes the image into a file. Memory stays bounded by IMAGE_WORKER_INFLIGHT
 * chunks. Every failure (the worker's error, its exit, an abort of the call's signal) is
 * thrown by build: an abort is seen while waiting for the worker, or once the chunk of the
 * scan being read arrives (a backend scan's next chunk always comes); terminate() ends the
 * worker however the call ended.
 */
export class ImageWorker {
  private readonly worker: Worker;
  private readonly replies: ImageReply[] = [];
  private inflight = 0;
  /** spare are buffers the worker handed back, to pack the next chunks into. */
  private readonly spare: ArrayBuffer[] = [];
  private failure: Error | undefined;
  /** waiters are woken at the worker's next reply or failure. */
  private waiters: Array<() => void> = [];
  private terminated = false;
  private stopping: Promise<number> | undefined;

  constructor() {
    this.worker = new Worker(workerUrl("etcd_format/image_worker_main.js"), { resourceLimits: { maxOldGenerationSizeMb: IMAGE_WORKER_HEAP_MB } });
    this.worker.on("message", (m: ImageReply) => {
      if (m.t === "ack") {
        this.inflight--;
        this.spare.push(m.buf);
      } else if (m.t === "error") this.failure ??= new Error(m.message);
      else this.replies.push(m);
      this.poke();
    });
    this.worker.on("error", (err: Error) => {
      this.failure ??= new Error(`snapshot: the image worker failed: ${err.message}`);
      this.poke();
    });
    this.worker.on("exit", (code: number) => {
      if (!this.terminated) this.failure ??= new Error(`snapshot: the image worker exited with code ${code}`);
      this.poke();
    });
  }

  /**
   * build feeds one scan and has the worker write the whole image into fd (an open file of
   * this process in dir, written from offset 0); it returns the image's size in bytes once the
   * file holds all of it. The worker gives the image up when the disk of dir has less than
   * minFreeBytes free (default MIN_FREE_DISK_BYTES).
   */
  async build(chunks: AsyncIterable<ScanChunk>, fd: number, dir: string, signal?: AbortSignal, minFreeBytes = MIN_FREE_DISK_BYTES): Promise<number> {
    this.post({ t: "build", fd, dir, minFreeBytes });
    const it = chunks[Symbol.asyncIterator]();
    try {
      for (;;) {
        while (this.inflight >= IMAGE_WORKER_INFLIGHT) await this.wait(signal);
        const r = await it.next();
        this.check(signal);
        if (r.done === true) break;
        this.feed(r.value);
      }
    } finally {
      await it.return?.();
    }
    this.post({ t: "end" });
    for (;;) {
      const m = this.replies.shift();
      if (m?.t === "built") return m.sizeBytes;
      if (m !== undefined) throw new Error(`snapshot: the image worker answered ${m.t} while writing the image file`);
      await this.wait(signal);
    }
  }

  /** sha256 has the worker read the built image file back and returns its SHA-256 (call it once, after build). */
  async sha256(signal?: AbortSignal): Promise<Buffer> {
    this.post({ t: "hash" });
    for (;;) {
      const m = this.replies.shift();
      if (m?.t === "hashed") return Buffer.from(m.sha256);
      if (m !== undefined) throw new Error(`snapshot: the image worker answered ${m.t} while hashing the image file`);
      await this.wait(signal);
    }
  }

  /** terminate ends the worker; every call resolves once its thread is gone (no write of it can follow). */
  async terminate(): Promise<void> {
    this.terminated = true;
    this.stopping ??= this.worker.terminate();
    await this.stopping;
  }

  private feed(chunk: ScanChunk): void {
    const { buf, len } = packScanChunk(chunk, this.spare.pop());
    this.inflight++;
    this.post({ t: "data", buf, len }, [buf]);
  }

  private post(m: ImageRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  private check(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (this.failure !== undefined) throw this.failure;
  }

  private poke(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** wait returns at the worker's next reply or failure, or throws the signal's abort. */
  private async wait(signal: AbortSignal | undefined): Promise<void> {
    this.check(signal);
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason as Error);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
    this.check(signal);
  }
}
