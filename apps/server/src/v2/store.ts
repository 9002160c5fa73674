import { etcdserverpb, type mvccpb } from "@etcd-ts/proto";
import type { V2Backend } from "./backend.js";
import { V2Error, V2ErrorCode as C } from "./errors.js";
import { MAX_DEPTH, V2Layout, ancestorsOf, cleanPath, depthOf, isHiddenName, isRoot, parentOf, prefixEnd } from "./layout.js";
import { ttlLeft, type V2Action, type V2Event, type V2Node } from "./node.js";
import { V2Watch } from "./watch.js";

const { RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest, Compare } = etcdserverpb;
const Result = etcdserverpb.Compare_CompareResult;
const Target = etcdserverpb.Compare_CompareTarget;

/** v2Index is the v2 index of a v3 revision (etcd's v2v3 mkV2Rev: the revision minus one). */
export function v2Index(rev: bigint): bigint {
  return rev === 0n ? 0n : rev - 1n;
}

/** MAX_ATTEMPTS bounds the retries of a write whose reads another write invalidated (with jittered backoff). */
const MAX_ATTEMPTS = 64;

/** MAX_QUEUED_WRITES bounds the v2 writes waiting for their turn on one member. */
const MAX_QUEUED_WRITES = 10_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * TtlOption is a write's TTL as the HTTP layer parsed it: `ttl` seconds from `nowMs` (none:
 * the node is permanent), or a refresh of the node's TTL that keeps its value.
 */
export interface TtlOption {
  ttl?: bigint | undefined;
  nowMs: number;
  refresh?: boolean | undefined;
}

/** V2Answer is a store operation's event and whether it created the node (HTTP 201). */
export interface V2Answer {
  event: V2Event;
  created: boolean;
}

/** Snap is the store read at one revision. */
class Snap {
  constructor(
    private readonly b: V2Backend,
    readonly rev: bigint,
    /** actMod is the action key's mod revision at rev (0 when no v2 write happened yet). */
    readonly actMod: bigint,
  ) {}

  /** index is the v2 index at this revision. */
  get index(): bigint {
    return v2Index(this.rev);
  }

  async kv(key: Buffer): Promise<mvccpb.KeyValue | undefined> {
    const r = await this.b.range(RangeRequest.fromPartial({ key, revision: this.rev, serializable: true }));
    return r.kvs[0];
  }

  async list(key: Buffer, end: Buffer): Promise<mvccpb.KeyValue[]> {
    return (await this.b.range(RangeRequest.fromPartial({ key, rangeEnd: end, revision: this.rev, serializable: true }))).kvs;
  }

  async count(key: Buffer, end: Buffer): Promise<bigint> {
    return (await this.b.range(RangeRequest.fromPartial({ key, rangeEnd: end, revision: this.rev, serializable: true, countOnly: true }))).count;
  }
}

/** NodeState is what a path holds at a revision: a file, a directory, or nothing. */
interface NodeState {
  file?: mvccpb.KeyValue | undefined;
  dir?: mvccpb.KeyValue | undefined;
}

/**
 * V2Store is etcd's v2 keys store (v2store.Store's operations and semantics) kept in the v3
 * key space under a prefix (layout.ts), as etcd 3.4's --experimental-enable-v2v3 does: no
 * second store, every v2 write one v3 transaction through raft.
 *
 * A write reads what it needs at one revision, decides (or fails with etcd's v2 error and the
 * index of that revision), and commits in a transaction guarded by the mod revisions of the
 * action key, the node and its directories: any v2 write (or expiry) between the read and the
 * commit makes it read again, after a jittered pause. A member runs its v2 writes one at a
 * time (they all guard on the action key); writes through other members race and retry.
 *
 * TTLs are leases, one per node with a TTL: the lease's expiry deletes the node, which a
 * watch reports as "expire". Where the v2 store and etcd's v2v3 emulation differ, this store
 * follows the v2 store, except:
 *  - a set over an existing file keeps the file's createdIndex (a v3 key keeps its create
 *    revision), as etcd's v2v3 does; the v2 store gives the new node a new createdIndex;
 *  - indexes are v3 revisions minus one, so v3 writes outside the prefix advance them too;
 *  - a node below a directory with a TTL lives at most as long as the directory (see
 *    write); one whose own TTL is longer shows the directory's expiry as none of its own;
 *    a directory's TTL change rewrites the nodes below it that it moves to its new lease
 *    (their modifiedIndex changes);
 *  - paths deeper than MAX_DEPTH components are refused (209), and one write changes at most
 *    MAX_WRITE_OPS - 1 nodes;
 *  - a listing is in key order whether or not `sorted` is asked for.
 */
export class V2Store {
  readonly layout: V2Layout;
  private readonly b: V2Backend;
  private readonly now: () => number;
  /** tail is the last queued write's turn (see write). */
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(b: V2Backend, prefix: string, now: () => number = Date.now) {
    this.b = b;
    this.layout = new V2Layout(prefix);
    this.now = now;
  }

  /** raftStatus is the member's committed index and term (X-Raft-Index, X-Raft-Term). */
  raftStatus(): { index: bigint; term: bigint } {
    return this.b.raftStatus();
  }

  /** get reads a node (a directory with its children, all levels when recursive); quorum reads linearizably. */
  async get(path: string, recursive: boolean, sorted: boolean, quorum: boolean): Promise<V2Event> {
    void sorted; // listings are in key order either way
    const p = cleanPath(path);
    const s = await this.begin(quorum);
    if (isRoot(p)) {
      const nodes = await this.listDir(s, p, recursive);
      return { action: "get", node: { key: "", dir: true, nodes, modifiedIndex: 0n, createdIndex: 0n }, etcdIndex: s.index };
    }
    const st = await this.state(s, p);
    const kv = st.dir ?? st.file;
    if (kv === undefined) throw await this.missing(s, p);
    const inherited = kv.lease !== 0n ? await this.ancestorLeases(s, p) : [];
    const node = await this.toNode(kv, p, st.dir !== undefined, inherited);
    if (st.dir !== undefined) node.nodes = await this.listDir(s, p, recursive, [...inherited, kv.lease]);
    return { action: "get", node, etcdIndex: s.index };
  }

  /** set writes a file (or, with dir, makes a directory), replacing a file at the path (etcd's Store.Set). */
  async set(path: string, dir: boolean, value: string, t: TtlOption): Promise<V2Answer> {
    const p = cleanPath(path);
    return this.write(t, async (s) => {
      if (isRoot(p)) throw new V2Error(C.RootROnly, "/", s.index);
      checkDepth(p, s);
      const { mkdirs, inherited } = await this.parentsToMake(s, p);
      const st = await this.state(s, p);
      if (st.dir !== undefined) throw new V2Error(C.NotFile, p, s.index);
      if (t.refresh === true) {
        if (st.file === undefined) throw new V2Error(C.KeyNotFound, p, s.index);
        value = st.file.value.toString();
      }
      const prev = st.file;
      return {
        action: t.refresh === true ? "refresh:set" : "set",
        guard: [this.layout.fileKey(p), this.layout.dirKey(p), ...this.ancestorMarkers(p)],
        inherited,
        ops: (l) => [
          ...mkdirs.map((k) => put(k, "", l.inherited)),
          ...(dir
            ? [...(prev !== undefined ? [del(this.layout.fileKey(p))] : []), put(this.layout.dirKey(p), "", l.lease)]
            : [put(this.layout.fileKey(p), value, l.lease)]),
        ],
        answer: async (idx, exp) => ({
          event: {
            action: "set",
            node: this.written(p, dir, value, idx, dir || prev === undefined ? idx : v2Index(prev.createRevision), exp),
            prevNode: prev === undefined ? undefined : await this.toNode(prev, p, false, inherited),
            etcdIndex: idx,
          },
          created: prev === undefined,
        }),
        replacedLease: prev?.lease,
      };
    });
  }

  /** create makes a node that must not exist; unique names it after the write's index under path (POST, in-order keys). */
  async create(path: string, dir: boolean, value: string, unique: boolean, t: TtlOption): Promise<V2Answer> {
    return this.write(t, async (s) => {
      // The v2 store names an in-order key after the index its write will have: here the
      // revision read plus one, minus one; a v2 write in between makes this attempt retry.
      const p = cleanPath(unique ? `${path}/${String(s.index + 1n).padStart(20, "0")}` : path);
      if (isRoot(p)) throw new V2Error(C.RootROnly, "/", s.index);
      checkDepth(p, s);
      const { mkdirs, inherited } = await this.parentsToMake(s, p);
      const st = await this.state(s, p);
      if (st.file !== undefined || st.dir !== undefined) throw new V2Error(C.NodeExist, p, s.index);
      return {
        action: "create",
        guard: [this.layout.fileKey(p), this.layout.dirKey(p), ...this.ancestorMarkers(p)],
        inherited,
        ops: (l) => [...mkdirs.map((k) => put(k, "", l.inherited)), dir ? put(this.layout.dirKey(p), "", l.lease) : put(this.layout.fileKey(p), value, l.lease)],
        answer: async (idx, exp) => ({
          event: { action: "create", node: this.written(p, dir, value, idx, idx, exp), etcdIndex: idx },
          created: true,
        }),
      };
    });
  }

  /**
   * update changes an existing node's value, or a directory's TTL (etcd's Store.Update). The
   * update of a directory that keeps it without a TTL advances the index but leaves its
   * modifiedIndex, as the v2 store's does: the marker is not written, the action key names the
   * directory. A directory whose TTL changes (or goes) is rewritten with its new lease, and
   * so is every node below it that held its old lease or would outlive the new one.
   */
  async update(path: string, value: string, t: TtlOption): Promise<V2Answer> {
    const p = cleanPath(path);
    return this.write(t, async (s) => {
      if (isRoot(p)) throw new V2Error(C.RootROnly, "/", s.index);
      const st = await this.state(s, p);
      const cur = st.file ?? st.dir;
      if (cur === undefined) throw await this.missing(s, p);
      const isDir = st.dir !== undefined;
      if (isDir && value !== "") throw new V2Error(C.NotFile, p, s.index);
      if (t.refresh === true) value = isDir ? "" : cur.value.toString();
      const inherited = await this.ancestorLeases(s, p);
      const key = isDir ? this.layout.dirKey(p) : this.layout.fileKey(p);
      const ttlChange = isDir && (t.ttl !== undefined || (cur.lease !== 0n && !inherited.includes(cur.lease)));
      const below = ttlChange ? await this.subtree(s, p) : [];
      const dirUpdate: DirUpdate = { action: "update", dir: p, created: String(cur.createRevision), mod: String(cur.modRevision), ...(t.refresh === true ? { refresh: true } : {}) };
      return {
        action: isDir ? JSON.stringify(dirUpdate) : t.refresh === true ? "refresh:update" : "update",
        guard: [key, ...this.ancestorMarkers(p)],
        inherited,
        ops: async (l) => {
          if (!isDir) return [put(key, value, l.lease)];
          if (!ttlChange) return [];
          return [put(key, "", l.lease), ...(await this.moveBelow(below, cur.lease, l))];
        },
        answer: async (idx, exp) => ({
          event: {
            action: "update",
            node: this.written(p, isDir, value, idx, v2Index(cur.createRevision), exp),
            prevNode: await this.toNode(cur, p, isDir, inherited),
            etcdIndex: idx,
          },
          created: false,
        }),
        replacedLease: cur.lease,
      };
    });
  }

  /** compareAndSwap writes a file whose value and/or modifiedIndex match (etcd's Store.CompareAndSwap). */
  async compareAndSwap(path: string, prevValue: string, prevIndex: bigint, value: string, t: TtlOption): Promise<V2Answer> {
    const p = cleanPath(path);
    return this.write(t, async (s) => {
      if (isRoot(p)) throw new V2Error(C.RootROnly, "/", s.index);
      const st = await this.state(s, p);
      if (st.dir !== undefined) throw new V2Error(C.NotFile, p, s.index);
      const cur = st.file;
      if (cur === undefined) throw await this.missing(s, p);
      checkCompare(cur, prevValue, prevIndex, s.index);
      if (t.refresh === true) value = cur.value.toString();
      const inherited = await this.ancestorLeases(s, p);
      const key = this.layout.fileKey(p);
      return {
        action: t.refresh === true ? "refresh:compareAndSwap" : "compareAndSwap",
        guard: [key, ...this.ancestorMarkers(p)],
        inherited,
        ops: (l) => [put(key, value, l.lease)],
        answer: async (idx, exp) => ({
          event: {
            action: "compareAndSwap",
            node: this.written(p, false, value, idx, v2Index(cur.createRevision), exp),
            prevNode: await this.toNode(cur, p, false, inherited),
            etcdIndex: idx,
          },
          created: false,
        }),
        replacedLease: cur.lease,
      };
    });
  }

  /** delete removes a file, an empty directory (dir) or a directory and everything below it (recursive). */
  async delete(path: string, dir: boolean, recursive: boolean): Promise<V2Answer> {
    const p = cleanPath(path);
    if (recursive) dir = true;
    return this.write({ nowMs: this.now() }, async (s) => {
      if (isRoot(p)) throw new V2Error(C.RootROnly, "/", s.index);
      const st = await this.state(s, p);
      const cur = st.file ?? st.dir;
      if (cur === undefined) throw await this.missing(s, p);
      const isDir = st.dir !== undefined;
      let ops: etcdserverpb.RequestOp[];
      if (!isDir) {
        ops = [del(this.layout.fileKey(p))];
      } else {
        if (!dir) throw new V2Error(C.NotFile, p, s.index);
        const [k, end] = this.levelRange(p, 1);
        if (!recursive && (await s.count(k, end)) > 0n) throw new V2Error(C.DirNotEmpty, p, s.index);
        ops = [del(this.layout.dirKey(p))];
        for (let level = 1; depthOf(p) + level <= MAX_DEPTH; level++) {
          const [lk, le] = this.levelRange(p, level);
          ops.push(del(lk, le));
        }
      }
      const inherited = await this.ancestorLeases(s, p);
      return {
        action: "delete",
        guard: [this.layout.fileKey(p), this.layout.dirKey(p), ...this.ancestorMarkers(p)],
        // A removal keeps no lease: the node's own lease, if it had one, is revoked after.
        inherited: [],
        ops: () => ops,
        answer: async (idx) => ({
          event: {
            action: "delete",
            node: { key: p, dir: isDir ? true : undefined, modifiedIndex: idx, createdIndex: v2Index(cur.createRevision) },
            prevNode: await this.toNode(cur, p, isDir, inherited),
            etcdIndex: idx,
          },
          created: false,
        }),
        replacedLease: inherited.includes(cur.lease) ? 0n : cur.lease,
      };
    });
  }

  /** compareAndDelete removes a file whose value and/or modifiedIndex match (etcd's Store.CompareAndDelete). */
  async compareAndDelete(path: string, prevValue: string, prevIndex: bigint): Promise<V2Answer> {
    const p = cleanPath(path);
    return this.write({ nowMs: this.now() }, async (s) => {
      if (isRoot(p)) throw new V2Error(C.NotFile, "/", s.index);
      const st = await this.state(s, p);
      if (st.dir !== undefined) throw new V2Error(C.NotFile, p, s.index);
      const cur = st.file;
      if (cur === undefined) throw await this.missing(s, p);
      checkCompare(cur, prevValue, prevIndex, s.index);
      const inherited = await this.ancestorLeases(s, p);
      const key = this.layout.fileKey(p);
      return {
        action: "compareAndDelete",
        guard: [key, ...this.ancestorMarkers(p)],
        inherited: [],
        ops: () => [del(key)],
        answer: async (idx) => ({
          event: {
            action: "compareAndDelete",
            node: { key: p, modifiedIndex: idx, createdIndex: v2Index(cur.createRevision) },
            prevNode: await this.toNode(cur, p, false, inherited),
            etcdIndex: idx,
          },
          created: false,
        }),
        replacedLease: inherited.includes(cur.lease) ? 0n : cur.lease,
      };
    });
  }

  /** subtree is every stored node below directory p (all levels). */
  private async subtree(s: Snap, p: string): Promise<mvccpb.KeyValue[]> {
    const out: mvccpb.KeyValue[] = [];
    for (let level = 1; depthOf(p) + level <= MAX_DEPTH; level++) {
      const [k, end] = this.levelRange(p, level);
      const kvs = await s.list(k, end);
      if (kvs.length === 0) break;
      out.push(...kvs);
    }
    return out;
  }

  /**
   * moveBelow rewrites, with the directory's new lease, the nodes below it that held its old
   * lease (or none, when it had none) or whose own lease would outlive the new one.
   */
  private async moveBelow(below: readonly mvccpb.KeyValue[], oldLease: bigint, l: Leases): Promise<etcdserverpb.RequestOp[]> {
    const ops: etcdserverpb.RequestOp[] = [];
    const expiry = new Map<bigint, number | undefined>();
    for (const kv of below) {
      let move = kv.lease === oldLease;
      if (!move && kv.lease !== 0n && l.exp !== undefined) {
        if (!expiry.has(kv.lease)) expiry.set(kv.lease, await this.b.leaseExpiry(kv.lease));
        move = (expiry.get(kv.lease) ?? Infinity) > l.exp;
      }
      if (move && kv.lease !== l.lease) ops.push({ requestPut: PutRequest.fromPartial({ key: kv.key, value: kv.value, lease: l.lease }) });
    }
    return ops;
  }

  /**
   * watch waits for the events on a path (recursive: and below it) from index sinceIndex on
   * (0: from the next write). An index the member has compacted away is refused with 401.
   */
  async watch(path: string, recursive: boolean, stream: boolean, sinceIndex: bigint): Promise<V2Watch> {
    const p = cleanPath(path);
    const s = await this.begin(false);
    const startRev = sinceIndex === 0n ? s.rev + 1n : sinceIndex + 1n;
    const compacted = this.b.compactRevision;
    if (startRev < compacted) {
      throw new V2Error(C.EventIndexCleared, `the requested history has been cleared [${v2Index(compacted)}/${sinceIndex}]`, s.index);
    }
    const [key, end] = this.layout.range;
    return new V2Watch(this.b.watch(key, end, startRev), this, p, recursive, stream, s.index);
  }

  /** nodeOfKv is the v2 node a stored key-value is (with its TTL looked up), or undefined for a key outside the tree. */
  async nodeOfKv(kv: mvccpb.KeyValue): Promise<V2Node | undefined> {
    const n = this.layout.nodeOf(kv.key);
    if (n === undefined) return undefined;
    return this.toNode(kv, n.path, n.dir);
  }

  // ---- reads ----

  /** begin reads the action key, fixing the revision the operation reads at. */
  private async begin(linearizable: boolean): Promise<Snap> {
    const r = await this.b.range(RangeRequest.fromPartial({ key: this.layout.actionKey, serializable: !linearizable }));
    return new Snap(this.b, r.header?.revision ?? 0n, r.kvs[0]?.modRevision ?? 0n);
  }

  private async state(s: Snap, p: string): Promise<NodeState> {
    const [file, dir] = await Promise.all([s.kv(this.layout.fileKey(p)), s.kv(this.layout.dirKey(p))]);
    return { file, dir };
  }

  /**
   * missing is the error for a path with no node: the first component from the root that is
   * missing (100) or is a file (104), as the v2 store's walk reports it.
   */
  private async missing(s: Snap, p: string): Promise<V2Error> {
    for (const a of ancestorsOf(p)) {
      const st = await this.state(s, a);
      if (st.file !== undefined) return new V2Error(C.NotDir, a, s.index);
      if (st.dir === undefined) return new V2Error(C.KeyNotFound, a, s.index);
    }
    return new V2Error(C.KeyNotFound, p, s.index);
  }

  /**
   * parentsToMake are the markers of p's missing directories and the leases of its existing
   * ones (root first); a file on the way is error 104.
   */
  private async parentsToMake(s: Snap, p: string): Promise<{ mkdirs: Buffer[]; inherited: bigint[] }> {
    const mkdirs: Buffer[] = [];
    const inherited: bigint[] = [];
    let missingFrom = false;
    for (const a of ancestorsOf(p)) {
      if (missingFrom) {
        mkdirs.push(this.layout.dirKey(a));
        continue;
      }
      const st = await this.state(s, a);
      if (st.file !== undefined) throw new V2Error(C.NotDir, a, s.index);
      if (st.dir === undefined) {
        missingFrom = true;
        mkdirs.push(this.layout.dirKey(a));
      } else if (st.dir.lease !== 0n && !inherited.includes(st.dir.lease)) {
        inherited.push(st.dir.lease);
      }
    }
    return { mkdirs, inherited };
  }

  private levelRange(p: string, level: number): [Buffer, Buffer] {
    const k = this.layout.levelPrefix(p, level);
    return [k, prefixEnd(k)];
  }

  /**
   * listDir lists a directory's visible children (recursive: with their subtrees), in key
   * order; `leases` are the leases of p and the directories above it (a node holding one of
   * them shows no TTL of its own).
   */
  private async listDir(s: Snap, p: string, recursive: boolean, leases: bigint[] = []): Promise<V2Node[]> {
    const top: V2Node[] = [];
    const dirs = new Map<string, V2Node>();
    const chain = new Map<string, bigint[]>([[p, leases]]);
    for (let level = 1; depthOf(p) + level <= MAX_DEPTH; level++) {
      const [k, end] = this.levelRange(p, level);
      const kvs = await s.list(k, end);
      if (kvs.length === 0) break;
      for (const kv of kvs) {
        const n = this.layout.nodeOf(kv.key);
        if (n === undefined || isHiddenName(n.path)) continue;
        const parent = level === 1 ? undefined : dirs.get(parentOf(n.path));
        if (level > 1 && parent === undefined) continue; // below a hidden directory
        const above = chain.get(parentOf(n.path)) ?? leases;
        const node = await this.toNode(kv, n.path, n.dir, above);
        if (n.dir && recursive) {
          node.nodes = [];
          dirs.set(n.path, node);
          chain.set(n.path, kv.lease !== 0n ? [...above, kv.lease] : above);
        }
        if (parent === undefined) top.push(node);
        else parent.nodes?.push(node);
      }
      if (!recursive) break;
    }
    return top;
  }

  /**
   * toNode is a stored key-value as a v2 node: a file with its value or a directory, with its
   * TTL if it has a lease of its own (not one of `inherited`, its directories' leases).
   */
  private async toNode(kv: mvccpb.KeyValue, path: string, dir: boolean, inherited: readonly bigint[] = []): Promise<V2Node> {
    const n: V2Node = { key: path, modifiedIndex: v2Index(kv.modRevision), createdIndex: v2Index(kv.createRevision) };
    if (dir) n.dir = true;
    else n.value = kv.value.toString();
    if (kv.lease !== 0n && !inherited.includes(kv.lease)) {
      const exp = await this.b.leaseExpiry(kv.lease);
      if (exp !== undefined) {
        n.expiration = exp;
        n.ttl = ttlLeft(exp, this.now());
      }
    }
    return n;
  }

  /** written is the node a write made, with the expiration its TTL asked for. */
  private written(p: string, dir: boolean, value: string, idx: bigint, createdIdx: bigint, exp: number | undefined): V2Node {
    const n: V2Node = { key: p, modifiedIndex: idx, createdIndex: createdIdx };
    if (dir) n.dir = true;
    else n.value = value;
    if (exp !== undefined) {
      n.expiration = exp;
      n.ttl = ttlLeft(exp, this.now());
    }
    return n;
  }

  // ---- writes ----

  /**
   * write runs one v2 write: plan it on a fresh read, commit it guarded, and retry while
   * another v2 write got in between. A TTL's lease is granted once, before the first commit,
   * and revoked when the write fails or the node takes an ancestor's lease instead.
   *
   * Directory TTLs: every node below a directory with a TTL holds a lease that expires no
   * later than the directory's, so the directory's expiry removes it too, in the same
   * revision (one "expire" event). A node takes its own TTL's lease when that expires first,
   * else the earliest-expiring lease of its directories (which it then reports no TTL for;
   * a node whose own TTL is longer than its directory's lives as long as the directory). The
   * directories a write makes on the way take that inherited lease. The lease a replaced or
   * removed node had is revoked after the write unless it is inherited or still in use.
   */
  private async write(t: TtlOption, plan: (s: Snap) => Promise<WritePlan>): Promise<V2Answer> {
    // One v2 write at a time per member: they all guard on the action key, so concurrent ones
    // would only retry each other. Writes through other members still race; those retry.
    if (this.queued >= MAX_QUEUED_WRITES) throw new V2Error(C.RaftInternal, "etcd-ts: too many v2 writes waiting", 0n);
    this.queued++;
    const prev = this.tail;
    let release = (): void => undefined;
    this.tail = new Promise<void>((r) => (release = r));
    try {
      await prev;
      return await this.writeNow(t, plan);
    } finally {
      this.queued--;
      release();
    }
  }

  private async writeNow(t: TtlOption, plan: (s: Snap) => Promise<WritePlan>): Promise<V2Answer> {
    let own = 0n;
    let ownExp: number | undefined;
    let kept = 0n;
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt > 0) await sleep(Math.min(100, 2 ** attempt) * Math.random());
        const s = await this.begin(true);
        const w = await plan(s);
        if (t.ttl !== undefined && own === 0n) {
          own = await this.b.leaseGrant(t.ttl > 0n ? t.ttl : 1n);
          ownExp = t.nowMs + Number(t.ttl) * 1000;
        }
        const inherited = await this.earliest(w.inherited);
        // A directory whose lease is gone is expiring: read again once it has.
        if (inherited.gone) continue;
        let effective = own;
        let effectiveExp = ownExp;
        if (inherited.lease !== 0n && (own === 0n || inherited.exp < (ownExp ?? Infinity))) {
          effective = inherited.lease;
          effectiveExp = inherited.exp;
        }
        const compare = [
          cmpMod(this.layout.actionKey, s.actMod),
          ...(await Promise.all(w.guard.map(async (k) => cmpMod(k, (await s.kv(k))?.modRevision ?? 0n)))),
        ];
        const ops = await w.ops({ lease: effective, exp: effectiveExp, inherited: inherited.lease });
        if (ops.length + 1 > MAX_WRITE_OPS) throw new V2Error(C.InvalidField, `etcd-ts: a v2 write may change at most ${MAX_WRITE_OPS - 1} nodes`, s.index);
        const success = [...ops, put(this.layout.actionKey, w.action, 0n)];
        let r: etcdserverpb.TxnResponse;
        try {
          r = await this.b.txn(TxnRequest.fromPartial({ compare, success, failure: [] }));
        } catch (err) {
          // A lease revoked between the read and the commit (a directory expiring): read again.
          if (err instanceof Error && /requested lease not found/.test(err.message)) continue;
          throw err;
        }
        if (!r.succeeded) continue;
        kept = effective;
        const idx = v2Index(r.header?.revision ?? 0n);
        const answer = await w.answer(idx, ownExp);
        const old = w.replacedLease ?? 0n;
        if (old !== 0n && old !== effective && !w.inherited.includes(old)) void this.b.leaseRevoke(old).catch(() => undefined);
        return answer;
      }
      throw new V2Error(C.RaftInternal, "etcd-ts: too many conflicting writes", 0n);
    } finally {
      // A granted lease no committed node holds (a failed write, or an inherited lease won).
      if (own !== 0n && own !== kept) void this.b.leaseRevoke(own).catch(() => undefined);
    }
  }

  /** earliest is the lease among `leases` that expires first (0n when none); gone: one of them no longer exists. */
  private async earliest(leases: readonly bigint[]): Promise<{ lease: bigint; exp: number; gone: boolean }> {
    let best = { lease: 0n, exp: Infinity, gone: false };
    for (const l of new Set(leases)) {
      const exp = await this.b.leaseExpiry(l);
      if (exp === undefined) best.gone = true;
      else if (exp < best.exp) best = { lease: l, exp, gone: best.gone };
    }
    return best;
  }

  /**
   * ancestorMarkers are the markers of the directories above p: a write guards on them, so a
   * directory removed, expired or made between its read and its commit makes it read again.
   */
  private ancestorMarkers(p: string): Buffer[] {
    return ancestorsOf(p).map((a) => this.layout.dirKey(a));
  }

  /** ancestorLeases are the leases of the directories above p (root first), each once. */
  private async ancestorLeases(s: Snap, p: string): Promise<bigint[]> {
    const out: bigint[] = [];
    for (const a of ancestorsOf(p)) {
      const l = (await s.kv(this.layout.dirKey(a)))?.lease ?? 0n;
      if (l !== 0n && !out.includes(l)) out.push(l);
    }
    return out;
  }
}

/**
 * DirUpdate is the action key's value for an update of a directory (JSON): the directory and
 * its create and mod revisions, which its watch event reports (the marker is not written).
 */
export interface DirUpdate {
  action: "update";
  dir: string;
  created: string;
  mod: string;
  /** refresh: a TTL refresh, which watchers are not told of. */
  refresh?: boolean;
}

/** Leases is what a write's ops get: the node's lease (and when it expires) and the lease of the directories it makes. */
interface Leases {
  lease: bigint;
  exp: number | undefined;
  inherited: bigint;
}

/** WritePlan is what a write decided at one read: its ops and how to answer once committed. */
interface WritePlan {
  /** action is the action key's value. */
  action: string;
  /** guard are the keys whose mod revisions must not have moved since the read. */
  guard: Buffer[];
  /** inherited are the leases of the node's directories (see write). */
  inherited: bigint[];
  ops(l: Leases): Promise<etcdserverpb.RequestOp[]> | etcdserverpb.RequestOp[];
  answer(idx: bigint, expirationMs: number | undefined): Promise<V2Answer>;
  /** replacedLease is the lease of the node replaced or removed, revoked after the write (see write). */
  replacedLease?: bigint | undefined;
}

/** MAX_WRITE_OPS bounds the ops of one v2 write's transaction (etcd's default --max-txn-ops). */
const MAX_WRITE_OPS = 128;

function checkDepth(p: string, s: Snap): void {
  if (depthOf(p) > MAX_DEPTH) throw new V2Error(C.InvalidField, `etcd-ts: path deeper than ${MAX_DEPTH} components`, s.index);
}

/** checkCompare is the v2 store's compare of a file with prevValue and prevIndex, failing with its cause text. */
function checkCompare(cur: mvccpb.KeyValue, prevValue: string, prevIndex: bigint, index: bigint): void {
  const value = cur.value.toString();
  const mod = v2Index(cur.modRevision);
  const indexMatch = prevIndex === 0n || mod === prevIndex;
  const valueMatch = prevValue === "" || value === prevValue;
  if (indexMatch && valueMatch) return;
  let cause: string;
  if (indexMatch) cause = `[${prevValue} != ${value}]`;
  else if (valueMatch) cause = `[${prevIndex} != ${mod}]`;
  else cause = `[${prevValue} != ${value}] [${prevIndex} != ${mod}]`;
  throw new V2Error(C.TestFailed, cause, index);
}

const put = (key: Buffer, value: string, lease: bigint): etcdserverpb.RequestOp => ({
  requestPut: PutRequest.fromPartial({ key, value: Buffer.from(value), lease }),
});

const del = (key: Buffer, rangeEnd?: Buffer): etcdserverpb.RequestOp => ({
  requestDeleteRange: DeleteRangeRequest.fromPartial(rangeEnd === undefined ? { key } : { key, rangeEnd }),
});

const cmpMod = (key: Buffer, mod: bigint): etcdserverpb.Compare =>
  Compare.fromPartial({ key, target: Target.MOD, result: Result.EQUAL, modRevision: mod });

export type { V2Action };
