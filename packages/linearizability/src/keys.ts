/**
 * keys.ts: etcd's key ranges. A range is [key, end): `end` absent (or empty) names the one key
 * `key`; `end` "\0" names every key >= `key`; otherwise the keys k with key <= k < end. Keys are
 * compared as JavaScript strings, which is etcd's byte order for the ASCII keys a run uses.
 */

/** FROM_KEY is the range end that means "every key >= key" (etcd's "\0"). */
export const FROM_KEY = "\0";

/** inRange reports whether key `k` lies in the range [key, end). */
export function inRange(key: string, end: string | undefined, k: string): boolean {
  if (end === undefined || end === "") return k === key;
  if (end === FROM_KEY) return k >= key;
  return k >= key && k < end;
}

/** isSingleKey reports whether [key, end) names exactly one key by its form (end absent or empty). */
export function isSingleKey(end: string | undefined): boolean {
  return end === undefined || end === "";
}

/** compareKeys orders keys as etcd does (byte order for ASCII). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
