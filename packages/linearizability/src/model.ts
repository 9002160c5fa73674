/**
 * model.ts: the sequential etcd KV model the linearizability search replays histories against.
 * It follows etcd 3.4's apply layer (`etcdserver/apply.go`) and mvcc:
 *
 * - A fresh etcd is at revision 1; every request that writes creates exactly one new revision
 *   (all the writes of one txn, one delete range or one lease revoke share it); a request that
 *   writes nothing (a range, a delete that matched no key, a read-only or no-op txn, a lease
 *   grant, a revoke of a lease without keys) leaves the revision as it is.
 * - A put sets modRevision to the new revision, version to old version + 1 (1 on create) and
 *   createRevision on create; it attaches the key to its lease (0: none), detaching it from the
 *   lease it had. A put naming a lease that does not exist fails with "lease not found" and
 *   changes nothing (in a txn: the whole txn fails, as etcd's checkRequests does before apply).
 * - A response header carries the revision after the request.
 * - etcd refuses a txn that writes one key twice ("duplicate key given in txn request") before
 *   it reaches the apply layer; the model does not check for it and runs such a txn's ops in
 *   order (a recorder should not generate them).
 * - Lease expiry is not modelled: a run's leases must outlive it (grant TTLs longer than the
 *   run), or the server's own revokes would look like lost keys.
 *
 * States are immutable: `apply` and `step` return a new state and never change their argument,
 * so the search can keep states on its backtracking stack and in its cache.
 */
import type {
  Compare,
  DeleteOp,
  DeleteResult,
  KeyValue,
  PutOp,
  PutResult,
  RangeOp,
  RangeResult,
  Request,
  Result,
  TxnOp,
  TxnOpResult,
  TxnRequestOp,
} from "./history.js";
import { compareKeys, inRange, isSingleKey } from "./keys.js";

/**
 * KvState is the model's state: the current revision, every live key's KeyValue (its `lease`
 * field is the key's lease attachment) and the set of live lease IDs. `kvSum` and `leaseSum`
 * are sums (mod 2^32) of per-entry hashes, kept incrementally so that hashing a state is O(1).
 */
export interface KvState {
  readonly revision: number;
  readonly kvs: ReadonlyMap<string, KeyValue>;
  readonly leases: ReadonlySet<number>;
  readonly kvSum: number;
  readonly leaseSum: number;
}

/** INITIAL_REVISION is a fresh etcd's revision: its first write gets revision 2. */
export const INITIAL_REVISION = 1;

/** initialState is a fresh etcd: no keys, no leases, revision 1. */
export function initialState(): KvState {
  return { revision: INITIAL_REVISION, kvs: new Map(), leases: new Set(), kvSum: 0, leaseSum: 0 };
}

/** Applied is what one request does to a state: etcd's answer and the state after it. */
export interface Applied {
  result: Result;
  next: KvState;
  /** wrote: the request created a new revision. */
  wrote: boolean;
}

/** StepOutcome is the search's view of one step: whether the recorded answer is etcd's. */
export interface StepOutcome {
  ok: boolean;
  /** next is the state after the request when ok (the unchanged state otherwise). */
  next: KvState;
  /** expected is the answer the model gives in this state. */
  expected: Result;
}

/**
 * step applies `request` to `state` and compares the model's answer with the recorded
 * `output`. An unknown output (undefined) matches any answer: the request is applied as if it
 * succeeded (an unknown request that never took effect is the same as one linearized after
 * every other, which the search allows since its return time is Infinity). With
 * `persistedRevision` set (see Operation.persistedRevision) the request must have written, at
 * exactly that revision. The comparison is exact on every recorded field (resultEqual).
 */
export function step(
  state: KvState,
  request: Request,
  output: Result | undefined,
  persistedRevision?: number,
): StepOutcome {
  // Cheap rejections before building a new state: a known write's revision is fixed.
  if (output !== undefined && output.type === "put" && request.type === "put") {
    if (output.revision !== state.revision + 1) {
      return { ok: false, next: state, expected: apply(state, request).result };
    }
  }
  const applied = apply(state, request);
  if (output === undefined) {
    const ok = persistedRevision === undefined || (applied.wrote && applied.next.revision === persistedRevision);
    return { ok, next: ok ? applied.next : state, expected: applied.result };
  }
  const ok = resultEqual(applied.result, output);
  return { ok, next: ok ? applied.next : state, expected: applied.result };
}

/** apply runs one request against `state` as etcd would, returning its answer and the next state. */
export function apply(state: KvState, request: Request): Applied {
  switch (request.type) {
    case "range": {
      const w = new Work(state);
      return { result: range(w, request, state.revision), next: state, wrote: false };
    }
    case "put": {
      const lease = request.lease ?? 0;
      if (lease !== 0 && !state.leases.has(lease)) return unchanged(state, { type: "error", error: "lease not found" });
      const w = new Work(state);
      const rev = state.revision + 1;
      const r = put(w, request, rev);
      r.revision = rev;
      return { result: r, next: w.finish(rev), wrote: true };
    }
    case "delete": {
      const w = new Work(state);
      const rev = state.revision + 1;
      const r = del(w, request, rev);
      const after = w.changed ? rev : state.revision;
      r.revision = after;
      return { result: r, next: w.changed ? w.finish(rev) : state, wrote: w.changed };
    }
    case "txn":
      return txn(state, request);
    case "leaseGrant": {
      if (state.leases.has(request.id)) return unchanged(state, { type: "error", error: "lease already exists" });
      const leases = new Set(state.leases);
      leases.add(request.id);
      const next: KvState = { ...state, leases, leaseSum: (state.leaseSum + leaseHash(request.id)) >>> 0 };
      return { result: { type: "leaseGrant", revision: state.revision }, next, wrote: false };
    }
    case "leaseRevoke": {
      if (!state.leases.has(request.id)) return unchanged(state, { type: "error", error: "lease not found" });
      const w = new Work(state);
      const rev = state.revision + 1;
      const attached: string[] = [];
      for (const kv of state.kvs.values()) if (kv.lease === request.id) attached.push(kv.key);
      attached.sort(compareKeys);
      for (const key of attached) w.delete(key);
      w.dropLease(request.id);
      const after = w.changed ? rev : state.revision;
      return { result: { type: "leaseRevoke", revision: after }, next: w.finish(after), wrote: w.changed };
    }
  }
}

function unchanged(state: KvState, result: Result): Applied {
  return { result, next: state, wrote: false };
}

/**
 * txn runs etcd's Txn: compares are evaluated against the state before the txn, the chosen
 * branch's puts must name existing leases (else the whole txn fails with "lease not found"),
 * then its ops run in order on one working state, every write at the one new revision, a range
 * seeing the earlier writes of the txn. Op results carry revision 0 (the field is unused).
 */
function txn(state: KvState, request: TxnOp): Applied {
  const succeeded = request.compare.every((c) => compare(state.kvs.get(c.key), c));
  const ops = succeeded ? request.success : request.failure;
  for (const op of ops) {
    if (op.type === "put" && (op.lease ?? 0) !== 0 && !state.leases.has(op.lease ?? 0)) {
      return unchanged(state, { type: "error", error: "lease not found" });
    }
  }
  const w = new Work(state);
  const rev = state.revision + 1;
  const results: TxnOpResult[] = [];
  for (const op of ops) results.push(txnOp(w, op, rev));
  const after = w.changed ? rev : state.revision;
  return {
    result: { type: "txn", revision: after, succeeded, results },
    next: w.changed ? w.finish(rev) : state,
    wrote: w.changed,
  };
}

function txnOp(w: Work, op: TxnRequestOp, rev: number): TxnOpResult {
  switch (op.type) {
    case "put":
      return put(w, op, rev);
    case "delete":
      return del(w, op, rev);
    case "range":
      return range(w, op, 0);
  }
}

/**
 * compare is etcd 3.4's applyCompare for one key: a missing key compares as a KeyValue of
 * zeroes (version, create, mod and lease 0), except that a compare of its value always fails
 * ("nil == empty string in grpc; no way to represent missing value").
 */
export function compare(kv: KeyValue | undefined, c: Compare): boolean {
  let r: number;
  if (c.target === "value") {
    if (kv === undefined) return false;
    const want = typeof c.value === "string" ? c.value : String(c.value);
    r = kv.value < want ? -1 : kv.value > want ? 1 : 0;
  } else {
    const want = typeof c.value === "number" ? c.value : Number(c.value);
    let have = 0;
    if (kv !== undefined) {
      have =
        c.target === "version"
          ? kv.version
          : c.target === "create"
            ? kv.createRevision
            : c.target === "mod"
              ? kv.modRevision
              : kv.lease;
    }
    r = have < want ? -1 : have > want ? 1 : 0;
  }
  return relationHolds(c.result, r);
}

/** relationHolds tells whether an ordering r (negative, zero, positive: have vs want) satisfies a compare's result. */
export function relationHolds(result: Compare["result"], r: number): boolean {
  switch (result) {
    case "=":
      return r === 0;
    case "!=":
      return r !== 0;
    case "<":
      return r < 0;
    case ">":
      return r > 0;
  }
}

/** put writes one key at revision `rev` (the caller checked its lease). revision: 0 (set by the caller). */
function put(w: Work, op: PutOp, rev: number): PutResult {
  const old = w.get(op.key);
  const kv: KeyValue = {
    key: op.key,
    value: op.value,
    createRevision: old === undefined ? rev : old.createRevision,
    modRevision: rev,
    version: old === undefined ? 1 : old.version + 1,
    lease: op.lease ?? 0,
  };
  w.set(kv);
  const r: PutResult = { type: "put", revision: 0 };
  if (op.prevKv === true && old !== undefined) r.prevKv = old;
  return r;
}

/** del deletes every key of [key, end) in the working state. revision: 0 (set by the caller). */
function del(w: Work, op: DeleteOp, _rev: number): DeleteResult {
  const victims = w.range(op.key, op.end);
  for (const kv of victims) w.delete(kv.key);
  const r: DeleteResult = { type: "delete", revision: 0, deleted: victims.length };
  if (op.prevKv === true) r.prevKvs = victims;
  return r;
}

/** range reads [key, end) from the working state, as etcd's Range with revision 0, no sort. */
function range(w: Work, op: RangeOp, revision: number): RangeResult {
  const all = w.range(op.key, op.end);
  const count = all.length;
  if (op.countOnly === true) return { type: "range", revision, kvs: [], count, more: false };
  const limit = op.limit ?? 0;
  const kvs = limit > 0 && all.length > limit ? all.slice(0, limit) : all;
  return { type: "range", revision, kvs, count, more: count > kvs.length };
}

/**
 * Work is a copy-on-write view of a state for the duration of one request: the first write
 * copies the key map (and the lease set when a lease is dropped), the sums follow each change.
 */
class Work {
  private kvs: Map<string, KeyValue> | undefined;
  private leases: Set<number> | undefined;
  private kvSum: number;
  private leaseSum: number;
  changed = false;

  constructor(private readonly base: KvState) {
    this.kvSum = base.kvSum;
    this.leaseSum = base.leaseSum;
  }

  private view(): ReadonlyMap<string, KeyValue> {
    return this.kvs ?? this.base.kvs;
  }

  get(key: string): KeyValue | undefined {
    return this.view().get(key);
  }

  /** range lists the live keys of [key, end) in key order. */
  range(key: string, end: string | undefined): KeyValue[] {
    const view = this.view();
    if (isSingleKey(end)) {
      const kv = view.get(key);
      return kv === undefined ? [] : [kv];
    }
    const out: KeyValue[] = [];
    for (const kv of view.values()) if (inRange(key, end, kv.key)) out.push(kv);
    out.sort((a, b) => compareKeys(a.key, b.key));
    return out;
  }

  private mutable(): Map<string, KeyValue> {
    if (this.kvs === undefined) this.kvs = new Map(this.base.kvs);
    this.changed = true;
    return this.kvs;
  }

  set(kv: KeyValue): void {
    const m = this.mutable();
    const old = m.get(kv.key);
    if (old !== undefined) this.kvSum = (this.kvSum - kvHash(old)) >>> 0;
    m.set(kv.key, kv);
    this.kvSum = (this.kvSum + kvHash(kv)) >>> 0;
  }

  delete(key: string): void {
    const m = this.mutable();
    const old = m.get(key);
    if (old === undefined) return;
    m.delete(key);
    this.kvSum = (this.kvSum - kvHash(old)) >>> 0;
  }

  /** dropLease removes a lease (not a key change: `changed` is left alone). */
  dropLease(id: number): void {
    if (this.leases === undefined) this.leases = new Set(this.base.leases);
    if (this.leases.delete(id)) this.leaseSum = (this.leaseSum - leaseHash(id)) >>> 0;
  }

  finish(revision: number): KvState {
    return {
      revision,
      kvs: this.kvs ?? this.base.kvs,
      leases: this.leases ?? this.base.leases,
      kvSum: this.kvSum,
      leaseSum: this.leaseSum,
    };
  }
}

// ---- hashing and equality ----

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function hashString(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  // a separator, so that ("ab","c") and ("a","bc") differ
  return Math.imul(h ^ 0xff, FNV_PRIME);
}

function hashNumber(n: number, h: number): number {
  h ^= n | 0;
  h = Math.imul(h, FNV_PRIME);
  h ^= Math.floor(n / 4294967296) | 0;
  return Math.imul(h, FNV_PRIME);
}

function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** kvHash is a 32-bit hash of every field of a KeyValue. */
export function kvHash(kv: KeyValue): number {
  let h = hashString(kv.key, FNV_OFFSET);
  h = hashString(kv.value, h);
  h = hashNumber(kv.createRevision, h);
  h = hashNumber(kv.modRevision, h);
  h = hashNumber(kv.version, h);
  h = hashNumber(kv.lease, h);
  return finalMix(h);
}

function leaseHash(id: number): number {
  return finalMix(hashNumber(id, 0x9e3779b9));
}

/** stateHash is a 32-bit structural hash of a state (equal states hash equally), O(1). */
export function stateHash(s: KvState): number {
  return finalMix(hashNumber(s.revision, (s.kvSum ^ Math.imul(s.leaseSum, 0x27d4eb2d)) >>> 0));
}

/** stateEqual compares two states structurally: revision, every KeyValue, the lease set. */
export function stateEqual(a: KvState, b: KvState): boolean {
  if (a === b) return true;
  if (a.revision !== b.revision || a.kvSum !== b.kvSum || a.leaseSum !== b.leaseSum) return false;
  if (a.kvs.size !== b.kvs.size || a.leases.size !== b.leases.size) return false;
  if (a.kvs !== b.kvs) {
    for (const [k, kv] of a.kvs) {
      const o = b.kvs.get(k);
      if (o === undefined || !kvEqual(kv, o)) return false;
    }
  }
  if (a.leases !== b.leases) for (const id of a.leases) if (!b.leases.has(id)) return false;
  return true;
}

/** canonicalState is a state as a canonical string (keys and leases sorted), for tests and reports. */
export function canonicalState(s: KvState): string {
  const keys = [...s.kvs.keys()].sort(compareKeys);
  const kvs = keys.map((k) => formatKv(s.kvs.get(k) as KeyValue));
  const leases = [...s.leases].sort((a, b) => a - b);
  return `rev=${s.revision} kvs=[${kvs.join(" ")}] leases=[${leases.join(",")}]`;
}

/** formatKv prints a KeyValue as key=value@create/mod/version, with its lease when set. */
export function formatKv(kv: KeyValue): string {
  const lease = kv.lease !== 0 ? ` lease=${kv.lease}` : "";
  return `${kv.key}=${JSON.stringify(kv.value)}(c${kv.createRevision} m${kv.modRevision} v${kv.version}${lease})`;
}

/** kvEqual compares every field of two KeyValues. */
export function kvEqual(a: KeyValue, b: KeyValue): boolean {
  return (
    a.key === b.key &&
    a.value === b.value &&
    a.createRevision === b.createRevision &&
    a.modRevision === b.modRevision &&
    a.version === b.version &&
    a.lease === b.lease
  );
}

function optKvEqual(a: KeyValue | undefined, b: KeyValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return kvEqual(a, b);
}

function kvListEqual(a: readonly KeyValue[], b: readonly KeyValue[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!kvEqual(a[i] as KeyValue, b[i] as KeyValue)) return false;
  return true;
}

/**
 * resultEqual compares an expected answer with a recorded one, exactly on every recorded field:
 * header revisions, kvs (every field, in order), count, more, deleted, prevKv(s), succeeded,
 * each op result of a txn. Two conventions: a DeleteResult without prevKvs equals one with an
 * empty list (a recorder may leave an empty repeated field out), and the revision of an op
 * result inside a txn is not compared (history.ts: the field is unused).
 */
export function resultEqual(expected: Result, actual: Result): boolean {
  return resultEqualAt(expected, actual, false);
}

function resultEqualAt(e: Result, a: Result, inTxn: boolean): boolean {
  if (e.type !== a.type) return false;
  if (!inTxn && e.type !== "error" && a.type !== "error" && e.revision !== a.revision) return false;
  switch (e.type) {
    case "put":
      return optKvEqual(e.prevKv, (a as PutResult).prevKv);
    case "range": {
      const r = a as RangeResult;
      return e.count === r.count && e.more === r.more && kvListEqual(e.kvs, r.kvs);
    }
    case "delete": {
      const d = a as DeleteResult;
      return e.deleted === d.deleted && kvListEqual(e.prevKvs ?? [], d.prevKvs ?? []);
    }
    case "txn": {
      const t = a as Extract<Result, { type: "txn" }>;
      if (e.succeeded !== t.succeeded || e.results.length !== t.results.length) return false;
      for (let i = 0; i < e.results.length; i++) {
        if (!resultEqualAt(e.results[i] as TxnOpResult, t.results[i] as TxnOpResult, true)) return false;
      }
      return true;
    }
    case "leaseGrant":
    case "leaseRevoke":
      return true;
    case "error":
      return e.error === (a as Extract<Result, { type: "error" }>).error;
  }
}

/** requestWrites reports whether a request can change state in some outcome (puts, deletes, txns with writes, lease ops). */
export function requestWrites(request: Request): boolean {
  switch (request.type) {
    case "range":
      return false;
    case "txn":
      return [...request.success, ...request.failure].some((op) => op.type !== "range");
    default:
      return true;
  }
}

/** resultHadNoEffect reports whether a known answer shows the request changed nothing. */
export function resultHadNoEffect(request: Request, output: Result): boolean {
  if (output.type === "error" || output.type === "range") return true;
  if (output.type === "delete") return output.deleted === 0;
  if (output.type === "txn" && request.type === "txn") {
    return output.results.every((r) => r.type === "range" || (r.type === "delete" && r.deleted === 0));
  }
  return request.type === "range";
}

/**
 * revisionLimit is the largest revision a state may have for an operation to still be
 * linearized there (the search's `limit`; the revision never decreases): a known answer that
 * wrote was produced from revision (header - 1), one that did not from its header revision; an
 * operation known to have written at revision p (persistedRevision) from p - 1; Infinity when
 * the answer does not say (unknown, or a definite error).
 */
export function revisionLimit(request: Request, output: Result | undefined, persistedRevision?: number): number {
  if (output === undefined) return persistedRevision === undefined ? Infinity : persistedRevision - 1;
  switch (output.type) {
    case "error":
      return Infinity;
    case "put":
      return output.revision - 1;
    case "delete":
      return output.deleted > 0 ? output.revision - 1 : output.revision;
    case "txn":
      return request.type === "txn" && !resultHadNoEffect(request, output) ? output.revision - 1 : output.revision;
    case "range":
    case "leaseGrant":
    case "leaseRevoke":
      return output.revision;
  }
}
