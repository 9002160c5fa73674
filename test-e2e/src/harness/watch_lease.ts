import { readFileSync } from "node:fs";
import type { Duplex } from "node:stream";
import type { Etcd3, IDuplexStream, IOptions, IWatchRequest, IWatchResponse, Watcher } from "etcd3";

/** sleep resolves after ms. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** withTimeout rejects with `what` when p has not settled after ms. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms}ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** vmRssKb is a process's resident set size in kB, from /proc/<pid>/status. */
export function vmRssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

type Backoff = { duration: number; next(): Backoff };

/**
 * constantBackoff is an etcd3 watch backoff that retries every ms milliseconds (etcd3's default
 * grows to 30 s, which would make a restart test wait on the client rather than the server).
 */
export function constantBackoff(ms: number): NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]> {
  const b: Backoff = { duration: ms, next: () => b };
  return b as unknown as NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>;
}

/** Seen is one watch event as a test records it. */
export interface Seen {
  type: "put" | "delete";
  key: string;
  value: string;
  modRev: bigint;
  createRev: bigint;
  version: bigint;
  lease: bigint;
  prevValue: string | undefined;
}

/**
 * EventLog records every event an etcd3 Watcher delivers, in delivery order, and lets a test
 * wait until a condition holds.
 */
export class EventLog {
  readonly events: Seen[] = [];
  readonly errors: Error[] = [];
  private waiters: (() => void)[] = [];

  constructor(readonly watcher: Watcher) {
    watcher.on("data", (res: IWatchResponse) => {
      for (const ev of res.events) {
        this.events.push({
          type: ev.type === "Put" ? "put" : "delete",
          key: ev.kv.key.toString(),
          value: ev.kv.value.toString(),
          modRev: BigInt(ev.kv.mod_revision),
          createRev: BigInt(ev.kv.create_revision),
          version: BigInt(ev.kv.version),
          lease: BigInt(ev.kv.lease),
          prevValue: ev.prev_kv === null || ev.prev_kv === undefined ? undefined : ev.prev_kv.value.toString(),
        });
      }
      this.wake();
    });
    watcher.on("error", (e: Error) => {
      this.errors.push(e);
      this.wake();
    });
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** waitFor resolves once cond() holds, checking after every delivery; it fails after ms. */
  async waitFor(cond: (events: Seen[]) => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond(this.events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms}ms waiting for ${what}; saw ${this.events.length} events: ${showEvents(this.events.slice(-10))}${this.errors.length > 0 ? `; errors: ${this.errors.map(String).join("; ")}` : ""}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** count waits until at least n events arrived. */
  count(n: number, ms: number): Promise<void> {
    return this.waitFor((e) => e.length >= n, ms, `${n} events`);
  }
}

/** showEvents renders events compactly for failure messages. */
export function showEvents(events: readonly Seen[]): string {
  return events.map((e) => `${e.type}:${e.key}@${e.modRev}`).join(" ");
}

/** RawWatchStream is etcd3's raw Watch stream (grpc-js underneath) with the recorded responses. */
export interface RawWatchStream {
  stream: IDuplexStream<IWatchRequest, IWatchResponse>;
  /** duplex is the same stream as a Node stream, to pause and resume reading. */
  duplex: Duplex;
  responses: IWatchResponse[];
  errors: Error[];
  /** until waits until cond holds over the responses so far (checked on every response). */
  until(cond: (rs: IWatchResponse[]) => boolean, ms: number, what: string): Promise<void>;
}

/** openRawWatch opens a Watch stream through an etcd3 client and records every response. */
export async function openRawWatch(client: Etcd3): Promise<RawWatchStream> {
  const stream = await client.watchClient.watch();
  const responses: IWatchResponse[] = [];
  const errors: Error[] = [];
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  };
  stream.on("data", (r) => {
    responses.push(r);
    wake();
  });
  stream.on("error", (e) => {
    errors.push(e);
    wake();
  });
  return {
    stream,
    duplex: stream as unknown as Duplex,
    responses,
    errors,
    async until(cond, ms, what) {
      const deadline = Date.now() + ms;
      while (!cond(responses)) {
        if (errors.length > 0) throw new Error(`watch stream failed while waiting for ${what}: ${errors.map(String).join("; ")}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out after ${ms}ms waiting for ${what} (${responses.length} responses so far)`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

/** prefixEnd is the range end that selects every key starting with prefix. */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] as number) < 0xff) {
      b[i] = (b[i] as number) + 1;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
