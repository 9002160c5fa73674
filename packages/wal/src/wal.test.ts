import { entryCodec } from "./entry_codec.js";
import { raftpb, walpb } from "@etcd-ts/proto";
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WAL, WalCorruptError, type WalContents, type WalOptions } from "./index.js";
import { LOCK_FILE } from "./lock.js";
import { RecordBatch, RecordFlag, RecordType, recordSize } from "./record.js";
import { segmentFileName } from "./segment.js";

const META = Buffer.from("member=1 cluster=7");

function ent(index: number, term = 1, data = `entry-${index}`): raftpb.Entry {
  return raftpb.Entry.fromPartial({ index: BigInt(index), term: BigInt(term), data: Buffer.from(data) });
}

function ents(from: number, to: number, term = 1): raftpb.Entry[] {
  const out: raftpb.Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push(ent(i, term));
  }
  return out;
}

function hs(term: number, commit: number, vote = 1): raftpb.HardState {
  return raftpb.HardState.fromPartial({ term: BigInt(term), commit: BigInt(commit), vote: BigInt(vote) });
}

function marker(index: number, term = 1): walpb.SnapshotMarker {
  return walpb.SnapshotMarker.fromPartial({ index: BigInt(index), term: BigInt(term) });
}

/** indexes returns "index/term" of each entry, for compact assertions. */
function indexes(c: WalContents): string[] {
  return c.entries.map((e) => `${e.index}/${e.term}`);
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".wal"))
    .sort();
}

function lastSegment(dir: string): string {
  const files = segmentFiles(dir);
  return join(dir, files[files.length - 1]!);
}

function entryRecordSize(e: raftpb.Entry): number {
  return recordSize(entryCodec.encode(e).length);
}

function hardStateRecordSize(h: raftpb.HardState): number {
  return recordSize(raftpb.HardState.encode(h).finish().length);
}

/** NO_PREALLOC turns preallocation off, for tests that read the segment's size as its end. */
const NO_PREALLOC = { preallocateBytes: 0 };

async function reopen(dir: string, opts: WalOptions = {}): Promise<WalContents> {
  const { wal, contents } = await WAL.open(dir, opts);
  await wal.close();
  return contents;
}

let root: string;
let n = 0;
function freshDir(): string {
  return join(root, `wal-${n++}`);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "etcd-ts-wal-"));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("WAL round trip", () => {
  it("reads back metadata, hard state and entries, and appends after reopening", async () => {
    const dir = freshDir();
    expect(WAL.exists(dir)).toBe(false);
    const wal = await WAL.create(dir, META);
    expect(WAL.exists(dir)).toBe(true);
    await wal.save(hs(1, 0), ents(1, 3));
    await wal.save(hs(2, 3, 2), ents(4, 5, 2));
    await wal.close();

    const { wal: w2, contents } = await WAL.open(dir);
    expect(contents.metadata.equals(META)).toBe(true);
    expect(contents.hardState).toEqual(hs(2, 3, 2));
    expect(contents.snapshot).toBeUndefined();
    expect(contents.entries).toEqual([...ents(1, 3), ...ents(4, 5, 2)]);
    await w2.save(undefined, ents(6, 7, 2));
    await w2.close();

    const again = await reopen(dir);
    expect(indexes(again)).toEqual(["1/1", "2/1", "3/1", "4/2", "5/2", "6/2", "7/2"]);
    expect(again.hardState).toEqual(hs(2, 3, 2));
  });

  it("opens a fresh WAL with no hard state and no entries", async () => {
    const dir = freshDir();
    await (await WAL.create(dir, META)).close();
    const c = await reopen(dir);
    expect(c).toEqual({ metadata: META, hardState: undefined, snapshot: undefined, entries: [] });
  });

  it("keeps entry bytes exactly, including empty and large data", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    const big = Buffer.alloc(200_000, "etcd-ts");
    const list = [
      raftpb.Entry.fromPartial({ index: 1n, term: 1n }),
      raftpb.Entry.fromPartial({ index: 2n, term: 1n, type: raftpb.EntryType.ENTRY_CONF_CHANGE, data: Buffer.from([0, 1, 2]) }),
      raftpb.Entry.fromPartial({ index: 3n, term: 1n, data: big }),
    ];
    await wal.save(undefined, list);
    await wal.close();
    const got = (await reopen(dir)).entries;
    expect(got.map((e) => [e.index, e.term, e.type])).toEqual(list.map((e) => [e.index, e.term, e.type]));
    got.forEach((e, i) => expect(e.data.equals(list[i]!.data)).toBe(true));
  });

  it("replaces a conflicting suffix", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    await wal.save(hs(1, 2), ents(1, 10));
    await wal.save(hs(2, 5), [ent(6, 2), ent(7, 2)]);
    await wal.close();
    let c = await reopen(dir);
    expect(indexes(c)).toEqual(["1/1", "2/1", "3/1", "4/1", "5/1", "6/2", "7/2"]);
    expect(c.hardState).toEqual(hs(2, 5));

    // Overwrite again from the very first index, then extend.
    const { wal: w2 } = await WAL.open(dir);
    await w2.save(undefined, [ent(1, 3), ent(2, 3)]);
    await w2.save(undefined, [ent(3, 3)]);
    await w2.close();
    c = await reopen(dir);
    expect(indexes(c)).toEqual(["1/3", "2/3", "3/3"]);
  });

  it("refuses saves that would leave a gap and stays usable", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    await wal.save(undefined, ents(1, 3));
    await expect(wal.save(undefined, [ent(5)])).rejects.toThrow(/^wal: save: entry index 5 leaves a gap after index 3/);
    await expect(wal.save(undefined, [ent(4), ent(6)])).rejects.toThrow(/^wal: save: entry index 6 does not follow 4/);
    await wal.save(undefined, [ent(4)]);
    await wal.close();
    expect(indexes(await reopen(dir))).toEqual(["1/1", "2/1", "3/1", "4/1"]);
  });

  it("serializes concurrent calls in call order", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 300 });
    const pending: Promise<void>[] = [];
    for (let i = 1; i <= 30; i++) {
      pending.push(wal.save(hs(1, i - 1), [ent(i)]));
    }
    pending.push(wal.saveSnapshot(marker(10)));
    pending.push(wal.releaseTo(20n));
    await Promise.all(pending);
    await wal.close();
    const c = await reopen(dir);
    expect(c.entries.map((e) => Number(e.index))).toEqual(ents(11, 30).map((e) => Number(e.index)));
    expect(c.hardState).toEqual(hs(1, 29));
    expect(c.snapshot).toEqual(marker(10));
  });

  it("rejects calls after close and a second create", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    await wal.close();
    await wal.close();
    await expect(wal.save(undefined, [ent(1)])).rejects.toThrow("wal: closed");
    await expect(WAL.create(dir, META)).rejects.toThrow(/^wal: .* already holds a write-ahead log/);
  });

  it("does not treat an empty or missing directory as a WAL", async () => {
    const dir = freshDir();
    mkdirSync(dir);
    expect(WAL.exists(dir)).toBe(false);
    await expect(WAL.open(dir)).rejects.toThrow(/^wal: no segment files/);
    expect(readdirSync(dir)).toEqual([]); // the lock was released
  });
});

describe("WAL segments", () => {
  it("rolls over into new segments, each starting with the metadata", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 256 });
    for (let i = 1; i <= 40; i++) {
      await wal.save(hs(1, i - 1), [ent(i)]);
    }
    await wal.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(5);
    expect(files[0]).toBe("0000000000000000-0000000000000000.wal");
    files.forEach((f, i) => expect(f.startsWith(i.toString(16).padStart(16, "0") + "-")).toBe(true));
    for (const f of files) {
      expect(readFileSync(join(dir, f)).includes(META)).toBe(true);
    }
    const c = await reopen(dir, { segmentSizeBytes: 256 });
    expect(c.entries).toEqual(ents(1, 40));
    expect(c.hardState).toEqual(hs(1, 39));
    expect(c.metadata.equals(META)).toBe(true);
  });

  it("releaseTo deletes old segments and keeps the one holding the index", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 200 });
    await wal.save(hs(1, 0, 3), []); // only ever saved in the first segment
    for (let i = 1; i <= 60; i++) {
      await wal.save(undefined, [ent(i)]);
    }
    await wal.saveSnapshot(marker(35));
    const before = segmentFiles(dir);
    await wal.releaseTo(0n);
    expect(segmentFiles(dir)).toEqual(before);
    await wal.releaseTo(35n);
    const after = segmentFiles(dir);
    expect(after.length).toBeLessThan(before.length);
    expect(after).toEqual(before.slice(before.length - after.length));
    // The first kept segment was started at or below index 35; the next one above it.
    const firstIndexOf = (f: string): bigint => BigInt(`0x${f.slice(17, 33)}`);
    expect(firstIndexOf(after[0]!)).toBeLessThanOrEqual(35n);
    expect(firstIndexOf(after[1]!)).toBeGreaterThan(35n);
    await wal.save(undefined, [ent(61)]);
    await wal.close();

    const c = await reopen(dir);
    expect(c.hardState).toEqual(hs(1, 0, 3)); // carried by every segment head
    expect(c.snapshot).toEqual(marker(35));
    expect(c.entries).toEqual(ents(36, 61));

    // Releasing past the end keeps the tail segment and what the log needs.
    const { wal: w2 } = await WAL.open(dir);
    await w2.saveSnapshot(marker(61));
    await w2.releaseTo(1000n);
    await w2.close();
    expect(segmentFiles(dir).length).toBeLessThan(after.length);
    const last = await reopen(dir);
    expect(last.hardState).toEqual(hs(1, 0, 3));
    expect(last.snapshot).toEqual(marker(61));
    expect(last.entries).toEqual([]);
    expect(last.metadata.equals(META)).toBe(true);
  });

  it("releases to a snapshot: marker and hard state survive in the segment heads", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 150 });
    for (let i = 1; i <= 30; i++) {
      await wal.save(hs(2, i), [ent(i, 2)]);
    }
    await wal.saveSnapshot(marker(20, 2));
    for (let i = 31; i <= 50; i++) {
      await wal.save(undefined, [ent(i, 2)]);
    }
    await wal.releaseTo(20n);
    await wal.close();
    const c = await reopen(dir);
    expect(c.snapshot).toEqual(marker(20, 2));
    expect(c.hardState).toEqual(hs(2, 30));
    expect(c.entries).toEqual(ents(21, 50, 2));
  });

  it("releaseTo handles segment names that go down after a conflict", async () => {
    const dir = freshDir();
    // The head (metadata record) is 40 bytes: every save after the first starts a segment.
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 48 });
    await wal.save(undefined, ents(1, 20));
    await wal.save(undefined, [ent(21)]); // segment named 21
    await wal.save(undefined, [ent(5, 2)]); // segment named 22; the log is now 1..5
    await wal.save(undefined, [ent(6, 2)]); // segment named 6
    await wal.saveSnapshot(marker(6, 2)); // segment named 7
    await wal.save(undefined, [ent(7, 2)]); // segment named 7 too (the marker did not move the end)
    const files = segmentFiles(dir);
    expect(files.map((f) => Number(BigInt(`0x${f.slice(17, 33)}`)))).toEqual([0, 21, 22, 6, 7, 7]);
    await wal.releaseTo(5n); // no later segment was started at or below 5
    expect(segmentFiles(dir)).toEqual(files);
    await wal.releaseTo(6n); // segments 0, 21 and 22 go: everything live in them is below 6
    expect(segmentFiles(dir)).toEqual(files.slice(3));
    await wal.close();
    const c = await reopen(dir);
    expect(c.snapshot).toEqual(marker(6, 2));
    expect(indexes(c)).toEqual(["7/2"]);
  });

  it("fails on a missing middle segment", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 100 });
    for (let i = 1; i <= 10; i++) await wal.save(undefined, [ent(i)]);
    await wal.close();
    const files = segmentFiles(dir);
    unlinkSync(join(dir, files[2]!));
    const err = await WAL.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalCorruptError);
    expect((err as Error).message).toMatch(/^wal: .*0000000000000003-.*\.wal: offset 0: segment sequence jumps from 1 to 3/);
  });

  it("removes a leftover temporary segment", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    await wal.save(undefined, ents(1, 2));
    await wal.close();
    writeFileSync(join(dir, "0000000000000001-0000000000000003.wal.tmp"), Buffer.from("partial"));
    const c = await reopen(dir);
    expect(indexes(c)).toEqual(["1/1", "2/1"]);
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false);
  });
});

describe("WAL snapshot markers", () => {
  it("drops entries at or below the marker", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    await wal.save(hs(1, 10), ents(1, 10));
    await wal.saveSnapshot(marker(6));
    await wal.close();
    let c = await reopen(dir);
    expect(c.snapshot).toEqual(marker(6));
    expect(indexes(c)).toEqual(["7/1", "8/1", "9/1", "10/1"]);

    // A marker past the end of the log (a snapshot received from the leader).
    const { wal: w2 } = await WAL.open(dir);
    await w2.saveSnapshot(marker(100, 4));
    await expect(w2.save(undefined, [ent(102, 4)])).rejects.toThrow(/leaves a gap after index 100/);
    await w2.save(hs(4, 101), [ent(101, 4)]);
    await w2.close();
    c = await reopen(dir);
    expect(c.snapshot).toEqual(marker(100, 4));
    expect(indexes(c)).toEqual(["101/4"]);
    expect(c.hardState).toEqual(hs(4, 101));
  });

  it("releases no further than the latest marker", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 150 });
    for (let i = 1; i <= 30; i++) await wal.save(hs(1, i), [ent(i)]);
    const all = segmentFiles(dir);
    await wal.releaseTo(25n); // no marker yet: nothing can go
    expect(segmentFiles(dir)).toEqual(all);
    await wal.saveSnapshot(marker(10));
    for (let i = 31; i <= 60; i++) await wal.save(undefined, [ent(i)]);
    const before = segmentFiles(dir);
    await wal.releaseTo(40n); // capped at 10
    await wal.close();
    const kept = segmentFiles(dir);
    expect(kept.length).toBeLessThan(before.length);
    expect(kept.length).toBeGreaterThan(before.length - all.length);
    let c = await reopen(dir);
    expect(c.snapshot).toEqual(marker(10));
    expect(c.entries).toEqual(ents(11, 60));
    expect(c.hardState).toEqual(hs(1, 30));

    const { wal: w2 } = await WAL.open(dir, { segmentSizeBytes: 150 });
    await w2.saveSnapshot(marker(45));
    await w2.releaseTo(45n);
    await w2.close();
    expect(segmentFiles(dir).length).toBeLessThan(kept.length);
    c = await reopen(dir);
    expect(c.snapshot).toEqual(marker(45));
    expect(c.entries).toEqual(ents(46, 60));
    expect(c.hardState).toEqual(hs(1, 30));
  });
});

describe("WAL retention (maxSegments, etcd's --max-wals)", () => {
  const firstIndexOf = (f: string): bigint => BigInt(`0x${f.slice(17, 33)}`);
  /** neededFrom is the position of the first segment file the log needs past a marker at index. */
  const neededFrom = (files: string[], index: bigint): number => {
    let first = 0;
    files.forEach((f, i) => {
      if (i > 0 && firstIndexOf(f) <= index) first = i;
    });
    return first;
  };

  /** fill saves entries from..to one per save, so small segments roll over often. */
  async function fill(wal: WAL, from: number, to: number): Promise<void> {
    for (let i = from; i <= to; i++) await wal.save(hs(1, i), [ent(i)]);
  }

  it("keeps the newest maxSegments files after a release, and reads back only what the log needs", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 150, maxSegments: 4 });
    await fill(wal, 1, 60);
    await wal.saveSnapshot(marker(58));
    const before = segmentFiles(dir);
    expect(before.length).toBeGreaterThan(8);
    const needed = before.length - neededFrom(before, 58n);
    expect(needed).toBeLessThan(4); // so the newest 4 include a released segment
    await wal.releaseTo(58n);
    expect(segmentFiles(dir)).toEqual(before.slice(-4));
    await wal.close();

    // The oldest kept segment is a released one: open does not read it, so even a damaged
    // one does not stop it (etcd reads from the snapshot's segment on too).
    flipBit(join(dir, before[before.length - 4]!), 60, 1);
    const c = await reopen(dir, { segmentSizeBytes: 150, maxSegments: 4 });
    expect(c.snapshot).toEqual(marker(58));
    expect(c.entries).toEqual(ents(59, 60));
    expect(c.hardState).toEqual(hs(1, 60));
    expect(segmentFiles(dir)).toEqual(before.slice(-4));
  });

  it("keeps every segment with 0, and the log reads back the same", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 150, maxSegments: 0 });
    await fill(wal, 1, 40);
    await wal.saveSnapshot(marker(30));
    await wal.releaseTo(30n);
    await fill(wal, 41, 80);
    await wal.saveSnapshot(marker(75));
    await wal.releaseTo(75n);
    const all = segmentFiles(dir);
    expect(all[0]).toBe(segmentFileName(0, 0n));
    await wal.close();
    const { wal: w2, contents } = await WAL.open(dir, { segmentSizeBytes: 150, maxSegments: 0 });
    expect(contents.snapshot).toEqual(marker(75));
    expect(contents.entries).toEqual(ents(76, 80));
    await w2.close();
    expect(segmentFiles(dir)).toEqual(all);
  });

  it("never deletes a segment the log still needs, whatever the limit", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 150, maxSegments: 1 });
    await fill(wal, 1, 40);
    await wal.saveSnapshot(marker(12));
    const before = segmentFiles(dir);
    await wal.releaseTo(40n); // capped at the marker: segments from the one holding 12 on stay
    const kept = segmentFiles(dir);
    expect(kept.length).toBeGreaterThan(1);
    expect(kept).toEqual(before.slice(neededFrom(before, 12n)));
    await wal.close();
    const c = await reopen(dir);
    expect(c.snapshot).toEqual(marker(12));
    expect(c.entries).toEqual(ents(13, 40));
  });

  it("deletes released segments when new segments push the count past the limit", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 150, maxSegments: 3 });
    await fill(wal, 1, 20);
    await wal.saveSnapshot(marker(20));
    await wal.releaseTo(20n);
    expect(segmentFiles(dir).length).toBe(3);
    const released = segmentFiles(dir).slice(0, neededFrom(segmentFiles(dir), 20n));
    expect(released.length).toBeGreaterThan(0);
    await fill(wal, 21, 40); // segments roll over; the released ones make room
    await wal.close(); // waits for the queued deletions
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3); // more than the limit is needed now
    expect(files.some((f) => released.includes(f))).toBe(false);
    expect(neededFrom(files, 20n)).toBe(0); // the first file left is the one holding index 20
    expect(firstIndexOf(files[0]!)).toBeLessThanOrEqual(20n);
    const c = await reopen(dir, { segmentSizeBytes: 150, maxSegments: 3 });
    expect(c.entries).toEqual(ents(21, 40));
  });

  it("applies a lower limit when opened, and only to released segments", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 150, maxSegments: 0 });
    await fill(wal, 1, 50);
    await wal.saveSnapshot(marker(45));
    await wal.releaseTo(45n);
    await wal.close();
    const all = segmentFiles(dir);
    const from = neededFrom(all, 45n);
    expect(from).toBeGreaterThan(2);
    const c = await reopen(dir, { segmentSizeBytes: 150, maxSegments: 2 });
    expect(c.entries).toEqual(ents(46, 50));
    // Two files is fewer than the log needs: every released one goes, no needed one does.
    expect(segmentFiles(dir)).toEqual(all.slice(from));
    await reopen(dir, { segmentSizeBytes: 150, maxSegments: 0 });
    expect(segmentFiles(dir)).toEqual(all.slice(from));
    // Without a limit (the package default), every released segment goes at once.
    const dir2 = freshDir();
    const w2 = await WAL.create(dir2, META, { segmentSizeBytes: 150, maxSegments: 0 });
    await fill(w2, 1, 50);
    await w2.close();
    const c2 = await reopen(dir2);
    expect(c2.entries).toEqual(ents(1, 50)); // no marker: nothing is released
    expect(segmentFiles(dir2).length).toBeGreaterThan(2);
  });

  it("reads back the model log through random saves, conflicts, snapshots, releases and reopens", async () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 4; round++) {
      const dir = freshDir();
      let max = rand(4);
      let wal = await WAL.create(dir, META, { segmentSizeBytes: 120 + rand(100), maxSegments: max });
      let log: raftpb.Entry[] = []; // the model: entries after the marker
      let snap = 0;
      let last = 0;
      let term = 1;
      for (let step = 0; step < 90; step++) {
        const op = rand(10);
        if (op < 6) {
          const n = 1 + rand(3);
          await wal.save(hs(term, last), ents(last + 1, last + n, term));
          log.push(...ents(last + 1, last + n, term));
          last += n;
        } else if (op === 6 && last > snap + 1) {
          // a conflict replaces the suffix after some index above the marker
          const from = snap + 1 + rand(last - snap);
          term++;
          await wal.save(undefined, [ent(from, term)]);
          log = log.filter((e) => e.index < BigInt(from));
          log.push(ent(from, term));
          last = from;
        } else if (op === 7 && last > snap) {
          snap = snap + 1 + rand(last - snap);
          await wal.saveSnapshot(marker(snap, term));
          log = log.filter((e) => e.index > BigInt(snap));
        } else if (op === 8) {
          await wal.releaseTo(BigInt(snap + rand(5)));
        } else {
          await wal.close();
          max = rand(4);
          const opened = await WAL.open(dir, { segmentSizeBytes: 120 + rand(100), maxSegments: max });
          wal = opened.wal;
          expect(opened.contents.entries, `round ${round} step ${step}`).toEqual(log);
          expect(opened.contents.snapshot?.index ?? 0n).toBe(BigInt(snap));
          if (max === 0) expect(segmentFiles(dir)[0]).toBe(segmentFileName(0, 0n));
        }
      }
      await wal.close();
      const c = await reopen(dir);
      expect(c.entries).toEqual(log);
    }
  }, 120_000);
});

describe("WAL write failures", () => {
  it("refuses further writes after a failed write", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    await wal.save(undefined, ents(1, 2));
    // Close the segment file underneath the WAL so the next write fails.
    await (wal as unknown as { tail: { close(): Promise<void> } }).tail.close();
    await expect(wal.save(undefined, [ent(3)])).rejects.toThrow();
    await expect(wal.save(undefined, [ent(3)])).rejects.toThrow(/^wal: unusable after an earlier write failure/);
    await wal.close();
    expect(indexes(await reopen(dir))).toEqual(["1/1", "2/1"]);
  });
});

describe("WAL preallocation", () => {
  it("keeps the tail segment zero-filled ahead of the appends and reads the log back from the front of the zeros", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { preallocateBytes: 4096 });
    await wal.save(hs(1, 0), ents(1, 3));
    await wal.close();
    const buf = readFileSync(lastSegment(dir));
    expect(buf.length).toBeGreaterThanOrEqual(4096);
    const end = buf.length - buf.reverse().findIndex((b) => b !== 0);
    expect(end).toBeLessThan(1024);
    const { wal: again, contents } = await WAL.open(dir, { preallocateBytes: 4096 });
    expect(contents.entries).toEqual(ents(1, 3));
    expect(statSync(lastSegment(dir)).size).toBe(buf.length); // the zeros are not cut off
    await again.save(hs(1, 3), ents(4, 6));
    await again.close();
    const c = await reopen(dir);
    expect(c.entries).toEqual(ents(1, 6));
    expect(c.hardState).toEqual(hs(1, 3));
  });

  it("never lets a zero-fill in flight land on a record (appends racing small extensions)", async () => {
    const dir = freshDir();
    // 256-byte extensions: nearly every few saves start one while the next save writes.
    const wal = await WAL.create(dir, META, { preallocateBytes: 256, inlineWriteMaxMs: 60_000 });
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 400; i++) saves.push(wal.save(hs(1, i - 1), [ent(i)], i % 3 !== 0));
    await Promise.all(saves);
    await wal.close();
    const c = await reopen(dir);
    expect(c.entries).toEqual(ents(1, 400));
    expect(c.hardState).toEqual(hs(1, 399));
  });

  it("preallocates no further than the segment size, so only the last segment ends in zeros", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { segmentSizeBytes: 300, preallocateBytes: 4096 });
    for (let i = 1; i <= 40; i++) await wal.save(hs(1, i - 1), [ent(i)]);
    await wal.close();
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect(statSync(join(dir, f)).size).toBeLessThan(300 + 100);
    expect((await reopen(dir, { segmentSizeBytes: 300 })).entries).toEqual(ents(1, 40));
  });

  it("cuts the zeros off a tail preallocated under a larger segment size before starting the next segment", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { preallocateBytes: 8192 });
    for (let i = 1; i <= 10; i++) await wal.save(hs(1, i - 1), [ent(i)]);
    await wal.close();
    expect(statSync(lastSegment(dir)).size).toBeGreaterThanOrEqual(8192);
    const { wal: small } = await WAL.open(dir, { segmentSizeBytes: 256, preallocateBytes: 8192 });
    await small.save(hs(1, 10), [ent(11)]); // the tail holds more than 256 bytes of records: a new segment
    await small.close();
    const files = segmentFiles(dir);
    expect(files).toHaveLength(2);
    expect(readFileSync(join(dir, files[0]!)).subarray(-8).equals(Buffer.alloc(8))).toBe(false);
    expect((await reopen(dir)).entries).toEqual(ents(1, 11));
  });
});

describe("WAL inline writes", () => {
  it("writes on the calling thread while writes are fast, and reads back the same log", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { inlineWriteMaxMs: 60_000 });
    const synced: number[] = [];
    wal.onSync = (s) => synced.push(s);
    for (let i = 1; i <= 3; i++) await wal.save(hs(1, i - 1), [ent(i)]);
    expect([wal.inlineWrites, wal.pooledWrites]).toEqual([3, 0]);
    expect(synced).toHaveLength(3);
    await wal.close();
    const c = await reopen(dir);
    expect(indexes(c)).toEqual(["1/1", "2/1", "3/1"]);
    expect(c.hardState?.commit).toBe(2n);
  });

  it("uses the thread pool once recent writes took longer than the limit", async () => {
    const dir = freshDir();
    // Every real write takes longer than a nanosecond: the first is inline (no history yet),
    // its duration lifts the average over the limit, and the rest go to the pool.
    const wal = await WAL.create(dir, META, { inlineWriteMaxMs: 1e-6 });
    for (let i = 1; i <= 3; i++) await wal.save(undefined, [ent(i)]);
    expect([wal.inlineWrites, wal.pooledWrites]).toEqual([1, 2]);
    await wal.close();
    expect(indexes(await reopen(dir))).toEqual(["1/1", "2/1", "3/1"]);
  });

  it("probes the disk inline again after 63 pooled writes in a row", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { inlineWriteMaxMs: 1e-6 });
    for (let i = 1; i <= 70; i++) await wal.save(undefined, [ent(i)]);
    // #1 inline (no history), #2-#64 pooled, #65 an inline probe (slower than 1 ns: pooled again), #66-#70 pooled.
    expect([wal.inlineWrites, wal.pooledWrites]).toEqual([2, 68]);
    await wal.close();
    expect(indexes(await reopen(dir))).toHaveLength(70);
  });

  it("never writes inline with 0, nor a save larger than 1 MiB", async () => {
    const zero = await WAL.create(freshDir(), META, { inlineWriteMaxMs: 0 });
    await zero.save(undefined, ents(1, 2));
    expect([zero.inlineWrites, zero.pooledWrites]).toEqual([0, 1]);
    await zero.close();
    const dir = freshDir();
    const big = await WAL.create(dir, META, { inlineWriteMaxMs: 60_000 });
    await big.save(undefined, [ent(1, 1, "x".repeat(1024 * 1024 + 1))]);
    await big.save(undefined, [ent(2)]);
    expect([big.inlineWrites, big.pooledWrites]).toEqual([1, 1]);
    await big.close();
    expect(indexes(await reopen(dir))).toEqual(["1/1", "2/1"]);
  });

  it("writes a save of more than two entries in the thread pool, however fast the disk", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, { inlineWriteMaxMs: 60_000 });
    await wal.save(undefined, ents(1, 2));
    await wal.save(undefined, ents(3, 5));
    await wal.save(hs(1, 5), [ent(6)]);
    expect([wal.inlineWrites, wal.pooledWrites]).toEqual([2, 1]);
    await wal.close();
    expect(indexes(await reopen(dir))).toHaveLength(6);
  });

  it("refuses a negative limit", async () => {
    await expect(WAL.create(freshDir(), META, { inlineWriteMaxMs: -1 })).rejects.toThrow(/inlineWriteMaxMs/);
  });
});

describe("WAL lock", () => {
  it("keeps a second open out until the first closes", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META);
    await expect(WAL.open(dir)).rejects.toThrow(/^wal: .* is already open in this process/);
    await wal.close();
    await reopen(dir);
  });

  it("refuses a lock held by another live process and takes over a dead one's", async () => {
    const dir = freshDir();
    await (await WAL.create(dir, META)).close();
    writeFileSync(join(dir, LOCK_FILE), `${process.ppid}\n`);
    await expect(WAL.open(dir)).rejects.toThrow(new RegExp(`^wal: .* is locked by process ${process.ppid}`));
    const child = spawnSync(process.execPath, ["-e", ""]);
    expect(child.status).toBe(0);
    writeFileSync(join(dir, LOCK_FILE), `${child.pid}\n`);
    const { wal } = await WAL.open(dir);
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(`${process.pid}\n`);
    await wal.close();
  });
});

/**
 * buildLog writes a log in which each save is exactly one record, and returns the file
 * offset where each save's record ends in the (single) segment.
 */
interface Step {
  apply: (w: WAL) => Promise<void>;
  size: number;
}

function steps(): { list: Step[]; expected: (k: number) => { entries: raftpb.Entry[]; hardState: raftpb.HardState | undefined } } {
  const list: Step[] = [];
  const model: Array<{ entries: raftpb.Entry[]; hardState: raftpb.HardState | undefined }> = [{ entries: [], hardState: undefined }];
  let entries: raftpb.Entry[] = [];
  let hard: raftpb.HardState | undefined;
  const push = (s: Step): void => {
    list.push(s);
    model.push({ entries: [...entries], hardState: hard });
  };
  for (let i = 1; i <= 6; i++) {
    const e = ent(i, 1, "x".repeat(i * 3));
    entries = [...entries, e];
    push({ apply: (w) => w.save(undefined, [e]), size: entryRecordSize(e) });
    if (i % 2 === 0) {
      const h = hs(1, i - 1);
      hard = h;
      push({ apply: (w) => w.save(h, []), size: hardStateRecordSize(h) });
    }
  }
  // A conflicting entry as the last record.
  const c = ent(5, 2, "conflict");
  entries = [...entries.slice(0, 4), c];
  push({ apply: (w) => w.save(undefined, [c]), size: entryRecordSize(c) });
  return { list, expected: (k) => model[k]! };
}

async function buildLog(dir: string): Promise<{ ends: number[]; expected: ReturnType<typeof steps>["expected"] }> {
  const { list, expected } = steps();
  const wal = await WAL.create(dir, META, NO_PREALLOC);
  const ends: number[] = [statSync(lastSegment(dir)).size];
  for (const s of list) {
    await s.apply(wal);
    const size = statSync(lastSegment(dir)).size;
    expect(size - ends[ends.length - 1]!).toBe(s.size);
    ends.push(size);
  }
  await wal.close();
  return { ends, expected };
}

function flipBit(file: string, offset: number, bit: number): void {
  const buf = readFileSync(file);
  buf[offset]! ^= 1 << bit;
  writeFileSync(file, buf);
}

describe("WAL torn tail", () => {
  it("cuts the log at every byte offset inside the last records", async () => {
    const base = freshDir();
    const { ends, expected } = await buildLog(base);
    const records = ends.length - 1;
    // ends[k] is where record k (1-based save k) ends; cut inside the last four records.
    for (let k = records - 3; k <= records; k++) {
      for (let cut = ends[k - 1]!; cut < ends[k]!; cut++) {
        const dir = freshDir();
        cpSync(base, dir, { recursive: true });
        truncateSync(lastSegment(dir), cut);

        const want = expected(k - 1);
        const { wal, contents } = await WAL.open(dir, NO_PREALLOC);
        expect(contents.entries, `cut at ${cut}`).toEqual(want.entries);
        expect(contents.hardState, `cut at ${cut}`).toEqual(want.hardState);
        expect(statSync(lastSegment(dir)).size).toBe(ends[k - 1]);

        const next = ent(want.entries.length + 1, 3, "after-repair");
        await wal.save(hs(3, 1), [next]);
        await wal.close();
        const again = await reopen(dir, NO_PREALLOC);
        expect(again.entries, `cut at ${cut}`).toEqual([...want.entries, next]);
        expect(again.hardState).toEqual(hs(3, 1));
        rmSync(dir, { recursive: true });
      }
    }
  }, 60_000); // hundreds of reopens: slow on a loaded machine, so no 5 s default

  it("cuts every byte offset inside a multi-record save", async () => {
    const base = freshDir();
    const wal = await WAL.create(base, META, NO_PREALLOC);
    await wal.save(hs(1, 0), ents(1, 2));
    const start = statSync(lastSegment(base)).size;
    const batch = [ent(3, 1, "ccc"), ent(4, 1, "dddddddddd"), ent(5, 1, "")];
    const h = hs(1, 4);
    await wal.save(h, batch);
    await wal.close();
    const bounds = [start];
    for (const e of batch) bounds.push(bounds[bounds.length - 1]! + entryRecordSize(e));
    bounds.push(bounds[bounds.length - 1]! + hardStateRecordSize(h));
    expect(statSync(lastSegment(base)).size).toBe(bounds[bounds.length - 1]);

    for (let cut = start; cut < bounds[bounds.length - 1]!; cut++) {
      const dir = freshDir();
      cpSync(base, dir, { recursive: true });
      truncateSync(lastSegment(dir), cut);
      const whole = bounds.filter((b) => b <= cut).length - 1; // records of the batch fully present
      const c = await reopen(dir, NO_PREALLOC);
      expect(c.entries, `cut at ${cut}`).toEqual([...ents(1, 2), ...batch.slice(0, Math.min(whole, batch.length))]);
      expect(c.hardState).toEqual(hs(1, 0));
      rmSync(dir, { recursive: true });
    }
  }, 60_000); // hundreds of reopens: slow on a loaded machine, so no 5 s default

  it("keeps trailing zero bytes (preallocated space) and appends where they start", async () => {
    const base = freshDir();
    const wal = await WAL.create(base, META, NO_PREALLOC);
    await wal.save(hs(1, 2), ents(1, 3));
    await wal.close();
    const size = statSync(lastSegment(base)).size;
    for (const zeros of [1, 7, 8, 15, 16, 17, 100, 4096]) {
      const dir = freshDir();
      cpSync(base, dir, { recursive: true });
      appendFileSync(lastSegment(dir), Buffer.alloc(zeros));
      const { wal: w, contents } = await WAL.open(dir, NO_PREALLOC);
      expect(contents.entries).toEqual(ents(1, 3));
      expect(statSync(lastSegment(dir)).size).toBe(size + zeros);
      await w.save(undefined, [ent(4)]);
      expect(statSync(lastSegment(dir)).size).toBe(Math.max(size + zeros, size + entryRecordSize(ent(4))));
      await w.close();
      expect((await reopen(dir, NO_PREALLOC)).entries).toEqual(ents(1, 4));
    }
  });

  it("treats a write into preallocated space that lost a sector as a torn tail, though records of it follow", async () => {
    const dir = freshDir();
    const wal = await WAL.create(dir, META, NO_PREALLOC);
    await wal.save(hs(1, 0), [ent(1)]);
    const start = statSync(lastSegment(dir)).size;
    const big = (i: number): raftpb.Entry => ent(i, 1, "x".repeat(3000));
    await wal.save(hs(1, 1), [big(2), big(3), big(4)]);
    await wal.close();
    // The first page of the last write never reached the disk: zeros, as preallocated.
    const buf = readFileSync(lastSegment(dir));
    buf.fill(0, start, Math.ceil((start + 1) / 4096) * 4096);
    writeFileSync(lastSegment(dir), Buffer.concat([buf, Buffer.alloc(8192)]));
    const { wal: again, contents } = await WAL.open(dir, NO_PREALLOC);
    expect(contents.entries).toEqual([ent(1)]);
    expect(contents.hardState).toEqual(hs(1, 0));
    await again.save(hs(1, 1), [ent(2)]);
    await again.close();
    expect((await reopen(dir, NO_PREALLOC)).entries).toEqual([ent(1), ent(2)]);
  });

  it("treats a bit flip in the last record as a torn tail", async () => {
    const base = freshDir();
    const { ends, expected } = await buildLog(base);
    const k = ends.length - 1;
    for (let at = ends[k - 1]!; at < ends[k]!; at += 3) {
      const dir = freshDir();
      cpSync(base, dir, { recursive: true });
      flipBit(lastSegment(dir), at, at % 8);
      const c = await reopen(dir, NO_PREALLOC);
      expect(c.entries, `flip at ${at}`).toEqual(expected(k - 1).entries);
    }
  });
});

describe("WAL corruption", () => {
  it("throws on a bit flip in a record followed by valid records", async () => {
    const base = freshDir();
    const { ends } = await buildLog(base);
    // Record 3 (the first hard state) and record 5, and the metadata record at offset 0.
    const targets: Array<[string, number]> = [];
    for (const k of [3, 5]) {
      const start = ends[k - 1]!;
      targets.push(["length", start], ["type", start + 4], ["body crc", start + 9], ["header crc", start + 15]);
      targets.push(["body", start + 16], ["last byte", ends[k]! - 1]);
    }
    targets.push(["metadata length", 0], ["metadata body", 17]);
    for (const [what, at] of targets) {
      for (const bit of [0, 7]) {
        const dir = freshDir();
        cpSync(base, dir, { recursive: true });
        const file = lastSegment(dir);
        flipBit(file, at, bit);
        const err = await WAL.open(dir, NO_PREALLOC).catch((e: unknown) => e);
        expect(err, `${what} at ${at} bit ${bit}`).toBeInstanceOf(WalCorruptError);
        expect((err as Error).message).toMatch(/^wal: /);
        expect((err as Error).message).toContain(file);
        expect((err as WalCorruptError).file).toBe(file);
        // The lock was released: a repaired directory opens again.
        flipBit(file, at, bit);
        await reopen(dir, NO_PREALLOC);
      }
    }
  });

  it("throws on garbage (not zeros) past a torn record when a valid record follows it", async () => {
    const base = freshDir();
    const { ends } = await buildLog(base);
    const dir = freshDir();
    cpSync(base, dir, { recursive: true });
    const file = lastSegment(dir);
    const buf = readFileSync(file);
    const k = ends.length - 2; // the record before the last
    buf.fill(0, ends[k - 1]! + 4, ends[k]!); // zeroed, as a lost page would be
    writeFileSync(file, buf);
    await expect(WAL.open(dir, NO_PREALLOC)).rejects.toThrow(WalCorruptError);
    await expect(WAL.open(dir, NO_PREALLOC)).rejects.toThrow(`offset ${ends[k - 1]}`);
  });

  it("throws on damage anywhere in a segment that is not the last", async () => {
    const base = freshDir();
    const wal = await WAL.create(base, META, { segmentSizeBytes: 128, ...NO_PREALLOC });
    for (let i = 1; i <= 20; i++) await wal.save(hs(1, i), [ent(i)]);
    await wal.close();
    const files = segmentFiles(base);
    expect(files.length).toBeGreaterThan(3);

    const first = () => join(dir, files[0]!);
    let dir = freshDir();
    cpSync(base, dir, { recursive: true });
    const size = statSync(first()).size;
    flipBit(first(), size - 3, 2); // inside its last record
    let err = await WAL.open(dir, NO_PREALLOC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalCorruptError);
    expect((err as Error).message).toContain(files[0]!);
    expect((err as Error).message).toContain("not the last");

    dir = freshDir();
    cpSync(base, dir, { recursive: true });
    truncateSync(first(), size - 5); // torn, but not at the end of the log
    err = await WAL.open(dir, NO_PREALLOC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalCorruptError);

    dir = freshDir();
    cpSync(base, dir, { recursive: true });
    appendFileSync(first(), Buffer.alloc(8)); // even zeros
    await expect(WAL.open(dir, NO_PREALLOC)).rejects.toThrow(WalCorruptError);
  });

  it("throws on a well-formed segment whose log has a hole", async () => {
    const craft = (records: Array<[RecordType, Uint8Array]>): string => {
      const dir = freshDir();
      mkdirSync(dir);
      const b = new RecordBatch();
      b.add(RecordType.Metadata, META, RecordFlag.HeadEnd);
      for (const [t, body] of records) b.add(t, body);
      writeFileSync(join(dir, segmentFileName(0, 0n)), b.encode(0));
      return dir;
    };
    const e = (i: number) => entryCodec.encode(ent(i));
    await expect(reopen(craft([[RecordType.Entry, e(1)], [RecordType.Entry, e(2)]]), NO_PREALLOC)).resolves.toBeDefined();
    await expect(reopen(craft([[RecordType.Entry, e(1)], [RecordType.Entry, e(3)]]), NO_PREALLOC)).rejects.toThrow(
      /offset 80: entry index 3 leaves a gap after index 1$/,
    );
    const snap = walpb.SnapshotMarker.encode(marker(10)).finish();
    await expect(reopen(craft([[RecordType.Snapshot, snap], [RecordType.Entry, e(15)]]), NO_PREALLOC)).rejects.toThrow(
      /log starts at index 15 but the latest snapshot marker is at index 10/,
    );
    await expect(reopen(craft([[RecordType.Entry, e(1)], [RecordType.Metadata, Buffer.from("other")]]), NO_PREALLOC)).rejects.toThrow(
      /metadata differs/,
    );
    await expect(reopen(craft([[RecordType.Entry, Buffer.from([0xff, 0xff])]]), NO_PREALLOC)).rejects.toThrow(/cannot decode entry/);
    // A record with valid checksums but an unknown type is never cut off as a torn tail.
    await expect(reopen(craft([[99 as RecordType, Buffer.from("from the future")]]), NO_PREALLOC)).rejects.toThrow(
      /offset 40: unknown record type 99/,
    );
  });

  it("never cuts the last segment inside its head", async () => {
    const base = freshDir();
    const wal = await WAL.create(base, META, { segmentSizeBytes: 64, ...NO_PREALLOC });
    await wal.save(hs(1, 1), [ent(1)]);
    await wal.saveSnapshot(marker(1)); // goes into a new segment whose head is metadata, hard state
    await wal.close();
    const file = lastSegment(base);
    const headEnd = statSync(file).size - recordSize(walpb.SnapshotMarker.encode(marker(1)).finish().length);
    expect(headEnd).toBe(recordSize(META.length) + hardStateRecordSize(hs(1, 1)));
    for (const cut of [0, 3, 16, 40, headEnd - 1]) {
      const dir = freshDir();
      cpSync(base, dir, { recursive: true });
      truncateSync(lastSegment(dir), cut);
      await expect(WAL.open(dir, NO_PREALLOC), `cut at ${cut}`).rejects.toThrow(WalCorruptError);
    }
    const dir = freshDir();
    cpSync(base, dir, { recursive: true });
    truncateSync(lastSegment(dir), headEnd);
    flipBit(lastSegment(dir), headEnd - 2, 0); // the hard state is the last record in the file
    await expect(WAL.open(dir, NO_PREALLOC)).rejects.toThrow(/in the segment head/);
    // Cut right after the head: a torn tail, the marker is lost but the head's state is not.
    truncateSync(lastSegment(dir), headEnd);
    flipBit(lastSegment(dir), headEnd - 2, 0);
    const c = await reopen(dir, NO_PREALLOC);
    expect(c.hardState).toEqual(hs(1, 1));
    expect(indexes(c)).toEqual(["1/1"]);
  });
});
