export { WAL, DEFAULT_SEGMENT_SIZE_BYTES, type WalOptions, type WalContents } from "./wal.js";
export { WalCorruptError } from "./errors.js";
