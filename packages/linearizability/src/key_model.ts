/**
 * key_model.ts: the per-key model of the first checking layer, for histories in which every
 * operation touches at most one key (see `keyOf`). It checks one key's operations alone, so it
 * cannot know the global revision counter; instead it tracks:
 *
 * - the key's value, version and lease exactly (every write of the key is in its partition);
 * - its createRevision and modRevision when a known answer told them (a write's header
 *   revision), else "unknown" until a read reports them (then bound to what was read);
 * - `low`, a lower bound on the global revision: a write's revision must exceed it, a read's
 *   header revision must reach it.
 *
 * It cannot know whether a lease exists (grants are not in the partition), so a put naming a
 * lease may have succeeded or failed with "lease not found". That, unknown outputs and compares
 * of an unknown revision make it nondeterministic: a state is the set of candidate states
 * (Porcupine's power-set construction), and a step keeps every candidate the answer allows.
 *
 * It is a relaxation of the full model (model.ts): the projection on one key of any history the
 * full model accepts is accepted here, so "illegal" here is "illegal" there (and small).
 */
import type {
  Compare,
  DeleteOp,
  DeleteResult,
  KeyValue,
  Operation,
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
import { isSingleKey } from "./keys.js";
import { relationHolds } from "./model.js";

/** UNKNOWN marks a createRevision or modRevision this model has not learnt yet. */
const UNKNOWN = -1;

/** KeyFacts is what the model knows of a live key; create and mod may be UNKNOWN. */
interface KeyFacts {
  readonly value: string;
  readonly create: number;
  readonly mod: number;
  readonly version: number;
  readonly lease: number;
}

/** Candidate is one possible state of the key: absent (kv null) or KeyFacts, and the revision bound. */
interface Candidate {
  readonly kv: KeyFacts | null;
  readonly low: number;
}

/** KeyState is the set of candidates (never empty), sorted and deduplicated; `canon` identifies it. */
export interface KeyState {
  readonly candidates: readonly Candidate[];
  readonly canon: string;
  readonly hash: number;
}

/** MULTI is keyOf's answer for a request that touches several keys, or keys it cannot name. */
export const MULTI = Symbol("multi");

/**
 * keyOf names the one key a request touches: a key, null when it touches none (a lease grant,
 * an empty txn) or MULTI (a range or delete with an end, a txn over several keys, a revoke).
 */
export function keyOf(request: Request): string | null | typeof MULTI {
  switch (request.type) {
    case "put":
      return request.key;
    case "range":
    case "delete":
      return isSingleKey(request.end) ? request.key : MULTI;
    case "txn": {
      let key: string | null = null;
      const see = (k: string): boolean => {
        if (key === null) key = k;
        return key === k;
      };
      for (const c of request.compare) if (!see(c.key)) return MULTI;
      for (const op of [...request.success, ...request.failure]) {
        if (op.type !== "put" && !isSingleKey(op.end)) return MULTI;
        if (!see(op.key)) return MULTI;
      }
      return key;
    }
    case "leaseGrant":
      return null;
    case "leaseRevoke":
      return MULTI;
  }
}

/** initialKeyState is a key that does not exist, on a fresh etcd (revision 1). */
export function initialKeyState(): KeyState {
  return makeState([{ kv: null, low: 1 }]);
}

/** keyStateEqual compares candidate sets. */
export function keyStateEqual(a: KeyState, b: KeyState): boolean {
  return a === b || (a.hash === b.hash && a.canon === b.canon);
}

/** keyStateLow is the smallest revision bound of the candidates: no step lowers it (the search's progress). */
export function keyStateLow(s: KeyState): number {
  let low = Infinity;
  for (const c of s.candidates) if (c.low < low) low = c.low;
  return low;
}

/** describeKeyState prints the candidates, for failure reports. */
export function describeKeyState(s: KeyState): string {
  return s.candidates
    .map((c) => {
      const kv = c.kv;
      if (kv === null) return `absent (rev>=${c.low})`;
      const r = (n: number): string => (n === UNKNOWN ? "?" : String(n));
      const lease = kv.lease !== 0 ? ` lease=${kv.lease}` : "";
      return `${JSON.stringify(kv.value)}(c${r(kv.create)} m${r(kv.mod)} v${kv.version}${lease}) (rev>=${c.low})`;
    })
    .join(" | ");
}

/** keyStep applies one operation of the key's partition; undefined: no candidate allows its answer. */
export function keyStep(state: KeyState, op: Operation): KeyState | undefined {
  const next: Candidate[] = [];
  for (const c of state.candidates) stepCandidate(c, op.input, op.output, op.persistedRevision, next);
  if (next.length === 0) return undefined;
  return makeState(next);
}

function makeState(candidates: Candidate[]): KeyState {
  const keyed = new Map<string, Candidate>();
  for (const c of candidates) keyed.set(candidateKey(c), c);
  const keys = [...keyed.keys()].sort();
  const canon = keys.join("\n");
  let h = 0x811c9dc5;
  for (let i = 0; i < canon.length; i++) {
    h ^= canon.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return { candidates: keys.map((k) => keyed.get(k) as Candidate), canon, hash: h >>> 0 };
}

function candidateKey(c: Candidate): string {
  const kv = c.kv;
  if (kv === null) return `-|${c.low}`;
  return `${kv.value.length}:${kv.value}|${kv.create}|${kv.mod}|${kv.version}|${kv.lease}|${c.low}`;
}

function stepCandidate(
  c: Candidate,
  req: Request,
  out: Result | undefined,
  persisted: number | undefined,
  next: Candidate[],
): void {
  if (persisted !== undefined && persisted <= c.low) return;
  switch (req.type) {
    case "put":
      return stepPut(c, req, out, persisted, next);
    case "range":
      return stepRange(c, req, out, next);
    case "delete":
      return stepDelete(c, req, out, persisted, next);
    case "txn":
      return stepTxn(c, req, out, persisted, next);
    case "leaseGrant":
    case "leaseRevoke":
      // Not in a per-key partition (keyOf); accept without change to stay a relaxation.
      next.push(c);
      return;
  }
}

function stepPut(c: Candidate, req: PutOp, out: Result | undefined, persisted: number | undefined, next: Candidate[]): void {
  const lease = req.lease ?? 0;
  if (out === undefined) {
    // Applied (at an unknown revision unless persisted) or, with a lease, maybe refused.
    next.push({ kv: putFacts(c.kv, req, persisted ?? UNKNOWN), low: persisted ?? c.low + 1 });
    if (lease !== 0 && persisted === undefined) next.push(c);
    return;
  }
  if (out.type === "error") {
    if (lease !== 0 && out.error === "lease not found") next.push(c);
    return;
  }
  if (out.type !== "put" || out.revision <= c.low) return;
  const before = checkPrevKv(c.kv, req, out);
  if (before === false || out.revision <= lowAfterRead(c.low, before)) return;
  next.push({ kv: putFacts(before, req, out.revision), low: out.revision });
}

/** checkPrevKv compares a put's prevKv with the key's facts; the facts, bound, or false. */
function checkPrevKv(kv: KeyFacts | null, req: PutOp, out: PutResult): KeyFacts | null | false {
  if (req.prevKv !== true || kv === null) return out.prevKv === undefined ? kv : false;
  if (out.prevKv === undefined) return false;
  return bind(kv, req.key, out.prevKv);
}

function putFacts(kv: KeyFacts | null, req: PutOp, rev: number): KeyFacts {
  return {
    value: req.value,
    create: kv === null ? rev : kv.create,
    mod: rev,
    version: kv === null ? 1 : kv.version + 1,
    lease: req.lease ?? 0,
  };
}

/** bind checks an observed KeyValue against the facts, learning unknown revisions; false if they disagree. */
function bind(kv: KeyFacts, key: string, seen: KeyValue): KeyFacts | false {
  if (seen.key !== key || seen.value !== kv.value || seen.version !== kv.version || seen.lease !== kv.lease) return false;
  if (kv.create !== UNKNOWN && kv.create !== seen.createRevision) return false;
  if (kv.mod !== UNKNOWN && kv.mod !== seen.modRevision) return false;
  if (seen.createRevision > seen.modRevision || (seen.version === 1) !== (seen.createRevision === seen.modRevision)) return false;
  if (kv.create !== UNKNOWN && kv.mod !== UNKNOWN) return kv;
  return { ...kv, create: seen.createRevision, mod: seen.modRevision };
}

/** readKey checks a single-key range answer (header revision aside); the facts, bound, or false. */
function readKey(kv: KeyFacts | null, key: string, req: RangeOp, out: RangeResult): KeyFacts | null | false {
  if (out.more) return false;
  if (kv === null) return out.count === 0 && out.kvs.length === 0 ? null : false;
  if (out.count !== 1) return false;
  if (req.countOnly === true) return out.kvs.length === 0 ? kv : false;
  const seen = out.kvs[0];
  if (out.kvs.length !== 1 || seen === undefined) return false;
  return bind(kv, key, seen);
}

function lowAfterRead(low: number, kv: KeyFacts | null): number {
  return kv !== null && kv.mod > low ? kv.mod : low;
}

function stepRange(c: Candidate, req: RangeOp, out: Result | undefined, next: Candidate[]): void {
  if (out === undefined) {
    next.push(c);
    return;
  }
  if (out.type !== "range") return;
  const kv = readKey(c.kv, req.key, req, out);
  if (kv === false) return;
  const low = lowAfterRead(c.low, kv);
  if (out.revision < low) return;
  next.push({ kv, low: out.revision });
}

function stepDelete(c: Candidate, req: DeleteOp, out: Result | undefined, persisted: number | undefined, next: Candidate[]): void {
  if (out === undefined) {
    if (c.kv === null) {
      if (persisted === undefined) next.push(c);
    } else {
      next.push({ kv: null, low: persisted ?? c.low + 1 });
    }
    return;
  }
  if (out.type !== "delete") return;
  const kv = deleteKey(c.kv, req, out);
  if (kv === false) return;
  if (c.kv === null) {
    if (out.revision < c.low) return;
    next.push({ kv: null, low: out.revision });
  } else {
    if (out.revision <= lowAfterRead(c.low, kv)) return;
    next.push({ kv: null, low: out.revision });
  }
}

/** deleteKey checks a single-key delete answer; the facts before it (bound), or false. */
function deleteKey(kv: KeyFacts | null, req: DeleteOp, out: DeleteResult): KeyFacts | null | false {
  const prev = out.prevKvs ?? [];
  if (kv === null) return out.deleted === 0 && prev.length === 0 ? null : false;
  if (out.deleted !== 1) return false;
  if (req.prevKv !== true) return prev.length === 0 ? kv : false;
  const seen = prev[0];
  if (prev.length !== 1 || seen === undefined) return false;
  return bind(kv, req.key, seen);
}

/** compareFacts is model.ts's compare over facts: true, false, or undefined when a revision is unknown. */
function compareFacts(kv: KeyFacts | null, c: Compare): boolean | undefined {
  let r: number;
  if (c.target === "value") {
    if (kv === null) return false;
    const want = typeof c.value === "string" ? c.value : String(c.value);
    r = kv.value < want ? -1 : kv.value > want ? 1 : 0;
  } else {
    const want = typeof c.value === "number" ? c.value : Number(c.value);
    let have = 0;
    if (kv !== null) {
      have = c.target === "version" ? kv.version : c.target === "create" ? kv.create : c.target === "mod" ? kv.mod : kv.lease;
    }
    if (have === UNKNOWN) return undefined;
    r = have < want ? -1 : have > want ? 1 : 0;
  }
  return relationHolds(c.result, r);
}

function branchHasLeasePut(ops: readonly TxnRequestOp[]): boolean {
  return ops.some((op) => op.type === "put" && (op.lease ?? 0) !== 0);
}

function stepTxn(c: Candidate, req: TxnOp, out: Result | undefined, persisted: number | undefined, next: Candidate[]): void {
  let allTrue = true;
  let anyFalse = false;
  for (const cmp of req.compare) {
    const r = compareFacts(c.kv, cmp);
    if (r === false) anyFalse = true;
    if (r !== true) allTrue = false;
  }
  const options: boolean[] = allTrue ? [true] : anyFalse ? [false] : [true, false];
  if (out !== undefined && out.type === "error") {
    if (out.error !== "lease not found") return;
    if (options.some((b) => branchHasLeasePut(b ? req.success : req.failure))) next.push(c);
    return;
  }
  if (out !== undefined && out.type !== "txn") return;
  for (const succeeded of options) {
    const ops = succeeded ? req.success : req.failure;
    if (out === undefined) {
      const run = runBranch(c.kv, ops, undefined, persisted ?? UNKNOWN);
      if (run === false) continue;
      if (run.wrote) next.push({ kv: run.kv, low: persisted ?? c.low + 1 });
      else if (persisted === undefined) next.push(c);
      if (persisted === undefined && branchHasLeasePut(ops)) next.push(c);
      continue;
    }
    if (out.succeeded !== succeeded || out.results.length !== ops.length) continue;
    const run = runBranch(c.kv, ops, out.results, out.revision);
    if (run === false) continue;
    if (run.wrote) {
      if (out.revision <= run.low(c.low)) continue;
    } else if (out.revision < run.low(c.low)) continue;
    next.push({ kv: run.kv, low: out.revision });
  }
}

interface BranchRun {
  kv: KeyFacts | null;
  wrote: boolean;
  /** low raises a bound by the revisions the branch's reads learnt. */
  low(low: number): number;
}

/** runBranch runs a txn branch on the key; with results, each is checked (their revision aside). */
function runBranch(
  start: KeyFacts | null,
  ops: readonly TxnRequestOp[],
  results: readonly TxnOpResult[] | undefined,
  rev: number,
): BranchRun | false {
  let kv = start;
  let wrote = false;
  let learnt = 0;
  const learn = (k: KeyFacts | null): void => {
    if (k !== null && k.mod !== rev && k.mod > learnt) learnt = k.mod;
  };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as TxnRequestOp;
    const res = results?.[i];
    switch (op.type) {
      case "put": {
        let before = kv;
        if (res !== undefined) {
          if (res.type !== "put") return false;
          const b = checkPrevKv(kv, op, res);
          if (b === false) return false;
          before = b;
          learn(before);
        }
        kv = putFacts(before, op, rev);
        wrote = true;
        break;
      }
      case "range": {
        if (res !== undefined) {
          if (res.type !== "range") return false;
          const b = readKey(kv, op.key, op, res);
          if (b === false) return false;
          kv = b;
          learn(kv);
        }
        break;
      }
      case "delete": {
        if (res !== undefined) {
          if (res.type !== "delete") return false;
          const b = deleteKey(kv, op, res);
          if (b === false) return false;
          learn(b);
        }
        if (kv !== null) wrote = true;
        kv = null;
        break;
      }
    }
  }
  return { kv, wrote, low: (low) => Math.max(low, learnt) };
}
