/**
 * generate.ts (tests only): builds histories that are linearizable by construction. Each
 * operation gets a linearization point, strictly increasing along the list, and is applied to
 * the sequential model (model.ts) at that point; its call lies before the point and its return
 * after it, and a client's next call comes after its previous return (or after the time it gave
 * up on an unknown-outcome operation). An unknown-outcome operation (output undefined, return
 * Infinity) is applied at its point or not at all, as its spec says. Values written are unique.
 */
import type { Compare, Operation, Request, TxnRequestOp } from "../history.js";
import { apply, initialState, requestWrites, type KvState } from "../model.js";

/** OpKind is the shape of a generated request. */
export type OpKind =
  | "put"
  | "get"
  | "delete"
  | "cas"
  | "leaseGrant"
  | "leasePut"
  | "range"
  | "deleteRange"
  | "txnMulti"
  | "leaseRevoke";

/** SINGLE_KEY_KINDS touch at most one key each (the per-key layer applies). */
export const SINGLE_KEY_KINDS: readonly OpKind[] = ["put", "get", "delete", "cas", "leaseGrant", "leasePut"];
/** ALL_KINDS adds multi-key ranges and deletes, multi-key txns and lease revokes. */
export const ALL_KINDS: readonly OpKind[] = [...SINGLE_KEY_KINDS, "range", "deleteRange", "txnMulti", "leaseRevoke"];

/** OpSpec is one generated operation before it is built. */
export interface OpSpec {
  client: number;
  kind: OpKind;
  key: number;
  key2: number;
  /** gap: time from the previous linearization point to this one (>= 1). */
  gap: number;
  /** before / after: how long before its point the call is, after it the return is. */
  before: number;
  after: number;
  unknown: boolean;
  applied: boolean;
  /** choice: drives the small decisions (prevKv, compare kind, limit...). */
  choice: number;
  /** isolate: the operation runs alone: called after every earlier return, every later call after its return. */
  isolate?: boolean;
}

/** BuildOptions: the key names to use. */
export interface BuildOptions {
  keys: readonly string[];
}

/** mulberry32 is a small seeded PRNG for tests, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** randomSpecs draws `n` specs from `rand`. */
export function randomSpecs(
  rand: () => number,
  n: number,
  opts: { clients: number; keys: number; kinds: readonly OpKind[]; unknownRate: number; maxWidth?: number },
): OpSpec[] {
  const int = (k: number): number => Math.floor(rand() * k);
  const width = opts.maxWidth ?? 40;
  const specs: OpSpec[] = [];
  for (let i = 0; i < n; i++) {
    specs.push({
      client: int(opts.clients),
      kind: opts.kinds[int(opts.kinds.length)] as OpKind,
      key: int(opts.keys),
      key2: int(opts.keys),
      gap: 1 + int(10),
      before: int(width),
      after: int(width),
      unknown: rand() < opts.unknownRate,
      applied: rand() < 0.5,
      choice: int(1 << 20),
    });
  }
  return specs;
}

/** Built is a generated history with, per operation, the state its point saw. */
export interface Built {
  operations: Operation[];
  /** pointOf[i]: operation i's linearization point (Infinity when it was never applied). */
  pointOf: number[];
}

/** buildHistory turns specs into a linearizable history. */
export function buildHistory(specs: readonly OpSpec[], opts: BuildOptions): Built {
  let state = initialState();
  let t = 0;
  let values = 0;
  const free = new Map<number, number>();
  let floor = 0; // every later call comes after this (an isolated operation's return)
  const operations: Operation[] = [];
  const pointOf: number[] = [];
  for (const s of specs) {
    const clientFree = s.isolate === true ? Math.max(floor, ...free.values()) : Math.max(floor, free.get(s.client) ?? 0);
    t = Math.max(t + s.gap, clientFree + 1);
    const point = t;
    const call = s.isolate === true ? point : Math.max(clientFree + 1, point - s.before);
    const input = makeRequest(s, state, opts.keys, () => `v${++values}`);
    if (s.unknown) {
      if (s.applied) state = apply(state, input).next;
      operations.push({ client: s.client, call, return: Infinity, input, output: undefined });
      pointOf.push(s.applied ? point : Infinity);
      free.set(s.client, point + s.after);
    } else {
      const r = apply(state, input);
      state = r.next;
      const ret = point + s.after;
      operations.push({ client: s.client, call, return: ret, input, output: r.result });
      pointOf.push(point);
      free.set(s.client, ret);
      if (s.isolate === true) {
        floor = ret;
        t = ret;
      }
    }
  }
  return { operations, pointOf };
}

function pick<T>(xs: readonly T[], n: number): T {
  return xs[n % xs.length] as T;
}

function makeRequest(s: OpSpec, state: KvState, keys: readonly string[], value: () => string): Request {
  const key = pick(keys, s.key);
  const key2 = pick(keys, s.key2);
  const c = s.choice;
  const leases = [...state.leases];
  switch (s.kind) {
    case "put":
      return { type: "put", key, value: value(), ...(c % 3 === 0 ? { prevKv: true } : {}) };
    case "get":
      return { type: "range", key, ...(c % 7 === 0 ? { countOnly: true } : {}) };
    case "delete":
      return { type: "delete", key, ...(c % 2 === 0 ? { prevKv: true } : {}) };
    case "cas": {
      const kv = state.kvs.get(key);
      const targets = ["mod", "version", "value", "create"] as const;
      const target = pick(targets, c);
      const truthy = c % 5 !== 0;
      let cmpValue: string | number;
      if (target === "value") cmpValue = truthy && kv !== undefined ? kv.value : "nope";
      else {
        const have = kv === undefined ? 0 : target === "mod" ? kv.modRevision : target === "version" ? kv.version : kv.createRevision;
        cmpValue = truthy ? have : have + 1;
      }
      const compare: Compare[] = [{ key, target, result: "=", value: cmpValue }];
      const success: TxnRequestOp[] = [{ type: "put", key, value: value(), ...(c % 4 === 0 ? { prevKv: true } : {}) }];
      const failure: TxnRequestOp[] = [{ type: "range", key }];
      return { type: "txn", compare, success, failure };
    }
    case "leaseGrant":
      return { type: "leaseGrant", id: 1 + (c % 4), ttl: 3600 };
    case "leasePut": {
      const id = leases.length > 0 && c % 6 !== 0 ? pick(leases, c) : 1 + (c % 4);
      return { type: "put", key, value: value(), lease: id };
    }
    case "range": {
      const [lo, hi] = key <= key2 ? [key, key2] : [key2, key];
      const end = c % 3 === 0 ? "\0" : `${hi}\x00`;
      return { type: "range", key: lo, end, ...(c % 4 === 1 ? { limit: 1 + (c % 3) } : {}), ...(c % 11 === 0 ? { countOnly: true } : {}) };
    }
    case "deleteRange": {
      const [lo, hi] = key <= key2 ? [key, key2] : [key2, key];
      return { type: "delete", key: lo, end: `${hi}\x00`, ...(c % 2 === 0 ? { prevKv: true } : {}) };
    }
    case "txnMulti": {
      const kv = state.kvs.get(key);
      const have = kv?.version ?? 0;
      const compare: Compare[] = [{ key, target: "version", result: c % 3 === 0 ? ">" : "=", value: c % 2 === 0 ? have : have + 1 }];
      const other = key2 === key ? `${key2}x` : key2;
      const success: TxnRequestOp[] = [
        { type: "put", key: other, value: value() },
        { type: "range", key, end: "\0" },
      ];
      const failure: TxnRequestOp[] = [{ type: "delete", key: other, prevKv: true }, { type: "range", key: other }];
      return { type: "txn", compare, success, failure };
    }
    case "leaseRevoke": {
      const id = leases.length > 0 && c % 4 !== 0 ? pick(leases, c) : 1 + (c % 4);
      return { type: "leaseRevoke", id };
    }
  }
}

/** isWrite reports whether an operation may change state (anything but a range or a read-only txn). */
export function isWrite(op: Operation): boolean {
  return requestWrites(op.input);
}

/**
 * isolatedReads lists the known-output single-op ranges that overlap no operation that may
 * write (an unknown-outcome write overlaps everything after its call): their answer is fixed.
 */
export function isolatedReads(ops: readonly Operation[]): number[] {
  const writes = ops.filter(isWrite);
  const out: number[] = [];
  ops.forEach((op, i) => {
    if (op.input.type !== "range" || op.output === undefined) return;
    const overlaps = writes.some((w) => w.call <= op.return && op.call <= w.return);
    if (!overlaps) out.push(i);
  });
  return out;
}
