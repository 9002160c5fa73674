/**
 * watch.ts is the watch fan-out workload: W watchers on one key prefix, spread over S
 * Watch streams (one stream per connection, W/S watchers on each, as clientv3 multiplexes
 * the watchers of one client on one stream), and a fixed number of closed-loop put
 * clients writing under that prefix. It measures events received per second across all
 * watchers, and each event's delivery latency: from the moment its put was sent (the
 * send time travels in the first 8 bytes of the value) to the moment the watcher has it,
 * so it includes the put's own commit. It checks that every watcher receives every
 * acknowledged put exactly once, in revision order: lost, duplicated and unexpected events
 * are counted over the whole run and reported as errors.
 */
import type { Channel, StreamCall } from "./channel.js";
import { toWire } from "./channel.js";
import { LatencyHistogram, type HistogramSnapshot } from "./histogram.js";
import { ClosedLoop, RandomSource, type LoopResult, type UnaryCaller } from "./loop.js";
import { headerRevision, PbReader, revisionOf, WIRE_LEN, WIRE_VARINT } from "./pb.js";
import { PUT_PATH, WATCH_PATH } from "./requests.js";

/**
 * WatchResponseScan reads one WatchResponse in place: the scalar fields by parse(), the
 * events by forEachEvent() (mod_revision and the value's bounds, nothing copied).
 */
export class WatchResponseScan {
  watchId = 0;
  created = false;
  canceled = false;
  compactRevision = 0;
  cancelReason = "";
  /** revision is the response header's revision. */
  revision = 0;
  /** events is the number of events in the response. */
  events = 0;
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;

  parse(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.watchId = 0;
    this.created = false;
    this.canceled = false;
    this.compactRevision = 0;
    this.cancelReason = "";
    this.revision = 0;
    this.events = 0;
    const r = new PbReader(buf, start, end);
    while (r.next()) {
      switch (r.field) {
        case 1:
          if (r.wire === WIRE_LEN) {
            const e = r.len();
            this.revision = revisionOf(buf, r.lenStart, e);
          }
          break;
        case 2:
          if (r.wire === WIRE_VARINT) this.watchId = r.varint();
          break;
        case 3:
          if (r.wire === WIRE_VARINT) this.created = r.varint() !== 0;
          break;
        case 4:
          if (r.wire === WIRE_VARINT) this.canceled = r.varint() !== 0;
          break;
        case 5:
          if (r.wire === WIRE_VARINT) this.compactRevision = r.varint();
          break;
        case 6:
          if (r.wire === WIRE_LEN) {
            const e = r.len();
            this.cancelReason = buf.toString("utf8", r.lenStart, e);
          }
          break;
        case 11:
          if (r.wire === WIRE_LEN) this.events++;
          break;
      }
    }
  }

  /**
   * forEachEvent calls fn for each event of the response last parsed with its kv's
   * mod_revision and the bounds of its value in buf (0 when absent).
   */
  forEachEvent(fn: (modRevision: number, buf: Buffer, valueStart: number, valueEnd: number) => void): void {
    const buf = this.buf;
    const r = new PbReader(buf, this.start, this.end);
    while (r.next()) {
      if (r.field !== 11 || r.wire !== WIRE_LEN) continue;
      const ee = r.len();
      const ev = new PbReader(buf, r.lenStart, ee);
      let modRev = 0;
      let vs = 0;
      let ve = 0;
      while (ev.next()) {
        if (ev.field !== 2 || ev.wire !== WIRE_LEN) continue;
        const ke = ev.len();
        const kv = new PbReader(buf, ev.lenStart, ke);
        while (kv.next()) {
          if (kv.field === 3 && kv.wire === WIRE_VARINT) modRev = kv.varint();
          else if (kv.field === 5 && kv.wire === WIRE_LEN) {
            ve = kv.len();
            vs = kv.lenStart;
          }
        }
      }
      fn(modRev, buf, vs, ve);
    }
  }
}

/** DeliveryTally is what a DeliveryLedger found. Every count is in events (one event to one watcher). */
export interface DeliveryTally {
  /** expected is acknowledged puts x watchers. */
  expected: number;
  /** delivered counts events received in revision order (each at most once per watcher). */
  delivered: number;
  /** lost counts acknowledged puts a watcher never received. */
  lost: number;
  /** duplicated counts events a watcher received again, or after a later revision. */
  duplicated: number;
  /** unexpected counts events for revisions no acknowledged put made (e.g. a put whose answer was lost). */
  unexpected: number;
  /** untrackedAcks counts acknowledged revisions outside the ledger's range (none in a sane run). */
  untrackedAcks: number;
}

/**
 * DeliveryLedger accounts for every event against the puts that made them: per revision,
 * whether a put was acknowledged with it and how many watchers received it; per watcher,
 * the last revision received. Memory is 3 bytes per revision of the run, bounded by
 * `capacity` revisions above `base`.
 */
export class DeliveryLedger {
  private acks: Uint8Array;
  private counts: Uint16Array;
  private readonly last: Float64Array;
  private size = 0;
  private ackedCount = 0;
  private duplicated = 0;
  private outOfRange = 0;
  private untrackedAcks = 0;
  /** maxAcked is the highest acknowledged revision (0 before the first). */
  maxAcked = 0;

  /**
   * base is the first revision puts can make (one above the watchers' creation revision);
   * capacity bounds the revisions tracked.
   */
  constructor(
    readonly watchers: number,
    readonly base: number,
    private readonly capacity: number,
  ) {
    if (watchers < 1 || watchers > 0xffff) throw new Error(`bench: a delivery ledger tracks 1..65535 watchers, not ${watchers}`);
    this.acks = new Uint8Array(1024);
    this.counts = new Uint16Array(1024);
    this.last = new Float64Array(watchers);
  }

  private grow(i: number): boolean {
    if (i < 0 || i >= this.capacity) return false;
    if (i >= this.acks.length) {
      let n = this.acks.length;
      while (n <= i) n *= 2;
      n = Math.min(n, this.capacity);
      const a = new Uint8Array(n);
      a.set(this.acks);
      const c = new Uint16Array(n);
      c.set(this.counts);
      this.acks = a;
      this.counts = c;
    }
    if (i >= this.size) this.size = i + 1;
    return true;
  }

  /** acked records that a put was acknowledged with revision rev. */
  acked(rev: number): void {
    const i = rev - this.base;
    if (!this.grow(i)) {
      this.untrackedAcks++;
      return;
    }
    if (this.acks[i] === 0) {
      this.acks[i] = 1;
      this.ackedCount++;
    }
    if (rev > this.maxAcked) this.maxAcked = rev;
  }

  /**
   * deliver records that watcher w received the event of revision rev; false when it is a
   * duplicate (not above the watcher's last revision), which is counted and otherwise
   * ignored.
   */
  deliver(w: number, rev: number): boolean {
    if (rev <= this.last[w]!) {
      this.duplicated++;
      return false;
    }
    this.last[w] = rev;
    const i = rev - this.base;
    if (this.grow(i)) this.counts[i]!++;
    else this.outOfRange++;
    return true;
  }

  /** caughtUp is true when every watcher has received up to the last acknowledged revision. */
  caughtUp(): boolean {
    for (let w = 0; w < this.watchers; w++) if (this.last[w]! < this.maxAcked) return false;
    return true;
  }

  tally(): DeliveryTally {
    const W = this.watchers;
    let delivered = this.outOfRange;
    let lost = 0;
    let unexpected = this.outOfRange;
    for (let i = 0; i < this.size; i++) {
      const c = this.counts[i]!;
      delivered += c;
      if (this.acks[i] === 1) lost += W - c;
      else unexpected += c;
    }
    return {
      expected: this.ackedCount * W,
      delivered,
      lost,
      duplicated: this.duplicated,
      unexpected,
      untrackedAcks: this.untrackedAcks,
    };
  }
}

/** WatchCounts is what a watch run adds to its LoopResult (whose counts are events). */
export interface WatchCounts {
  watchers: number;
  streams: number;
  writers: number;
  /** puts and putErrors count the writers' puts completed inside the measured window. */
  puts: number;
  putErrors: number;
  /** putHistogram holds the window's put latencies (send to answer), in microseconds. */
  putHistogram: HistogramSnapshot;
  /** putMeasuredMs is the writers' measured window. */
  putMeasuredMs: number;
  tally: DeliveryTally;
  /** drainMs is how long after the puts stopped every watcher had every event (-1: never, within the bound). */
  drainMs: number;
  /** failure is why the watch part failed (a stream ended, a watcher was cancelled), if it did. */
  failure: string | undefined;
}

/** WatchFanoutOptions configures a WatchFanout. */
export interface WatchFanoutOptions {
  /** watchChannels carry one Watch stream each; watcher k goes on stream k mod S. */
  watchChannels: readonly Channel[];
  /** writerChannels carry the put clients; writer i uses channel i mod length. */
  writerChannels: readonly Channel[];
  watchers: number;
  writers: number;
  /** createRequest is the bare WatchRequest creating one watcher on the prefix. */
  createRequest: Buffer;
  /** puts are bare PutRequests under the prefix whose value is their last valueSize bytes. */
  puts: readonly Buffer[];
  valueSize: number;
  seed: number;
  /** now returns the time in milliseconds (fractional), the same clock for puts and events. */
  now: () => number;
  maxRequests: number;
  errorBackoffMs: number;
  /** createTimeoutMs bounds waiting for every watcher to be created. */
  createTimeoutMs: number;
  /** drainTimeoutMs bounds waiting, after the puts stop, for every watcher to catch up. */
  drainTimeoutMs: number;
}

/** TIMESTAMP_BYTES is the size of the send time written at the start of each put's value. */
const TIMESTAMP_BYTES = 8;

/**
 * stampedPut copies a bare PutRequest into the channel's format and writes `t` (float64 LE)
 * over the first 8 bytes of its value, which is the request's last valueSize bytes.
 */
export function stampedPut(put: Buffer, valueSize: number, framed: boolean, t: number): Buffer {
  const b = toWire({ framed }, put);
  if (valueSize >= TIMESTAMP_BYTES) b.writeDoubleLE(t, b.length - valueSize);
  return b;
}

/** StreamState is one Watch stream and the watchers created on it. */
interface WatchStreamState {
  call: StreamCall;
  /** pending are the watchers whose create request awaits its answer, in order. */
  pending: number[];
  /** byId maps the server's watch IDs to watcher numbers. */
  byId: Map<number, number>;
}

/**
 * WatchFanout runs one watch workload on open channels: create() opens the streams and
 * waits until every watcher is created; start() sets the writers going; measure() opens
 * the measured window; stop() closes it, waits for the writers and then for the watchers
 * to catch up (bounded), and returns the counts. close() cancels everything.
 */
export class WatchFanout {
  private readonly streams: WatchStreamState[] = [];
  private readonly scan = new WatchResponseScan();
  private readonly hist = new LatencyHistogram();
  private ledger: DeliveryLedger | undefined;
  private writerLoop: ClosedLoop | undefined;
  private started = false;
  private measuring = false;
  private measureStart = 0;
  private measuredMs = 0;
  private windowEvents = 0;
  private totalEvents = 0;
  private failure: string | undefined;
  private created = 0;
  private minCreatedRev = Infinity;
  private onCreated: (() => void) | undefined;
  private onFailure: ((err: Error) => void) | undefined;
  private closed = false;
  /** current is the watcher whose response is being scanned (read by the event callback). */
  private current = 0;
  private msgTime = 0;
  private readonly onEvent = (modRev: number, buf: Buffer, vs: number, ve: number): void => {
    if (!this.ledger!.deliver(this.current, modRev)) return;
    this.totalEvents++;
    if (!this.measuring) return;
    this.windowEvents++;
    if (ve - vs >= TIMESTAMP_BYTES) {
      const lat = this.msgTime - buf.readDoubleLE(vs);
      this.hist.record(lat > 0 ? lat * 1000 : 0);
    }
  };

  private constructor(private readonly o: WatchFanoutOptions) {}

  /** create opens the streams and creates every watcher; rejects on a refusal or after createTimeoutMs. */
  static async create(o: WatchFanoutOptions): Promise<WatchFanout> {
    if (o.watchChannels.length === 0 || o.writerChannels.length === 0) throw new Error("bench: watch needs stream and writer channels");
    if (o.watchers < 1 || o.writers < 1) throw new Error("bench: watch needs at least one watcher and one writer");
    const f = new WatchFanout(o);
    try {
      await f.open();
    } catch (err) {
      f.close();
      throw err;
    }
    return f;
  }

  private open(): Promise<void> {
    const o = this.o;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`bench: ${this.created} of ${o.watchers} watchers created after ${o.createTimeoutMs} ms`)),
        o.createTimeoutMs,
      );
      this.onCreated = () => {
        clearTimeout(timer);
        resolve();
      };
      this.onFailure = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      o.watchChannels.forEach((ch, j) => {
        const st: WatchStreamState = { call: undefined as unknown as StreamCall, pending: [], byId: new Map() };
        st.call = ch.stream(WATCH_PATH, {
          onMessage: (buf, s, e) => this.onMessage(st, buf, s, e),
          onEnd: (err, messages) => this.fail(`watch stream ${j} to ${ch.target} ended after ${messages} messages: ${err.message}`),
        });
        this.streams.push(st);
      });
      const create = o.watchChannels.map((ch) => toWire(ch, o.createRequest));
      for (let k = 0; k < o.watchers; k++) {
        const j = k % this.streams.length;
        this.streams[j]!.pending.push(k);
        this.streams[j]!.call.send(create[j]!);
      }
    });
  }

  private fail(msg: string): void {
    if (this.closed) return;
    this.failure ??= msg;
    const f = this.onFailure;
    this.onFailure = undefined;
    f?.(new Error(`bench: ${msg}`));
  }

  private onMessage(st: WatchStreamState, buf: Buffer, start: number, end: number): void {
    const s = this.scan;
    try {
      s.parse(buf, start, end);
    } catch (err) {
      this.fail(`undecodable watch response: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (s.created) {
      const k = st.pending.shift();
      if (k === undefined) return this.fail(`a "created" answer (watch ID ${s.watchId}) nobody asked for`);
      if (s.canceled) return this.fail(`watch create refused: ${s.cancelReason || "canceled"}`);
      if (s.revision <= 0) return this.fail(`the "created" answer of watch ${s.watchId} has no header revision`);
      st.byId.set(s.watchId, k);
      this.minCreatedRev = Math.min(this.minCreatedRev, s.revision);
      if (++this.created === this.o.watchers) this.allCreated();
    } else if (s.canceled) {
      return this.fail(
        `watch ${s.watchId} canceled by the server: ${s.cancelReason || "no reason"}` +
          (s.compactRevision > 0 ? ` (compact revision ${s.compactRevision})` : ""),
      );
    }
    if (s.events === 0) return;
    const k = st.byId.get(s.watchId);
    if (k === undefined || this.ledger === undefined) {
      return this.fail(`events for watch ID ${s.watchId}, which this stream did not create`);
    }
    this.current = k;
    this.msgTime = this.o.now();
    try {
      s.forEachEvent(this.onEvent);
    } catch (err) {
      this.fail(`undecodable watch event: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private allCreated(): void {
    const o = this.o;
    // Every revision a put makes from now on is above every watcher's creation revision.
    this.ledger = new DeliveryLedger(o.watchers, this.minCreatedRev + 1, o.maxRequests + 1_000_000);
    const ledger = this.ledger;
    const callers: UnaryCaller[] = o.writerChannels.map((ch) => (put, done) => {
      ch.call(PUT_PATH, stampedPut(put, o.valueSize, ch.framed, o.now()), (err, res) => {
        if (err !== null || res === undefined) return done(err ?? new Error("bench: Put: empty answer"));
        const rev = headerRevision(res, 0, res.length);
        if (rev <= 0) return done(new Error("bench: Put answered no header revision"));
        ledger.acked(rev);
        done(null);
      });
    });
    this.writerLoop = new ClosedLoop({
      callers,
      clients: o.writers,
      source: new RandomSource(o.puts, o.seed),
      now: o.now,
      maxRequests: o.maxRequests,
      errorBackoffMs: o.errorBackoffMs,
    });
    this.onFailure = undefined;
    this.onCreated?.();
  }

  /** start sets the put clients going. */
  start(): void {
    this.started = true;
    this.writerLoop!.start();
  }

  /** measure opens the measured window. */
  measure(): void {
    this.hist.reset();
    this.windowEvents = 0;
    this.measuring = true;
    this.measureStart = this.o.now();
    this.writerLoop!.measure();
  }

  /**
   * stop closes the window, lets the writers finish, waits up to drainTimeoutMs for every
   * watcher to have every acknowledged revision, and returns the event counts (as a
   * LoopResult) with the watch details.
   */
  async stop(): Promise<{ result: LoopResult; watch: WatchCounts }> {
    const o = this.o;
    if (this.measuring) {
      this.measuredMs = o.now() - this.measureStart;
      this.measuring = false;
    }
    const puts: LoopResult = this.started
      ? await this.writerLoop!.stop()
      : { ok: 0, errors: 0, totalOk: 0, totalErrors: 0, firstError: undefined, measuredMs: 0, hitMaxRequests: false, histogram: new LatencyHistogram().snapshot() };
    const ledger = this.ledger!;
    const t0 = o.now();
    let drainMs = -1;
    while (this.failure === undefined) {
      if (ledger.caughtUp()) {
        drainMs = o.now() - t0;
        break;
      }
      if (o.now() - t0 >= o.drainTimeoutMs) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const tally = ledger.tally();
    const bad = tally.lost + tally.duplicated + tally.unexpected + tally.untrackedAcks;
    let firstError = this.failure;
    if (firstError === undefined && bad > 0) {
      firstError =
        `of ${tally.expected} events (${tally.expected / o.watchers} puts x ${o.watchers} watchers) ` +
        `${tally.lost} lost, ${tally.duplicated} duplicated, ${tally.unexpected} unexpected` +
        (tally.untrackedAcks > 0 ? `, ${tally.untrackedAcks} put revisions out of range` : "") +
        (drainMs < 0 ? ` (not all delivered ${o.drainTimeoutMs} ms after the puts stopped)` : "");
    }
    firstError ??= puts.firstError;
    const result: LoopResult = {
      ok: this.windowEvents,
      errors: puts.errors + bad + (this.failure !== undefined ? 1 : 0),
      totalOk: this.totalEvents,
      totalErrors: puts.totalErrors + bad + (this.failure !== undefined ? 1 : 0),
      firstError,
      measuredMs: this.measuredMs,
      hitMaxRequests: puts.hitMaxRequests,
      histogram: this.hist.snapshot(),
    };
    const watch: WatchCounts = {
      watchers: o.watchers,
      streams: this.streams.length,
      writers: o.writers,
      puts: puts.ok,
      putErrors: puts.errors,
      putHistogram: puts.histogram,
      putMeasuredMs: puts.measuredMs,
      tally,
      drainMs,
      failure: this.failure,
    };
    return { result, watch };
  }

  /** close cancels every stream; the channels stay open (their owner closes them). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.call.cancel();
  }
}
