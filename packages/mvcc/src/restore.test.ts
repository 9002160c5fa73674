import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { b, Harness, meta } from "./testing/helpers.js";

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.destroy();
});

/** snapshotStore captures everything a reopen must rebuild identically. */
async function snapshotStore(fromRev: bigint): Promise<unknown> {
  const reads: string[][] = [];
  for (let rev = fromRev; rev <= h.store.currentRevision; rev++) {
    reads.push((await h.range("\0", "\0", { revision: rev })).kvs.map(meta));
  }
  return {
    current: h.store.currentRevision,
    compacted: h.store.compactRevision,
    reads,
    hashKV: await h.store.hashKV(0n),
    hash: await h.store.hash(),
  };
}

describe("KVStore reopen", () => {
  it("rebuilds index, values, revisions and hashes identically", async () => {
    h.put("a", "1", { lease: 3n });
    h.put("b", "1");
    h.txn((t) => {
      t.put(b("c"), b("1"), 0n);
      t.deleteRange(b("b"), undefined);
      // a keeps its lease (etcd's ignore_lease is the applier's; the store writes what it is given).
      t.put(b("a"), b("2"), 3n);
    });
    h.put("b", "2");
    h.del("a", "b");
    h.put("a", "3");
    h.put(String.fromCharCode(0), "nul");
    h.put("\u00ff\u00fe", "high");
    await h.commitAt(17n);
    const before = await snapshotStore(1n);
    await h.reopen();
    expect(await snapshotStore(1n)).toEqual(before);
    expect(h.put("a", "4").revision).toBe(10n);
    expect(meta((await h.range("a")).kvs[0])).toBe("a=4 c7 m10 v2 l0");
  });

  it("rebuilds keys and values in memory of their own", async () => {
    h.put("key-1", "v".repeat(300));
    h.put("key-2", "w");
    await h.commit();
    await h.reopen();
    const kvs = (await h.range("key-1", "key-3")).kvs;
    expect(kvs.map(meta)).toEqual([`key-1=${"v".repeat(300)} c2 m2 v1 l0`, "key-2=w c3 m3 v1 l0"]);
    for (const kv of kvs) {
      expect(kv.key.buffer.byteLength).toBe(kv.key.length);
      expect(kv.value.buffer.byteLength).toBe(kv.value.length);
    }
  });

  it("rebuilds after compaction identically", async () => {
    for (let i = 0; i < 40; i++) {
      if (i % 5 === 4) h.del(`k${i % 3}`);
      else h.put(`k${i % 6}`, `v${i}`);
    }
    await h.commit();
    const { done } = h.store.compact(25n);
    await h.commit();
    await done;
    const before = await snapshotStore(25n);
    await h.reopen();
    expect(await snapshotStore(25n)).toEqual(before);
  });
});

/** mulberry32 is a small seeded PRNG so the random history is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ModelKV {
  value: string;
  create: bigint;
  mod: bigint;
  version: bigint;
  lease: bigint;
}

/**
 * Model is a plain reference implementation: the full key/value map after every revision.
 * Writes are staged in `next` and become a revision when the operation changed something.
 */
class Model {
  states: Array<Map<string, ModelKV>> = [new Map(), new Map()];
  next = new Map<string, ModelKV>();
  changed = false;

  get rev(): bigint {
    return BigInt(this.states.length - 1);
  }

  begin(): void {
    this.next = new Map(this.states[this.states.length - 1]);
    this.changed = false;
  }

  put(key: string, value: string, lease: bigint): void {
    const rev = this.rev + 1n;
    const prev = this.next.get(key);
    this.next.set(key, {
      value,
      create: prev ? prev.create : rev,
      mod: rev,
      version: prev ? prev.version + 1n : 1n,
      lease,
    });
    this.changed = true;
  }

  del(from: string, to: string | undefined): void {
    for (const key of [...this.next.keys()]) {
      if (to === undefined ? key === from : key >= from && key < to) {
        this.next.delete(key);
        this.changed = true;
      }
    }
  }

  end(): void {
    if (this.changed) this.states.push(this.next);
  }

  at(rev: bigint): string[] {
    const state = this.states[Number(rev)]!;
    return [...state.keys()].sort().map((k) => {
      const kv = state.get(k)!;
      return `${k}=${kv.value} c${kv.create} m${kv.mod} v${kv.version} l${kv.lease}`;
    });
  }
}

describe("KVStore against a reference model", () => {
  it("agrees on a seeded random history with commits, compactions and reopens", async () => {
    const rand = mulberry32(20240601);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const model = new Model();
    let compacted = 0n;
    const dones: Promise<void>[] = [];

    for (let step = 0; step < 400; step++) {
      const r = rand();
      model.begin();
      if (r < 0.45) {
        const key = pick(keys);
        const value = `v${step}`;
        const lease = rand() < 0.2 ? BigInt(1 + Math.floor(rand() * 3)) : 0n;
        h.put(key, value, { lease });
        model.put(key, value, lease);
      } else if (r < 0.6) {
        const from = pick(keys);
        const to = rand() < 0.5 ? undefined : pick(keys);
        h.del(from, to ?? "");
        model.del(from, to);
      } else if (r < 0.8) {
        const [k1, k2, k3] = [pick(keys), pick(keys), pick(keys)];
        const expected = model.next.get(k1)?.version ?? 0n;
        const guess = rand() < 0.5 ? expected : expected + 1n;
        const succeeded = guess === expected;
        // A compare-and-swap as a write transaction: read k1's version, write only if it matches.
        h.txn((t) => {
          const cur = t.range(b(k1), undefined);
          if (cur instanceof Promise) throw new Error("expected a synchronous read");
          const ok = (cur.kvs[0]?.version ?? 0n) === guess;
          expect(ok).toBe(succeeded);
          if (!ok) return;
          t.put(b(k2), b(`t${step}`), 0n);
          if (k3 !== k2) t.deleteRange(b(k3), undefined);
        });
        if (succeeded) {
          model.put(k2, `t${step}`, 0n);
          if (k3 !== k2) model.del(k3, undefined);
        }
      } else if (r < 0.9) {
        await h.commit();
      } else if (r < 0.96) {
        const target = compacted + 1n + BigInt(Math.floor(rand() * Number(model.rev - compacted)));
        if (target <= model.rev) {
          dones.push(h.store.compact(target).done);
          compacted = target;
        }
      } else {
        await h.commit();
        await h.reopen();
      }
      model.end();

      expect(h.store.currentRevision).toBe(model.rev);
      const now = h.rangeAt("\0", "\0");
      if (now instanceof Promise) throw new Error("expected a synchronous read");
      expect(now.kvs.map(meta)).toEqual(model.at(model.rev));
      const low = compacted > 1n ? compacted : 1n;
      const past = low + BigInt(Math.floor(rand() * Number(model.rev - low + 1n)));
      expect((await h.range("\0", "\0", { revision: past })).kvs.map(meta)).toEqual(model.at(past));
    }
    await h.commit();
    await Promise.allSettled(dones);
    const before = await snapshotStore(compacted > 1n ? compacted : 1n);
    await h.reopen();
    expect(await snapshotStore(compacted > 1n ? compacted : 1n)).toEqual(before);
  });
});
