import { LatencyHistogram, type HistogramSnapshot } from "./histogram.js";

/**
 * UnaryCaller sends one pre-encoded request and calls done exactly once, asynchronously,
 * with null on success or the error.
 */
export type UnaryCaller = (request: Buffer, done: (err: Error | null) => void) => void;

/** RequestSource hands out the next request to send, or undefined when there are no more. */
export interface RequestSource {
  next(): Buffer | undefined;
}

/**
 * RandomSource picks requests uniformly at random with a seeded xorshift32 generator, so
 * the key sequence is the same for every server benchmarked with the same seed.
 */
export class RandomSource implements RequestSource {
  private x: number;

  constructor(
    private readonly requests: readonly Buffer[],
    seed: number,
  ) {
    if (requests.length === 0) throw new Error("bench: random source needs at least one request");
    this.x = seed >>> 0 || 0x2545f491;
  }

  next(): Buffer {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.requests[this.x % this.requests.length]!;
  }
}

/** SequentialSource hands out every request once, in order. */
export class SequentialSource implements RequestSource {
  private i = 0;

  constructor(private readonly requests: readonly Buffer[]) {}

  next(): Buffer | undefined {
    return this.i < this.requests.length ? this.requests[this.i++] : undefined;
  }
}

/** LoopResult is what a ClosedLoop counted. Latencies are in microseconds. */
export interface LoopResult {
  /** ok and errors count the requests that completed inside the measured window. */
  ok: number;
  errors: number;
  /** totalOk and totalErrors count every completed request, warm-up included. */
  totalOk: number;
  totalErrors: number;
  /** firstError is the message of the first failed request, if any. */
  firstError: string | undefined;
  /** measuredMs is the length of the measured window in milliseconds (0 if never measured). */
  measuredMs: number;
  /** hitMaxRequests is true when the loop stopped because it reached its request bound. */
  hitMaxRequests: boolean;
  histogram: HistogramSnapshot;
}

/** ClosedLoopOptions configures a ClosedLoop. */
export interface ClosedLoopOptions {
  /** callers are the connections; client i sends through callers[i % callers.length]. */
  callers: readonly UnaryCaller[];
  /** clients is the number of concurrent outstanding requests. */
  clients: number;
  source: RequestSource;
  /** now returns the current time in milliseconds (fractional). */
  now: () => number;
  /** maxRequests bounds the number of requests sent over the loop's life. */
  maxRequests: number;
  /** errorBackoffMs is how long a client waits after a failed request before the next one. */
  errorBackoffMs: number;
  /**
   * countDrain also counts (and records the latency of) the requests still outstanding
   * at stop(), when they complete; the window's length stays measure() -> stop(). The
   * defrag workload uses it so requests a server holds until the window ends are counted.
   */
  countDrain?: boolean;
}

/**
 * ClosedLoop drives `clients` closed-loop clients: each keeps exactly one request
 * outstanding and sends the next one as soon as the previous completes. Nothing is
 * allocated per request except what the caller allocates. Completions between measure()
 * and stop() are counted and their latencies recorded; `done` resolves once every client
 * has finished (after stop(), when the source runs dry, or at maxRequests) and nothing is
 * outstanding.
 */
export class ClosedLoop {
  /** done resolves with the counts once every client has finished. */
  readonly done: Promise<LoopResult>;

  private readonly hist = new LatencyHistogram();
  private running = false;
  private measuring = false;
  private measureStart = 0;
  private measuredMs = 0;
  private windowClosed = false;
  private issued = 0;
  private finished = 0;
  private ok = 0;
  private errors = 0;
  private totalOk = 0;
  private totalErrors = 0;
  private firstError: string | undefined;
  private resolveDone!: (r: LoopResult) => void;

  constructor(private readonly opts: ClosedLoopOptions) {
    if (opts.callers.length === 0) throw new Error("bench: closed loop needs at least one connection");
    if (!(opts.clients >= 1)) throw new Error("bench: closed loop needs at least one client");
    this.done = new Promise<LoopResult>((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** start sets every client going. It may be called once. */
  start(): void {
    if (this.running || this.finished > 0) throw new Error("bench: closed loop already started");
    this.running = true;
    for (let i = 0; i < this.opts.clients; i++) this.startClient(i);
  }

  /** measure opens the measured window: counts and latencies recorded so far are dropped. */
  measure(): void {
    this.hist.reset();
    this.ok = 0;
    this.errors = 0;
    this.measuring = true;
    this.windowClosed = false;
    this.measureStart = this.opts.now();
  }

  /** stop closes the measured window and lets every client finish; returns `done`. */
  stop(): Promise<LoopResult> {
    if (this.measuring && !this.windowClosed) {
      this.measuredMs = this.opts.now() - this.measureStart;
      this.windowClosed = true;
      if (this.opts.countDrain !== true) this.measuring = false;
    }
    this.running = false;
    return this.done;
  }

  private startClient(i: number): void {
    const { callers, source, now, maxRequests, errorBackoffMs } = this.opts;
    const call = callers[i % callers.length]!;
    let sentAt = 0;
    const issue = (): void => {
      if (!this.running) return this.finishClient();
      if (this.issued >= maxRequests) {
        this.running = false;
        return this.finishClient();
      }
      const req = source.next();
      if (req === undefined) return this.finishClient();
      this.issued++;
      sentAt = now();
      call(req, onDone);
    };
    const onDone = (err: Error | null): void => {
      const t = now();
      if (err === null) {
        this.totalOk++;
        if (this.measuring) {
          this.ok++;
          this.hist.record((t - sentAt) * 1000);
        }
        issue();
        return;
      }
      this.totalErrors++;
      if (this.measuring) this.errors++;
      if (this.firstError === undefined) this.firstError = err.message;
      setTimeout(issue, errorBackoffMs);
    };
    issue();
  }

  private finishClient(): void {
    this.finished++;
    if (this.finished === this.opts.clients) {
      if (this.measuring) {
        if (!this.windowClosed) this.measuredMs = this.opts.now() - this.measureStart;
        this.measuring = false;
      }
      this.running = false;
      this.resolveDone({
        ok: this.ok,
        errors: this.errors,
        totalOk: this.totalOk,
        totalErrors: this.totalErrors,
        firstError: this.firstError,
        measuredMs: this.measuredMs,
        hitMaxRequests: this.issued >= this.opts.maxRequests,
        histogram: this.hist.snapshot(),
      });
    }
  }
}
