import { toBuffer, type Bytes } from "./bytes.js";
import type { Etcd } from "./etcd.js";
import type { KeyValue } from "./key_value.js";
import { compare, jsonBytes, op, type Compare, type Op } from "./ops.js";
import type { CallOptions } from "./options.js";

/**
 * Isolation is an STM's isolation level, as etcd's Go concurrency.STM has them:
 * - "serializable" (Go's SerializableSnapshot, the default): every read sees the store at
 *   the revision of the transaction's first read, and the commit fails (and the function runs
 *   again) if any key read or written changed after it;
 * - "repeatable-read" (Go's RepeatableReads): each key is read once, at its latest revision,
 *   and the commit fails if any key read changed since it was read.
 */
export type Isolation = "serializable" | "repeatable-read";

/** StmOptions configure Etcd.stm. */
export interface StmOptions extends CallOptions {
  isolation?: Isolation;
  /** maxAttempts bounds how often the function runs (default: until it commits, or the deadline or signal ends it). */
  maxAttempts?: number;
}

/** StmResult is what the function returned, with the commit's revision and how many attempts it took. */
export interface StmResult<T> {
  value: T;
  revision: bigint;
  attempts: number;
}

/** StmConflictError ends an STM that did not commit within maxAttempts. */
export class StmConflictError extends Error {
  constructor(readonly attempts: number) {
    super(`client: the transaction did not commit after ${attempts} attempts (conflicting writes)`);
  }
}

/**
 * Tx is an STM's view of the store inside the function: reads see the transaction's own
 * writes; writes are buffered and applied at commit, atomically, only if nothing the
 * isolation level watches changed.
 */
export interface Tx {
  /** get is key's value as a UTF-8 string (undefined: missing or deleted in this transaction). */
  get(key: Bytes): Promise<string | undefined>;
  getBytes(key: Bytes): Promise<Buffer | undefined>;
  getJSON<T = unknown>(key: Bytes): Promise<T | undefined>;
  /** modRevision is key's mod revision as read (0n: missing). */
  modRevision(key: Bytes): Promise<bigint>;
  put(key: Bytes, value: Bytes): void;
  putJSON(key: Bytes, value: unknown): void;
  delete(key: Bytes): void;
}

/** Read is what a transaction read of one key: its value and mod revision (0n when missing). */
interface Read {
  value: Buffer | undefined;
  modRevision: bigint;
}

/** runStm runs fn as a software transactional memory transaction over etcd (Etcd.stm). */
export async function runStm<T>(etcd: Etcd, fn: (tx: Tx) => Promise<T>, opts: StmOptions = {}): Promise<StmResult<T>> {
  const isolation = opts.isolation ?? "serializable";
  const max = opts.maxAttempts ?? Infinity;
  const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
  const call = (): CallOptions => {
    const o: CallOptions = {};
    if (opts.signal !== undefined) o.signal = opts.signal;
    if (deadline !== undefined) o.timeoutMs = Math.max(1, deadline - Date.now());
    return o;
  };
  for (let attempt = 1; ; attempt++) {
    const tx = new StmTx(etcd, isolation, call);
    const value = await fn(tx);
    const t = await etcd.txn().if(...tx.conflicts()).do(...tx.writes()).commit(call());
    if (t.succeeded) return { value, revision: t.revision, attempts: attempt };
    if (attempt >= max) throw new StmConflictError(attempt);
  }
}

class StmTx implements Tx {
  private readonly reads = new Map<string, Read>();
  /** written holds the buffered writes by key (hex): a value, or null for a deletion. */
  private readonly written = new Map<string, { key: Buffer; value: Buffer | null }>();
  /** snapshot is the revision every read uses under "serializable" (set by the first read). */
  private snapshot = 0n;
  /** firstRead is the read that sets the snapshot; reads made meanwhile wait for it. */
  private firstRead: Promise<unknown> | undefined;

  constructor(
    private readonly etcd: Etcd,
    private readonly isolation: Isolation,
    private readonly call: () => CallOptions,
  ) {}

  async get(key: Bytes): Promise<string | undefined> {
    return (await this.getBytes(key))?.toString("utf8");
  }

  async getJSON<T = unknown>(key: Bytes): Promise<T | undefined> {
    const b = await this.getBytes(key);
    return b === undefined ? undefined : (JSON.parse(b.toString("utf8")) as T);
  }

  async getBytes(key: Bytes): Promise<Buffer | undefined> {
    const k = toBuffer(key);
    const w = this.written.get(k.toString("hex"));
    if (w !== undefined) return w.value ?? undefined;
    return (await this.read(k)).value;
  }

  async modRevision(key: Bytes): Promise<bigint> {
    return (await this.read(toBuffer(key))).modRevision;
  }

  put(key: Bytes, value: Bytes): void {
    const k = Buffer.from(toBuffer(key));
    this.written.set(k.toString("hex"), { key: k, value: Buffer.from(toBuffer(value)) });
  }

  putJSON(key: Bytes, value: unknown): void {
    this.put(key, jsonBytes(value));
  }

  delete(key: Bytes): void {
    const k = Buffer.from(toBuffer(key));
    this.written.set(k.toString("hex"), { key: k, value: null });
  }

  /** conflicts are the compares that must hold for the commit. */
  conflicts(): Compare[] {
    const out: Compare[] = [];
    for (const [hex, r] of this.reads) out.push(compare.modRevision(Buffer.from(hex, "hex"), "==", r.modRevision));
    if (this.isolation === "serializable" && this.snapshot !== 0n) {
      // A key written but not read must not have changed since the snapshot either.
      for (const [hex, w] of this.written) if (!this.reads.has(hex)) out.push(compare.modRevision(w.key, "<", this.snapshot + 1n));
    }
    return out;
  }

  /** writes are the buffered writes as transaction operations. */
  writes(): Op[] {
    return [...this.written.values()].map((w) => (w.value === null ? op.delete(w.key) : op.put(w.key, w.value)));
  }

  private async read(k: Buffer): Promise<Read> {
    const hex = k.toString("hex");
    const seen = this.reads.get(hex);
    if (seen !== undefined) return seen;
    if (this.isolation === "serializable" && this.snapshot === 0n) {
      if (this.firstRead === undefined) {
        const first = this.etcd.range(k, this.call());
        this.firstRead = first;
        const r = await first;
        this.snapshot = r.revision;
        return this.remember(hex, r.kvs[0]);
      }
      await this.firstRead.catch(() => undefined);
      if (this.snapshot === 0n) throw new Error("client: the transaction's first read failed");
    }
    const again = this.reads.get(hex);
    if (again !== undefined) return again;
    const r = await this.etcd.range(k, { ...this.call(), revision: this.snapshot });
    return this.remember(hex, r.kvs[0]);
  }

  private remember(hex: string, kv: KeyValue | undefined): Read {
    const seen = this.reads.get(hex);
    if (seen !== undefined) return seen;
    const read: Read = { value: kv?.value, modRevision: kv?.modRevision ?? 0n };
    this.reads.set(hex, read);
    return read;
  }
}
