import { mvccpb } from "@etcd-ts/proto";
import type { WatchResponse, WatchStream } from "../watch_stream.js";
import type { WatchableStore } from "../watchable_store.js";

/** ev renders an event as "PUT a=1@3" / "DEL a@5", with " prev=a=0" when it carries prevKv. */
export function ev(e: mvccpb.Event): string {
  const kv = e.kv as mvccpb.KeyValue;
  const head =
    e.type === mvccpb.Event_EventType.PUT
      ? `PUT ${kv.key.toString()}=${kv.value.toString()}@${kv.modRevision}`
      : `DEL ${kv.key.toString()}@${kv.modRevision}`;
  return e.prevKv === undefined ? head : `${head} prev=${e.prevKv.key.toString()}=${e.prevKv.value.toString()}`;
}

/** resp renders a response as "w<id> r<revision> [events]" (and " compacted <rev>"). */
export function resp(r: WatchResponse): string {
  const c = r.compactRevision !== 0n ? ` compacted ${r.compactRevision}` : "";
  return `w${r.watchId} r${r.revision} [${r.events.map(ev).join(", ")}]${c}`;
}

/** drain takes every queued response of a stream at once. */
export function drain(s: WatchStream): WatchResponse[] {
  const out: WatchResponse[] = [];
  for (let r = s.poll(); r !== undefined; r = s.poll()) out.push(r);
  return out;
}

/**
 * settle alternates draining the streams (into sink) and catch-up rounds until no watcher is
 * unsynced, as a consumer that reads everything and a server that keeps calling syncWatchers.
 */
export async function settle(ws: WatchableStore, streams: WatchStream[], sink: WatchResponse[], maxRounds = 10_000): Promise<void> {
  for (let i = 0; i < maxRounds; i++) {
    for (const s of streams) sink.push(...drain(s));
    if (ws.unsyncedCount === 0) return;
    await ws.syncWatchers();
  }
  throw new Error(`settle: still ${ws.unsyncedCount} unsynced watchers after ${maxRounds} rounds`);
}

/** byWatcher groups rendered events by watch ID, checking that each response holds whole, ascending revisions. */
export function eventsByWatcher(responses: WatchResponse[]): Map<bigint, string[]> {
  const m = new Map<bigint, string[]>();
  for (const r of responses) {
    let list = m.get(r.watchId);
    if (list === undefined) {
      list = [];
      m.set(r.watchId, list);
    }
    for (const e of r.events) list.push(ev(e));
  }
  return m;
}

/** mulberry32 is a small seeded PRNG. */
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
