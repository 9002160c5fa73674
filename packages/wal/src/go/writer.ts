import { mkdir, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { etcdraftpb, etcdwalpb } from "@etcd-ts/proto";
import { syncDir, writeAll } from "../segment.js";
import { goEntry, goHardState, isEmptyGoHardState } from "./canonical.js";
import { GoWalError } from "./errors.js";
import { GO_WAL_SEGMENT_SIZE_BYTES, GoRecordEncoder } from "./frame.js";
import { goWalFileName } from "./names.js";
import { GO_WAL_RECORD_TYPES } from "./record_types.js";
import type { GoWalSnapshotRef } from "./reader.js";

/** GoWalWriterOptions shape the files GoWalWriter writes. */
export interface GoWalWriterOptions {
  /**
   * segmentSizeBytes: once a save leaves the current file at or past this many bytes, the
   * writer starts the next file, as Go's cut does. Default GO_WAL_SEGMENT_SIZE_BYTES
   * (64,000,000), Go's SegmentSizeBytes.
   */
  segmentSizeBytes?: number;
  /**
   * preallocate extends every new file to segmentSizeBytes with zeros before writing, as Go
   * does (Go uses fallocate; this uses ftruncate, so the zeros are a sparse hole: the bytes
   * read are the same). Default true. Without it a file is exactly as long as its records;
   * Go etcd reads either and preallocates the file it appends to itself.
   */
  preallocate?: boolean;
}

/** TMP_FILE is the name a new file is written under before its rename (Go's filePipeline uses "0.tmp" and "1.tmp"). */
const TMP_FILE = "0.tmp";

async function hasWalFiles(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).some((n) => n.endsWith(".wal"));
  } catch {
    return false;
  }
}

/**
 * GoWalWriter writes a WAL directory in Go etcd 3.4's format that Go etcd starts from, the
 * way Go's wal.Create, Save, SaveSnapshot and cut do: the first file
 * 0000000000000000-0000000000000000.wal starts with a crc record (0), the metadata record
 * and a snapshot record {index 0, term 0}; a save appends one entry record per entry and
 * then a state record (skipped when the hard state is all zero), and fdatasyncs when it
 * holds entries or changes term or vote (raft.MustSync); each later file starts with a crc
 * record carrying the CRC the previous file ended with, the metadata and the last hard
 * state, and is named after the index the log expects next. Records marshal as Go does, so
 * the files hold Go's bytes for the same calls.
 *
 * Go locks the files it writes with flock; this writer does not, so no Go etcd may use the
 * directory meanwhile. Not safe for concurrent calls: await each before the next.
 */
export class GoWalWriter {
  private enti = 0n;
  /** fileIndex is the start index in the current file's name. */
  private fileIndex = 0n;
  private state: etcdraftpb.HardState = goHardState({});
  private closed = false;

  private constructor(
    private readonly dir: string,
    private fh: FileHandle,
    private seq: bigint,
    private offset: number,
    private encoder: GoRecordEncoder,
    private readonly metadata: Buffer,
    private readonly segmentSizeBytes: number,
    private readonly preallocate: boolean,
  ) {}

  /**
   * create makes dir a new Go WAL holding metadata (Go etcd: a marshaled
   * etcdserverpb.Metadata {NodeID, ClusterID}). Like Go it builds the WAL in "<dir>.tmp",
   * removes dir (which must hold no .wal file, else GoWalError "exists") and renames the
   * temporary directory into place, then fsyncs the parent directory.
   */
  static async create(dir: string, metadata: Uint8Array, opts: GoWalWriterOptions = {}): Promise<GoWalWriter> {
    if (await hasWalFiles(dir)) throw new GoWalError("exists", "file already exists", dir);
    const segmentSizeBytes = opts.segmentSizeBytes ?? GO_WAL_SEGMENT_SIZE_BYTES;
    const preallocate = opts.preallocate ?? true;
    const tmpDir = `${resolve(dir)}.tmp`;
    await rm(tmpDir, { recursive: true, force: true });
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    const name = goWalFileName(0n, 0n);
    const fh = await open(join(tmpDir, name), "w", 0o600);
    try {
      if (preallocate) await fh.truncate(segmentSizeBytes);
      const encoder = new GoRecordEncoder(0);
      const meta = Buffer.from(metadata);
      const head = Buffer.concat([encoder.encodeCrc(), encoder.encode(GO_WAL_RECORD_TYPES.metadata, meta)]);
      await writeAll(fh, head, 0);
      const w = new GoWalWriter(dir, fh, 0n, head.length, encoder, meta, segmentSizeBytes, preallocate);
      await w.saveSnapshot({ index: 0n, term: 0n });
      await rm(dir, { recursive: true, force: true });
      await rename(tmpDir, dir);
      await syncDir(dirname(resolve(dir)));
      return w;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /** lastIndex is the index of the last entry saved, or of the last snapshot saved when that is higher (Go's enti). */
  get lastIndex(): bigint {
    return this.enti;
  }

  /** currentFile is the base name of the file being appended to. */
  get currentFile(): string {
    return goWalFileName(this.seq, this.fileIndex);
  }

  /**
   * save appends entries (in order) and then the hard state, as Go's WAL.Save; it does
   * nothing when there are no entries and the hard state is all zero. It fdatasyncs when
   * there are entries or term or vote differ from the last hard state saved, and starts the
   * next file when the current one reached segmentSizeBytes.
   */
  async save(hardState: etcdraftpb.HardState, entries: readonly etcdraftpb.Entry[]): Promise<void> {
    this.checkOpen();
    const st = goHardState(hardState);
    const empty = isEmptyGoHardState(st);
    if (empty && entries.length === 0) return;
    const mustSync = entries.length > 0 || st.vote !== this.state.vote || st.term !== this.state.term;
    const frames: Buffer[] = [];
    for (const e of entries) {
      const ge = goEntry(e);
      frames.push(this.encoder.encode(GO_WAL_RECORD_TYPES.entry, etcdraftpb.Entry.encode(ge).finish()));
      this.enti = ge.Index!;
    }
    if (!empty) {
      this.state = st;
      frames.push(this.encoder.encode(GO_WAL_RECORD_TYPES.state, etcdraftpb.HardState.encode(st).finish()));
    }
    await this.append(Buffer.concat(frames));
    if (this.offset < this.segmentSizeBytes) {
      if (mustSync) await this.fh.datasync();
      return;
    }
    await this.cut();
  }

  /** saveSnapshot appends a snapshot record {index, term} and fdatasyncs, as Go's WAL.SaveSnapshot. */
  async saveSnapshot(snap: GoWalSnapshotRef): Promise<void> {
    this.checkOpen();
    const body = etcdwalpb.Snapshot.encode({ index: snap.index, term: snap.term }).finish();
    await this.append(this.encoder.encode(GO_WAL_RECORD_TYPES.snapshot, body));
    if (this.enti < snap.index) this.enti = snap.index;
    await this.fh.datasync();
  }

  /** sync fdatasyncs the current file. */
  async sync(): Promise<void> {
    this.checkOpen();
    await this.fh.datasync();
  }

  /** close fdatasyncs and closes the current file; calling it again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.fh.datasync();
    } finally {
      await this.fh.close();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("wal: GoWalWriter is closed");
  }

  private async append(buf: Buffer): Promise<void> {
    await writeAll(this.fh, buf, this.offset);
    this.offset += buf.length;
  }

  /**
   * cut ends the current file at its last record and starts the next one, as Go's cut: the
   * new file is written under TMP_FILE, synced, then renamed to "<seq+1>-<lastIndex+1>.wal"
   * and the directory synced.
   */
  private async cut(): Promise<void> {
    await this.fh.truncate(this.offset);
    await this.fh.datasync();
    const tmpPath = join(this.dir, TMP_FILE);
    const fh = await open(tmpPath, "w", 0o600);
    try {
      if (this.preallocate) await fh.truncate(this.segmentSizeBytes);
      const encoder = new GoRecordEncoder(this.encoder.crc);
      const frames = [encoder.encodeCrc(), encoder.encode(GO_WAL_RECORD_TYPES.metadata, this.metadata)];
      if (!isEmptyGoHardState(this.state)) {
        frames.push(encoder.encode(GO_WAL_RECORD_TYPES.state, etcdraftpb.HardState.encode(this.state).finish()));
      }
      const head = Buffer.concat(frames);
      await writeAll(fh, head, 0);
      await fh.datasync();
      const seq = this.seq + 1n;
      const fileIndex = this.enti + 1n;
      const name = goWalFileName(seq, fileIndex);
      await rename(tmpPath, join(this.dir, name));
      await syncDir(this.dir);
      await this.fh.close();
      this.fh = fh;
      this.seq = seq;
      this.fileIndex = fileIndex;
      this.offset = head.length;
      this.encoder = encoder;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }
}
