import { EventEmitter } from "node:events";
import { mvccpb } from "@etcd-ts/proto";
import { KeyValue } from "./key_value.js";
import type { Namespace } from "./namespace.js";
import type { Watch, WatchOptions, WatchResponse } from "./watch.js";

/**
 * WatchEvent is one change a watch reports: a put or a deletion of kv.key at `revision`.
 * A deletion's kv holds the key and the deletion's revision, no value; prevKv is the key
 * before the change, when asked for (prevKv) and the server still has it.
 */
export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
  prevKv: KeyValue | undefined;
  revision: bigint;
}

/** EtcdWatchOptions are the Client's WatchOptions that make sense for events (no fragments to see, no raw IDs). */
export type EtcdWatchOptions = Omit<WatchOptions, "fragment" | "watchId">;

/**
 * EtcdWatch is a watch as events: iterate it (`for await (const ev of w)`), or listen
 * (`w.on("put" | "delete" | "event", ev => ...)`, `"progress"` with the revision, `"error"`,
 * `"end"`) after `w.start()`; not both. It resumes after a broken connection on any endpoint
 * from the revision after the last one it reported, so no event is lost or repeated, and it
 * is never silent about its end: a canceled watch (a compacted start revision, the server
 * canceling, the client closing) throws from the iterator or emits "error". close() ends it.
 */
export class EtcdWatch extends EventEmitter implements AsyncIterable<WatchEvent> {
  /**
   * lastRevision is the revision of the last event handed out, or of the last progress
   * notification (0n before any): a new watch from lastRevision + 1 misses nothing after it.
   */
  lastRevision = 0n;
  /** error is why the watch ended, when it did not end by close() (also passed to "error" and "end"). */
  error: unknown = undefined;
  private pending: WatchEvent[] = [];
  private mode: "none" | "iterate" | "emit" = "none";

  /** @internal */
  constructor(
    private readonly watch: Watch,
    private readonly ns: Namespace,
  ) {
    super();
  }

  /** created resolves once the server confirmed the watch, with the revision it was created at (events come after it unless startRevision says otherwise). */
  get created(): Promise<bigint> {
    return this.watch.created.then((r) => r.header?.revision ?? 0n);
  }

  /** close ends the watch: the iterator finishes, or "end" is emitted. */
  close(): void {
    this.watch.cancel();
  }

  /**
   * start delivers the events to listeners: "put", "delete", "event" (either), "progress"
   * (the revision), "error" (why it ended, unless close() ended it), then "end" (with that
   * error, or undefined after close()). The error is also kept in `error`.
   */
  start(): this {
    this.claim("emit");
    void (async () => {
      try {
        for await (const ev of this.events()) {
          this.emit("event", ev);
          this.emit(ev.type, ev);
        }
      } catch (err) {
        this.error = err;
        // Without an "error" listener, emit would throw here; "end" and `error` still tell.
        if (this.listenerCount("error") > 0) this.emit("error", err);
      }
      this.emit("end", this.error);
    })();
    return this;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    this.claim("iterate");
    return this.events();
  }

  private claim(mode: "iterate" | "emit"): void {
    if (this.mode !== "none") throw new Error(`client: this watch is already consumed (${this.mode === "emit" ? "by start()" : "as an iterator"})`);
    this.mode = mode;
  }

  private async *events(): AsyncGenerator<WatchEvent, void, undefined> {
    try {
      for (;;) {
        const ev = this.pending.shift();
        if (ev !== undefined) {
          if (ev.revision > this.lastRevision) this.lastRevision = ev.revision;
          yield ev;
          continue;
        }
        let r: IteratorResult<WatchResponse>;
        try {
          r = await this.watch.next();
        } catch (err) {
          this.error = err;
          throw err;
        }
        if (r.done === true) return;
        this.take(r.value);
      }
    } finally {
      this.watch.cancel();
    }
  }

  private take(r: WatchResponse): void {
    const rev = r.header?.revision ?? 0n;
    if (r.progressNotify) {
      if (rev > this.lastRevision) this.lastRevision = rev;
      this.emit("progress", rev);
      return;
    }
    for (const e of r.events) {
      if (e.kv === undefined) continue;
      const kv = KeyValue.fromProto(e.kv, this.ns.strip);
      const prev = e.prevKv === undefined ? undefined : KeyValue.fromProto(e.prevKv, this.ns.strip);
      const type = e.type === mvccpb.Event_EventType.DELETE ? "delete" : "put";
      this.pending.push({ type, kv, prevKv: prev, revision: kv.modRevision });
    }
  }
}
