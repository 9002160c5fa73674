import { Worker } from "node:worker_threads";
import type { ScanChunk } from "@etcd-ts/backend";
import { workerUrl } from "../worker_url.js";
import { packScanChunk, type ImageReply, type ImageRequest } from "./image_worker_protocol.js";

/** IMAGE_WORKER_INFLIGHT bounds the scan chunks (about 1 MiB each) posted to the worker and not yet taken up. */
const IMAGE_WORKER_INFLIGHT = 4;
/** IMAGE_WORKER_QUEUED bounds the finished messages (1 MiB each) held for the client before more of the scan is read. */
const IMAGE_WORKER_QUEUED = 4;
/** IMAGE_WORKER_HEAP_MB bounds the worker's heap: it holds a few chunks and pages, never the image. */
const IMAGE_WORKER_HEAP_MB = 256;

/**
 * ImageWorker runs one Maintenance.Snapshot image on a worker thread
 * (image_worker_main.ts): this side feeds it the two scans of the backend, a few chunks
 * ahead, and hands on the encoded SnapshotResponses it returns, at the reader's pace. Memory
 * stays bounded by IMAGE_WORKER_INFLIGHT chunks and IMAGE_WORKER_QUEUED messages. Every
 * failure (the worker's error, its exit, an abort of the call's signal) is thrown by the
 * pass that is running: an abort is seen while waiting for the worker, or once the chunk of
 * the scan being read arrives (a backend scan's next chunk always comes); terminate() ends
 * the worker however the call ended.
 */
export class ImageWorker {
  private readonly worker: Worker;
  private readonly replies: ImageReply[] = [];
  private inflight = 0;
  /** spare are buffers the worker handed back, to pack the next chunks into. */
  private readonly spare: ArrayBuffer[] = [];
  private failure: Error | undefined;
  /** waiters are woken at the worker's next reply or failure (a consumer and a pump may wait at once). */
  private waiters: Array<() => void> = [];
  private terminated = false;
  /** sha256 is the image's digest, set once emit() has yielded the last message. */
  sha256: Buffer | undefined;

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

  /** plan feeds the first scan and returns the image's size in bytes. */
  async plan(chunks: AsyncIterable<ScanChunk>, signal?: AbortSignal): Promise<number> {
    this.post({ t: "plan" });
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
      if (m?.t === "planned") return m.sizeBytes;
      if (m !== undefined) throw new Error(`snapshot: the image worker answered ${m.t} to a plan`);
      await this.wait(signal);
    }
  }

  /**
   * emit feeds the second scan and yields the image's encoded SnapshotResponses in order;
   * sha256 is set at the end. The scan is fed by a pump of its own, paced by the worker's
   * acknowledgements and by the messages not yet taken, so reading and converting go on
   * while the consumer waits for its client.
   */
  async *emit(chunks: AsyncIterable<ScanChunk>, signal?: AbortSignal): AsyncGenerator<Buffer, void, undefined> {
    this.post({ t: "emit" });
    const it = chunks[Symbol.asyncIterator]();
    let stop = false;
    let fed = false;
    const pump = (async () => {
      while (!stop && !fed && this.failure === undefined) {
        if (this.inflight >= IMAGE_WORKER_INFLIGHT || this.queuedMessages() >= IMAGE_WORKER_QUEUED) {
          await this.changed();
          continue;
        }
        const r = await it.next();
        if (stop) return;
        if (r.done === true) {
          fed = true;
          this.post({ t: "end" });
        } else this.feed(r.value);
      }
    })().catch((err: unknown) => {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
      this.poke();
    });
    try {
      for (;;) {
        const m = this.replies.shift();
        if (m === undefined) {
          await this.wait(signal);
          continue;
        }
        if (m.t === "messages") {
          this.poke(); // room in the queue: the pump may read on
          for (const b of m.bufs) yield Buffer.from(b);
        } else if (m.t === "done") {
          if (!fed) throw new Error("snapshot: the image worker finished before the scan did");
          this.sha256 = Buffer.from(m.sha256);
          return;
        } else throw new Error(`snapshot: the image worker answered ${m.t} while making the image`);
      }
    } finally {
      stop = true;
      this.poke();
      await pump;
      await it.return?.();
    }
  }

  /** terminate ends the worker (idempotent). */
  async terminate(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    await this.worker.terminate();
  }

  private feed(chunk: ScanChunk): void {
    const { buf, len } = packScanChunk(chunk, this.spare.pop());
    this.inflight++;
    this.post({ t: "data", buf, len }, [buf]);
  }

  private post(m: ImageRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  private queuedMessages(): number {
    let n = 0;
    for (const r of this.replies) if (r.t === "messages") n += r.bufs.length;
    return n;
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

  /** changed resolves at the next reply, acknowledgement, failure or poke. */
  private changed(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
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
