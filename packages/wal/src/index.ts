export { WAL, DEFAULT_SEGMENT_SIZE_BYTES, DEFAULT_INLINE_WRITE_MAX_MS, DEFAULT_PREALLOCATE_BYTES, type WalOptions, type WalContents } from "./wal.js";
export { WalCorruptError } from "./errors.js";

// Go etcd 3.4's WAL and .snap formats (src/go), for moving data directories between Go etcd and etcd-ts.
export { GO_WAL_RECORD_TYPES, type GoWalRecordType } from "./go/record_types.js";
export { GO_WAL_SEGMENT_SIZE_BYTES, GO_MAX_WAL_ENTRY_SIZE_BYTES } from "./go/frame.js";
export { GoWalError, GoSnapError, type GoWalErrorCode, type GoSnapErrorCode } from "./go/errors.js";
export { goWalFileName, goSnapFileName, parseGoWalFileName, type GoWalFileName } from "./go/names.js";
export {
  readGoWal,
  readGoWalSnapshots,
  type GoWalContents,
  type GoWalReadOptions,
  type GoWalSnapshotRef,
  type GoTornTail,
} from "./go/reader.js";
export { repairGoWal, type GoWalRepair } from "./go/repair.js";
export { GoWalWriter, type GoWalWriterOptions } from "./go/writer.js";
export { readGoSnap, readGoSnapFile, writeGoSnap, encodeGoSnapFile, type GoSnapLoad, type GoSnapReadOptions } from "./go/snap.js";
export { decodeGoNormalEntryData, type GoNormalEntryData } from "./go/entry_data.js";
