import { etcdraftpb, etcdserverpb } from "@etcd-ts/proto";
import { closeSync, existsSync, openSync, writeSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GoWalError, GoWalWriter, readGoWal, readGoWalSnapshots, repairGoWal, GO_WAL_SEGMENT_SIZE_BYTES } from "../index.js";
import { GoWalDecoder } from "./decoder.js";

const META = Buffer.from(etcdserverpb.Metadata.encode({ NodeID: 0x8e9e05c52164694dn, ClusterID: 0xcdf818194e3a8c32n }).finish());

function ent(index: number, term = 1, data: string | undefined = `put-${index}`): etcdraftpb.Entry {
  const e: etcdraftpb.Entry = { Type: etcdraftpb.EntryType.EntryNormal, Term: BigInt(term), Index: BigInt(index) };
  if (data !== undefined) e.Data = Buffer.from(data);
  return e;
}

function ents(from: number, to: number, term = 1): etcdraftpb.Entry[] {
  const out: etcdraftpb.Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term));
  return out;
}

function hs(term: number, commit: number, vote = 1): etcdraftpb.HardState {
  return { term: BigInt(term), vote: BigInt(vote), commit: BigInt(commit) };
}

function walFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".wal"))
    .sort();
}

/** recordOffsets lists the offset of every valid record of one file (decoded alone). */
async function recordOffsets(path: string): Promise<{ type: number; offset: number }[]> {
  const d = new GoWalDecoder([path]);
  const out: { type: number; offset: number }[] = [];
  try {
    for (let r = await d.next(); r !== undefined; r = await d.next()) {
      out.push({ type: r.type, offset: r.offset });
      if (r.type === 4) d.crc = r.crc;
    }
  } finally {
    await d.close();
  }
  return out;
}

let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "go-wal-"));
  dir = join(root, "wal");
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("GoWalWriter -> readGoWal", () => {
  it("creates the first file as Go's wal.Create does and reads it back", async () => {
    const w = await GoWalWriter.create(dir, META);
    await w.save(hs(2, 3), ents(1, 3, 2));
    await w.close();
    expect(walFiles(dir)).toEqual(["0000000000000000-0000000000000000.wal"]);
    expect(existsSync(`${dir}.tmp`)).toBe(false);
    const path = join(dir, "0000000000000000-0000000000000000.wal");
    expect(statSync(path).size).toBe(GO_WAL_SEGMENT_SIZE_BYTES);
    expect((await recordOffsets(path)).map((r) => r.type)).toEqual([4, 1, 5, 2, 2, 2, 3]);

    const c = await readGoWal(dir);
    expect(c.metadata).toEqual(META);
    expect(etcdserverpb.Metadata.decode(c.metadata!)).toEqual({ NodeID: 0x8e9e05c52164694dn, ClusterID: 0xcdf818194e3a8c32n });
    expect(c.hardState).toEqual(hs(2, 3));
    expect(c.entries).toEqual(ents(1, 3, 2));
    expect(c.snapshots).toEqual([{ index: 0n, term: 0n }]);
    expect(c.lastIndex).toBe(3n);
    expect(c.tornTail).toBeUndefined();
  });

  it("keeps an entry's absent data absent and an empty hard state out of the log", async () => {
    const w = await GoWalWriter.create(dir, META, { preallocate: false });
    await w.save(hs(0, 0, 0), [{ Type: etcdraftpb.EntryType.EntryNormal, Term: 1n, Index: 1n }]);
    await w.close();
    const c = await readGoWal(dir);
    expect(c.entries).toEqual([{ Type: 0, Term: 1n, Index: 1n }]);
    expect(c.hardState).toEqual(hs(0, 0, 0));
    const path = join(dir, walFiles(dir)[0]!);
    expect((await recordOffsets(path)).map((r) => r.type)).toEqual([4, 1, 5, 2]);
    // Without preallocation the file ends with its last record.
    const last = (await recordOffsets(path)).at(-1)!;
    expect(statSync(path).size).toBeGreaterThan(last.offset);
    expect(statSync(path).size % 8).toBe(0);
  });

  it("cuts files like Go: crc chain, metadata and hard state at the head, named seq-nextIndex", async () => {
    const w = await GoWalWriter.create(dir, META, { segmentSizeBytes: 512 });
    for (let i = 1; i <= 40; i++) await w.save(hs(1, i), [ent(i)]);
    await w.saveSnapshot({ index: 20n, term: 1n });
    await w.close();
    const files = walFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    expect(files[0]).toBe("0000000000000000-0000000000000000.wal");
    // Every cut file starts at the index after the last entry of the file before it.
    for (const f of files.slice(1)) {
      const seqIndex = f.replace(".wal", "").split("-");
      expect(BigInt(`0x${seqIndex[1]}`)).toBeGreaterThan(1n);
      expect((await recordOffsets(join(dir, f))).map((r) => r.type).slice(0, 3)).toEqual([4, 1, 3]);
    }
    // Files before the last are truncated at their last record (no preallocated tail).
    expect(statSync(join(dir, files[0]!)).size).toBeLessThan(1024);
    const c = await readGoWal(dir);
    expect(c.entries).toEqual(ents(1, 40));
    expect(c.hardState).toEqual(hs(1, 40));
    expect(c.files).toEqual(files);

    // From a snapshot: only the files from the one holding index 20 are read.
    const fromSnap = await readGoWal(dir, { fromSnapshot: { index: 20n, term: 1n } });
    expect(fromSnap.entries).toEqual(ents(21, 40));
    expect(fromSnap.files[0]).not.toBe(files[0]);
    expect(await readGoWalSnapshots(dir)).toEqual([
      { index: 0n, term: 0n },
      { index: 20n, term: 1n },
    ]);
    await expect(readGoWal(dir, { fromSnapshot: { index: 20n, term: 2n } })).rejects.toMatchObject({ code: "snapshot-mismatch" });
    await expect(readGoWal(dir, { fromSnapshot: { index: 21n, term: 1n } })).rejects.toMatchObject({ code: "snapshot-not-found" });
  });

  it("lets a later entry overwrite the one at its index and drop those after it, as Go's ReadAll", async () => {
    const w = await GoWalWriter.create(dir, META);
    await w.save(hs(1, 2), ents(1, 5, 1));
    await w.save(hs(2, 3, 2), [ent(4, 2, "new-4")]);
    await w.close();
    const c = await readGoWal(dir);
    expect(c.entries).toEqual([...ents(1, 3, 1), ent(4, 2, "new-4")]);
    expect(c.lastIndex).toBe(4n);
  });

  it("only counts snapshot records at or below the commit index as valid", async () => {
    const w = await GoWalWriter.create(dir, META);
    await w.save(hs(1, 5), ents(1, 10));
    await w.saveSnapshot({ index: 5n, term: 1n });
    await w.saveSnapshot({ index: 8n, term: 1n });
    await w.close();
    expect(await readGoWalSnapshots(dir)).toEqual([
      { index: 0n, term: 0n },
      { index: 5n, term: 1n },
    ]);
  });

  it("refuses to create over a directory that holds .wal files", async () => {
    const w = await GoWalWriter.create(dir, META);
    await w.close();
    await expect(GoWalWriter.create(dir, META)).rejects.toMatchObject({ code: "exists" });
  });
});

describe("readGoWal on bad input", () => {
  /** writeThreeFiles writes a WAL cut into at least three files and returns their paths. */
  async function writeThreeFiles(): Promise<string[]> {
    const w = await GoWalWriter.create(dir, META, { segmentSizeBytes: 600 });
    let i = 1;
    for (; walFiles(dir).length < 3; i++) await w.save(hs(1, i), [ent(i)]);
    // Two more records in the last file, far from the next cut.
    await w.save(hs(1, i), [ent(i), ent(i + 1)]);
    await w.close();
    const files = walFiles(dir).map((f) => join(dir, f));
    expect(files.length).toBeGreaterThanOrEqual(3);
    return files;
  }

  it("fails with a crc mismatch on a flipped byte in a record of a middle file", async () => {
    const files = await writeThreeFiles();
    const mid = files[1]!;
    const entryRec = (await recordOffsets(mid)).find((r) => r.type === 2)!;
    const buf = readFileSync(mid);
    buf[entryRec.offset + 8 + 12]! ^= 0x40; // inside the entry's data
    writeFileSync(mid, buf);
    const err = await readGoWal(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoWalError);
    expect(err).toMatchObject({ code: "crc-mismatch", offset: entryRec.offset });
    expect((err as Error).message).toMatch(/^walpb: crc mismatch/);
  });

  it("fails with a crc mismatch on a flipped byte in the middle of the last file", async () => {
    const files = await writeThreeFiles();
    const last = files.at(-1)!;
    const recs = (await recordOffsets(last)).filter((r) => r.type === 2);
    expect(recs.length).toBeGreaterThan(1);
    const buf = readFileSync(last);
    buf[recs[0]!.offset + 8 + 12]! ^= 0x01;
    writeFileSync(last, buf);
    await expect(readGoWal(dir)).rejects.toMatchObject({ code: "crc-mismatch" });
    // Not a torn write: Go's Repair refuses too.
    await expect(repairGoWal(dir)).rejects.toMatchObject({ code: "crc-mismatch" });
  });

  it("fails when a crc record does not carry the CRC the previous file ended with", async () => {
    const files = await writeThreeFiles();
    const buf = readFileSync(files[1]!);
    buf[8 + 3]! ^= 0x01; // the crc field of the file's crc record
    writeFileSync(files[1]!, buf);
    const err = await readGoWal(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "crc-mismatch" });
    expect((err as Error).message).toMatch(/^wal: crc mismatch/);
  });

  it("ends the log before a torn last record (zeroed sector), and repair truncates it keeping a .broken copy", async () => {
    const w = await GoWalWriter.create(dir, META);
    await w.save(hs(1, 4), ents(1, 4));
    // A record of over 1 KiB spans three sectors; the crash left its middle sector unwritten.
    await w.save(hs(1, 5), [ent(5, 1, "x".repeat(1500))]);
    await w.close();
    const path = join(dir, walFiles(dir)[0]!);
    const recs = await recordOffsets(path);
    const big = recs.find((r) => r.type === 2 && r.offset > recs.filter((x) => x.type === 3)[0]!.offset)!;
    const sectorStart = Math.ceil((big.offset + 8 + 1) / 512) * 512;
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(512), 0, 512, sectorStart);
    closeSync(fd);
    const sizeBefore = statSync(path).size;

    const c = await readGoWal(dir);
    expect(c.entries).toEqual(ents(1, 4));
    expect(c.hardState).toEqual(hs(1, 4));
    expect(c.tornTail).toMatchObject({ file: walFiles(dir)[0], offset: big.offset });
    expect(c.endOffset).toBe(big.offset);

    const r = await repairGoWal(dir);
    expect(r).toEqual({ status: "repaired", file: path, offset: big.offset, brokenCopy: `${path}.broken` });
    expect(statSync(path).size).toBe(big.offset);
    expect(statSync(`${path}.broken`).size).toBe(sizeBefore);
    const after = await readGoWal(dir);
    expect(after.tornTail).toBeUndefined();
    expect(after.entries).toEqual(ents(1, 4));
    expect(await repairGoWal(dir)).toEqual({ status: "clean", file: path });
  });

  it("ends the log before a last record cut short by the end of the file", async () => {
    const w = await GoWalWriter.create(dir, META, { preallocate: false });
    await w.save(hs(1, 3), ents(1, 3));
    await w.close();
    const path = join(dir, walFiles(dir)[0]!);
    const lastRec = (await recordOffsets(path)).at(-1)!;
    const buf = readFileSync(path);
    writeFileSync(path, buf.subarray(0, lastRec.offset + 8 + 3));
    const c = await readGoWal(dir);
    expect(c.tornTail?.offset).toBe(lastRec.offset);
    expect(c.entries).toEqual(ents(1, 3));
    expect(c.hardState).toEqual(hs(0, 0, 0)); // the state record was the torn one
    const r = await repairGoWal(dir);
    expect(r).toMatchObject({ status: "repaired", offset: lastRec.offset });
    expect(statSync(path).size).toBe(lastRec.offset);
  });

  it("fails when a file that is not the last is cut short", async () => {
    const files = await writeThreeFiles();
    const buf = readFileSync(files[0]!);
    writeFileSync(files[0]!, buf.subarray(0, buf.length - 5));
    await expect(readGoWal(dir)).rejects.toMatchObject({ code: "unexpected-eof" });
  });

  it("fails on a gap in the file sequence", async () => {
    const files = await writeThreeFiles();
    const mid = files[1]!;
    renameSync(mid, join(root, "moved.wal"));
    const err = await readGoWal(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "bad-sequence" });
    expect((err as Error).message).toMatch(/^wal: file not found/);
  });

  it("reports no WAL files as file not found", async () => {
    mkdirSync(dir);
    await expect(readGoWal(dir)).rejects.toMatchObject({ code: "file-not-found" });
  });

  it("fails on conflicting metadata", async () => {
    const files = await writeThreeFiles();
    // Rewrite file 1 with other metadata of the same length, keeping its CRC chain valid.
    const other = Buffer.from(etcdserverpb.Metadata.encode({ NodeID: 0x8e9e05c52164694cn, ClusterID: 0xcdf818194e3a8c32n }).finish());
    expect(other.length).toBe(META.length);
    const { GoRecordEncoder } = await import("./frame.js");
    const d = new GoWalDecoder([files[1]!]);
    const first = await d.next();
    await d.close();
    const enc = new GoRecordEncoder(first!.crc);
    const head = Buffer.concat([enc.encodeCrc(), enc.encode(1, other)]);
    const buf = readFileSync(files[1]!);
    head.copy(buf, 0);
    writeFileSync(files[1]!, buf);
    await expect(readGoWal(dir)).rejects.toMatchObject({ code: "metadata-conflict" });
  });
});
