import type { mvccpb } from "@etcd-ts/proto";
import type { V2WatchFeed } from "./backend.js";
import type { V2Layout } from "./layout.js";
import type { V2Action, V2Event, V2Node } from "./node.js";
import type { DirUpdate } from "./store.js";

/** NodeSource turns stored key-values into v2 nodes (V2Store.nodeOfKv). */
export interface NodeSource {
  readonly layout: V2Layout;
  nodeOfKv(kv: mvccpb.KeyValue): Promise<V2Node | undefined>;
}

const DELETE_ACTIONS: ReadonlySet<string> = new Set(["delete", "compareAndDelete", "expire"]);
const ACTIONS: ReadonlySet<string> = new Set(["set", "create", "update", "compareAndSwap", "delete", "compareAndDelete", "expire"]);

/**
 * V2Watch is one v2 watch (etcd's v2store.Watcher): the v3 events of the tree turned into v2
 * events, one per revision, and filtered as the v2 store's watcher hub does:
 *  - an event on the watched path itself;
 *  - with recursive, an event below it, unless a component below the watched path is hidden
 *    (starts with "_");
 *  - the removal (delete, compareAndDelete, expire) of a directory the watched path is in.
 * Without stream the watch ends after its first event. `startIndex` is the store's index
 * when the watch began (its X-Etcd-Index header).
 */
export class V2Watch {
  readonly startIndex: bigint;
  private readonly pending: V2Event[] = [];
  private ended = false;

  constructor(
    private readonly feed: V2WatchFeed,
    private readonly src: NodeSource,
    private readonly path: string,
    private readonly recursive: boolean,
    private readonly stream: boolean,
    startIndex: bigint,
  ) {
    this.startIndex = startIndex;
  }

  /** next resolves with the next matching event, or undefined once the watch has ended. */
  async next(): Promise<V2Event | undefined> {
    for (;;) {
      if (this.ended) return undefined;
      const e = this.pending.shift();
      if (e !== undefined) {
        if (!this.stream) this.close();
        return e;
      }
      const r = await this.feed.next();
      if (r === undefined || r.compactRevision > 0n) {
        this.close();
        return undefined;
      }
      // Only the revisions this watch wants are turned into events (their TTLs are looked up).
      const want = (e: V2Event): boolean => matches(e, this.path, this.recursive);
      for (const ev of await toV2Events(this.src, r.events, want)) this.pending.push(ev);
    }
  }

  /** close ends the watch and its v3 watch. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.feed.close();
  }
}

/**
 * toV2Events groups v3 events by revision and makes one v2 event of each that `want` takes
 * (asked with the event's action, key and whether it removed a directory): the action is the
 * action key's value written in that revision ("refresh:" actions are not reported, as the
 * v2 store does not report refreshes); a revision without one is a lease expiry when it only
 * deletes ("expire") and a plain v3 write otherwise ("set" or "delete"). The event's node is
 * the shortest path removed for a removal (the directory, not what was below it) and the
 * longest path written otherwise (the node, not the directories made on the way).
 */
export async function toV2Events(src: NodeSource, events: readonly mvccpb.Event[], want: (e: V2Event) => boolean = () => true): Promise<V2Event[]> {
  const out: V2Event[] = [];
  let i = 0;
  while (i < events.length) {
    const rev = events[i]?.kv?.modRevision ?? 0n;
    let j = i;
    while (j < events.length && (events[j]?.kv?.modRevision ?? 0n) === rev) j++;
    const ev = await oneRevision(src, events.slice(i, j), rev, want);
    if (ev !== undefined) out.push(ev);
    i = j;
  }
  return out;
}

async function oneRevision(src: NodeSource, group: readonly mvccpb.Event[], rev: bigint, want: (e: V2Event) => boolean): Promise<V2Event | undefined> {
  let action: string | undefined;
  let target: { ev: mvccpb.Event; path: string; dir: boolean; deleted: boolean } | undefined;
  const deletes: typeof target[] = [];
  const puts: typeof target[] = [];
  for (const ev of group) {
    const kv = ev.kv;
    if (kv === undefined) continue;
    if (src.layout.isActionKey(kv.key)) {
      action = kv.value.toString();
      continue;
    }
    const n = src.layout.nodeOf(kv.key);
    if (n === undefined) continue;
    const deleted = ev.type === 1; // mvccpb.Event_EventType.DELETE
    (deleted ? deletes : puts).push({ ev, path: n.path, dir: n.dir, deleted });
  }
  if (action?.startsWith("{") === true) {
    const e = dirUpdateEvent(action, rev);
    if (e === undefined || !want(e)) return undefined;
    // A TTL change rewrote the marker: the event shows the directory's new TTL.
    const marker = puts.find((c) => c !== undefined && c.dir && c.path === e.node?.key);
    const kv = marker?.ev.kv;
    if (kv !== undefined && kv.lease !== 0n && e.node !== undefined) {
      const n = await src.nodeOfKv(kv);
      e.node.expiration = n?.expiration;
      e.node.ttl = n?.ttl;
    }
    return e;
  }
  if (action === undefined) action = puts.length === 0 ? "expire" : "set";
  if (action.startsWith("refresh:") || !ACTIONS.has(action)) return undefined;
  const removal = DELETE_ACTIONS.has(action);
  const pool = removal ? deletes : puts;
  for (const c of pool) {
    if (c === undefined) continue;
    if (target === undefined || (removal ? c.path.length < target.path.length : c.path.length > target.path.length)) target = c;
  }
  if (target === undefined) return undefined;
  const idx = rev - 1n;
  // Matched on the key and action first: the nodes (and their TTLs) only for a wanted event.
  const probe: V2Event = { action: action as V2Action, node: { key: target.path, modifiedIndex: idx, createdIndex: 0n }, prevNode: { key: target.path, dir: target.dir, modifiedIndex: 0n, createdIndex: 0n }, etcdIndex: idx };
  if (!want(probe)) return undefined;
  const prevKv = target.ev.prevKv;
  const prevNode = prevKv !== undefined && prevKv.createRevision > 0n ? await src.nodeOfKv(prevKv) : undefined;
  let node: V2Node | undefined;
  if (target.deleted) {
    node = { key: target.path, modifiedIndex: idx, createdIndex: prevKv !== undefined ? prevKv.createRevision - 1n : 0n };
    if (target.dir) node.dir = true;
  } else if (target.ev.kv !== undefined) {
    node = await src.nodeOfKv(target.ev.kv);
  }
  return { action: action as V2Action, node, prevNode, etcdIndex: idx };
}

/** dirUpdateEvent is the event of a directory's update, from the action key's DirUpdate value. */
function dirUpdateEvent(value: string, rev: bigint): V2Event | undefined {
  let u: DirUpdate;
  try {
    u = JSON.parse(value) as DirUpdate;
  } catch {
    return undefined;
  }
  if (u.refresh === true) return undefined; // the v2 store tells no watcher of a refresh
  const created = BigInt(u.created) - 1n;
  return {
    action: "update",
    node: { key: u.dir, dir: true, modifiedIndex: rev - 1n, createdIndex: created },
    prevNode: { key: u.dir, dir: true, modifiedIndex: BigInt(u.mod) - 1n, createdIndex: created },
    etcdIndex: rev - 1n,
  };
}

/** matches is the v2 watcher hub's delivery rule for a watch on path (see V2Watch). */
export function matches(e: V2Event, path: string, recursive: boolean): boolean {
  const k = e.node?.key;
  if (k === undefined) return false;
  if (k === path) return true;
  if (recursive) {
    const base = path === "/" ? "" : path;
    if (k.startsWith(`${base}/`)) return !k.slice(base.length).includes("/_");
  }
  return DELETE_ACTIONS.has(e.action) && e.prevNode?.dir === true && path.startsWith(`${k}/`);
}

/**
 * actionsOf is the v2 action of each revision of v3 events (the action key's value, the
 * action a refresh or a directory update was, "expire" for a revision that only deletes v2
 * nodes without one); revisions that are no v2 write (plain v3 writes) give none.
 */
export function actionsOf(layout: V2Layout, events: readonly mvccpb.Event[]): string[] {
  const out: string[] = [];
  let rev: bigint | undefined;
  let action: string | undefined;
  let puts = 0;
  let deletes = 0;
  const flush = (): void => {
    if (rev === undefined) return;
    if (action !== undefined) {
      if (action.startsWith("refresh:")) out.push(action.slice("refresh:".length));
      else if (action.startsWith("{")) out.push("update");
      else out.push(action);
    } else if (puts === 0 && deletes > 0) {
      out.push("expire");
    }
  };
  for (const ev of events) {
    const kv = ev.kv;
    if (kv === undefined) continue;
    if (kv.modRevision !== rev) {
      flush();
      rev = kv.modRevision;
      action = undefined;
      puts = 0;
      deletes = 0;
    }
    if (layout.isActionKey(kv.key)) action = kv.value.toString();
    else if (layout.nodeOf(kv.key) !== undefined) {
      if (ev.type === 1) deletes++;
      else puts++;
    }
  }
  flush();
  return out;
}
