/**
 * @etcd-ts/bbolt reads and writes bbolt files, the format of etcd's backend database
 * (member/snap/db) and of its snapshots: a reader that walks a file page by page, and a
 * writer that builds a compact file bottom-up from sorted input, as a file or as a stream of
 * bytes in file order.
 */
export { BboltReader, BboltBucket, type BboltEntry, type BboltKeyValue, type BboltSubBucket } from "./reader.js";
export {
  bboltChunks,
  bboltChunksPlanned,
  metaPages,
  planBbolt,
  writeBboltFile,
  type BboltBucketInput,
  type BboltEntryInput,
  type BboltLayout,
  type BboltSource,
  type BboltWriteOptions,
} from "./writer.js";
export { BboltPushWriter } from "./push_writer.js";
export { BboltCorruptError, BboltInputError } from "./errors.js";
export { BufferSource, FileSource, type ByteSource } from "./source.js";
export { MAX_KEY_SIZE, MAX_VALUE_SIZE } from "./page.js";
