import { basename, join } from "node:path";
import { etcdraftpb, etcdwalpb } from "@etcd-ts/proto";
import { goEntry, goHardState } from "./canonical.js";
import { GoWalDecoder, type GoDecodedRecord } from "./decoder.js";
import { GoWalError } from "./errors.js";
import { listGoWalFiles, selectGoWalFiles } from "./names.js";
import { GO_WAL_RECORD_TYPES } from "./record_types.js";

/** GoWalSnapshotRef is a walpb.Snapshot record: a snapshot at (index, term) was saved. */
export interface GoWalSnapshotRef {
  index: bigint;
  term: bigint;
}

/** GoWalReadOptions: where to start reading. */
export interface GoWalReadOptions {
  /**
   * fromSnapshot is the snapshot Go's wal.Open starts at (default index 0, term 0, the
   * snapshot record every WAL starts with). Reading starts at the last file whose start
   * index is at or below its index; entries at or below its index are skipped; a snapshot
   * record with this index and term must be among the records read.
   */
  fromSnapshot?: GoWalSnapshotRef;
}

/** GoTornTail locates a torn last record: the log ends cleanly before it. */
export interface GoTornTail {
  /** file is the base name of the last WAL file. */
  file: string;
  /** offset is the byte offset of the torn record's length word (where repairGoWal truncates). */
  offset: number;
  /** reason says how the record is broken. */
  reason: string;
}

/** GoWalContents is what Go's wal.Open + ReadAll yields from a WAL directory. */
export interface GoWalContents {
  /** metadata is the data of the metadata records (all equal), undefined if there are none. Go etcd: a marshaled etcdserverpb.Metadata. */
  metadata: Buffer | undefined;
  /** hardState is the last state record, or all zeros when there is none. */
  hardState: etcdraftpb.HardState;
  /**
   * entries are the entries after fromSnapshot.index, in index order without gaps; an entry
   * record overwrites the one at its index and drops those after it (a new leader's log).
   */
  entries: etcdraftpb.Entry[];
  /** snapshots are the snapshot records read, in file order. */
  snapshots: GoWalSnapshotRef[];
  /** files are the base names of the WAL files read, in order. */
  files: string[];
  /** lastIndex is the index of the last entry record read (Go's enti), 0 if none. */
  lastIndex: bigint;
  /** endCrc is the running CRC-32C after the last valid record: the chain a writer appending to the WAL continues. */
  endCrc: number;
  /** endOffset is the byte offset just past the last valid record of the last file. */
  endOffset: number;
  /**
   * tornTail is set when the last file ends in a torn record. Go etcd's ReadAll then fails
   * with io.ErrUnexpectedEOF and etcd runs wal.Repair (repairGoWal) before it starts.
   */
  tornTail: GoTornTail | undefined;
}


function decodeBody<T>(decode: (b: Uint8Array) => T, rec: GoDecodedRecord, what: string): T {
  try {
    return decode(rec.data ?? Buffer.alloc(0));
  } catch (err) {
    throw new GoWalError("bad-record", `wal: ${what} record does not decode: ${(err as Error).message}`, basename(rec.path), rec.offset);
  }
}


/**
 * readGoWal reads the WAL in dir as Go etcd 3.4's wal.Open(dir, fromSnapshot) + ReadAll
 * does: files in sequence, CRC chain checked across them, metadata, the last hard state, the
 * entries after the snapshot index and the snapshot records. A torn record at the end of the
 * last file (cut short, or failing its CRC with a zeroed 512-byte sector) ends the log and
 * is reported in tornTail; any other bad record throws GoWalError, e.g. "crc-mismatch" for a
 * corrupted record in the middle. The files are only read, never locked or changed.
 */
export async function readGoWal(dir: string, opts: GoWalReadOptions = {}): Promise<GoWalContents> {
  const start = opts.fromSnapshot ?? { index: 0n, term: 0n };
  const files = selectGoWalFiles(dir, await listGoWalFiles(dir), start.index);
  const decoder = new GoWalDecoder(files.map((f) => join(dir, f.name)));
  let metadata: Buffer | undefined;
  let hardState = goHardState({});
  const entries: etcdraftpb.Entry[] = [];
  const snapshots: GoWalSnapshotRef[] = [];
  let lastIndex = 0n;
  let match = false;
  let tornTail: GoTornTail | undefined;
  try {
    for (;;) {
      let rec: GoDecodedRecord | undefined;
      try {
        rec = await decoder.next();
      } catch (err) {
        if (err instanceof GoWalError && err.code === "unexpected-eof" && decoder.onLastFile) {
          tornTail = { file: basename(decoder.currentPath), offset: err.offset ?? decoder.lastValidOffset, reason: err.message };
          break;
        }
        throw err;
      }
      if (rec === undefined) break;
      switch (rec.type) {
        case GO_WAL_RECORD_TYPES.entry: {
          const e = decodeBody((b) => etcdraftpb.Entry.decode(b), rec, "entry");
          const index = e.Index ?? 0n;
          if (index > start.index) {
            const up = index - start.index - 1n;
            if (up > BigInt(entries.length)) {
              throw new GoWalError(
                "slice-out-of-range",
                `wal: slice bounds out of range (entry ${index} after ${entries.length} entries from ${start.index + 1n})`,
                basename(rec.path),
                rec.offset,
              );
            }
            entries.length = Number(up);
            entries.push(goEntry(e));
          }
          lastIndex = index;
          break;
        }
        case GO_WAL_RECORD_TYPES.state:
          hardState = goHardState(decodeBody((b) => etcdraftpb.HardState.decode(b), rec, "state"));
          break;
        case GO_WAL_RECORD_TYPES.metadata: {
          const data = rec.data ?? Buffer.alloc(0);
          if (metadata !== undefined && !metadata.equals(data)) {
            throw new GoWalError("metadata-conflict", "wal: conflicting metadata found", basename(rec.path), rec.offset);
          }
          metadata = data;
          break;
        }
        case GO_WAL_RECORD_TYPES.crc:
          // A fresh chain (the first file) carries 0 and is not compared.
          if (decoder.crc !== 0 && rec.crc !== decoder.crc) {
            throw new GoWalError("crc-mismatch", "wal: crc mismatch", basename(rec.path), rec.offset);
          }
          decoder.crc = rec.crc;
          break;
        case GO_WAL_RECORD_TYPES.snapshot: {
          const s = decodeBody((b) => etcdwalpb.Snapshot.decode(b), rec, "snapshot");
          const snap = { index: s.index ?? 0n, term: s.term ?? 0n };
          snapshots.push(snap);
          if (snap.index === start.index) {
            if (snap.term !== start.term) {
              throw new GoWalError("snapshot-mismatch", "wal: snapshot mismatch", basename(rec.path), rec.offset);
            }
            match = true;
          }
          break;
        }
        default:
          throw new GoWalError("bad-record", `unexpected block type ${rec.type}`, basename(rec.path), rec.offset);
      }
    }
  } finally {
    await decoder.close();
  }
  if (!match) {
    throw new GoWalError("snapshot-not-found", `wal: snapshot not found (index ${start.index}, term ${start.term})`, dir);
  }
  return {
    metadata,
    hardState,
    entries,
    snapshots,
    files: files.map((f) => f.name),
    lastIndex,
    endCrc: decoder.crc,
    endOffset: decoder.lastValidOffset,
    tornTail,
  };
}

/**
 * readGoWalSnapshots is Go's wal.ValidSnapshotEntries: the snapshot records of every WAL
 * file in dir whose index is at or below the last hard state's commit index, in file order.
 * Go etcd loads the newest .snap file matching one of them at start (readGoSnap's
 * `matching`). Like Go it reads from the first file present without checking the sequence,
 * and a record cut short or torn anywhere ends the scan.
 */
export async function readGoWalSnapshots(dir: string): Promise<GoWalSnapshotRef[]> {
  const files = await listGoWalFiles(dir);
  const decoder = new GoWalDecoder(files.map((f) => join(dir, f.name)));
  const snaps: GoWalSnapshotRef[] = [];
  let commit = 0n;
  try {
    for (;;) {
      let rec: GoDecodedRecord | undefined;
      try {
        rec = await decoder.next();
      } catch (err) {
        if (err instanceof GoWalError && err.code === "unexpected-eof") break;
        throw err;
      }
      if (rec === undefined) break;
      if (rec.type === GO_WAL_RECORD_TYPES.snapshot) {
        const s = decodeBody((b) => etcdwalpb.Snapshot.decode(b), rec, "snapshot");
        snaps.push({ index: s.index ?? 0n, term: s.term ?? 0n });
      } else if (rec.type === GO_WAL_RECORD_TYPES.state) {
        commit = decodeBody((b) => etcdraftpb.HardState.decode(b), rec, "state").commit ?? 0n;
      } else if (rec.type === GO_WAL_RECORD_TYPES.crc) {
        if (decoder.crc !== 0 && rec.crc !== decoder.crc) {
          throw new GoWalError("crc-mismatch", "wal: crc mismatch", basename(rec.path), rec.offset);
        }
        decoder.crc = rec.crc;
      }
    }
  } finally {
    await decoder.close();
  }
  return snaps.filter((s) => s.index <= commit);
}
