import { createRequire } from "node:module";

/**
 * rocksdb.ts types the parts of the npm `rocksdb` 5.x binding that the backend uses. The
 * LevelDOWN object opens and closes the database; reads, batches and iterators call the
 * native binding directly with the database context, which skips abstract-leveldown's
 * per-call argument checks and lets one native call return a whole chunk of an iteration.
 */

/** NativeCallback is the Node-style callback of every native call. */
export type NativeCallback<T> = (err: Error | null, result: T) => void;

/** NativeOp is one operation of a native batch; the binding reads exactly these fields. */
export interface NativeOp {
  type: "put" | "del";
  key: Buffer;
  value?: Buffer;
}

/** LevelDown is the LevelDOWN instance returned by `rocksdb(location)`. */
export interface LevelDown {
  readonly context: unknown;
  open(options: Record<string, unknown>, cb: (err: Error | null) => void): void;
  close(cb: (err: Error | null) => void): void;
  approximateSize(start: Buffer, end: Buffer, cb: NativeCallback<number>): void;
  compactRange(start: Buffer, end: Buffer, cb: (err: Error | null) => void): void;
  /** getProperty reads a RocksDB property ("rocksdb.estimate-live-data-size", ...) as text. */
  getProperty(name: string): string;
}

/** NativeIteratorOptions are the options read by the binding's iterator_init. */
export interface NativeIteratorOptions {
  gte?: Buffer;
  lt?: Buffer;
  reverse: boolean;
  limit: number;
  keyAsBuffer: true;
  valueAsBuffer: true;
  fillCache: boolean;
  highWaterMark: number;
}

/**
 * NativeBinding is the subset of the compiled binding used directly. iterator_next returns
 * up to 1000 entries (or highWaterMark bytes) per call as a flat array in reverse order:
 * [..., value2, key2, value1, key1]; `finished` is true once the iterator is exhausted.
 */
export interface NativeBinding {
  db_get(context: unknown, key: Buffer, options: { asBuffer: true; fillCache: boolean }, cb: NativeCallback<Buffer>): void;
  db_get_many(
    context: unknown,
    keys: Buffer[],
    options: { asBuffer: true; fillCache: boolean },
    cb: NativeCallback<Array<Buffer | undefined>>,
  ): void;
  batch_do(context: unknown, ops: readonly NativeOp[], options: { sync: boolean }, cb: (err: Error | null) => void): void;
  iterator_init(context: unknown, options: NativeIteratorOptions): unknown;
  iterator_next(iterator: unknown, cb: (err: Error | null, array: Buffer[], finished: boolean) => void): void;
  iterator_end(iterator: unknown, cb: (err: Error | null) => void): void;
}

const require = createRequire(import.meta.url);

/** openLevelDown creates (does not open) the LevelDOWN object for a directory. */
export const openLevelDown = require("rocksdb") as (location: string) => LevelDown;

/** binding is the native module that the `rocksdb` package itself loads. */
export const binding = require("rocksdb/binding.js") as NativeBinding;
