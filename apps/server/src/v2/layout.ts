import { posix } from "node:path";
import { prefixEnd } from "../grpc/recipe.js";

export { prefixEnd };

/**
 * MAX_DEPTH is the deepest v2 path etcd-ts stores (components below the root), etcd's
 * v2v3 maxPathDepth: a recursive delete removes every depth in one transaction.
 */
export const MAX_DEPTH = 63;

/** cleanPath is a v2 key path in its normal form: rooted, no empty, "." or ".." parts (Go's path.Clean(path.Join("/", p))). */
export function cleanPath(p: string): string {
  return posix.normalize(`/${p}`).replace(/\/+$/, "") || "/";
}

/** depthOf is the number of components of a clean path ("/" is 0, "/a/b" is 2). */
export function depthOf(clean: string): number {
  return clean === "/" ? 0 : clean.split("/").length - 1;
}

/** isRoot: the path names the root directory. */
export function isRoot(clean: string): boolean {
  return clean === "/";
}

/** isHiddenName: a node whose name starts with "_" is hidden from directory listings and recursive watches. */
export function isHiddenName(clean: string): boolean {
  return posix.basename(clean).startsWith("_");
}

/** parentOf is a clean path's directory ("/" for a child of the root). */
export function parentOf(clean: string): string {
  return posix.dirname(clean);
}

/** ancestorsOf lists a clean path's directories from the root's child down to its parent ("/a/b/c" -> ["/a", "/a/b"]). */
export function ancestorsOf(clean: string): string[] {
  const parts = clean.split("/").slice(1, -1);
  const out: string[] = [];
  let p = "";
  for (const part of parts) {
    p += `/${part}`;
    out.push(p);
  }
  return out;
}

/** StoredNode is what a v3 key of the layout names: a v2 path and whether it is a directory's marker. */
export interface StoredNode {
  path: string;
  dir: boolean;
}

/**
 * V2Layout places the v2 tree in the v3 key space under a prefix (etcd's v2v3 scheme, with
 * the depth counted as the path's components):
 *  - a file /a/b is the key `<prefix>/002/k/a/b`, its value the file's value;
 *  - a directory /a/b is the key `<prefix>/002/k/a/b/` (the marker, empty value);
 *  - the direct children of directory /a are the keys with prefix `<prefix>/002/k/a/`, and
 *    the nodes k levels below it those with prefix `<prefix>/<depth(a)+k>/k/a/`;
 *  - every v2 write also puts `<prefix>/act`, whose value is the v2 action ("set", "create",
 *    "update", "compareAndSwap", "delete", "compareAndDelete"; "refresh:<action>" for a TTL
 *    refresh), so a watch can tell the actions apart. A delete without it is a lease expiry.
 */
export class V2Layout {
  readonly prefix: string;
  private readonly prefixBuf: Buffer;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.prefixBuf = Buffer.from(`${prefix}/`);
  }

  /** fileKey is the key of the file at a clean, non-root path. */
  fileKey(clean: string): Buffer {
    return Buffer.from(`${this.prefix}/${pad(depthOf(clean))}/k${clean}`);
  }

  /** dirKey is the marker key of the directory at a clean, non-root path. */
  dirKey(clean: string): Buffer {
    return Buffer.from(`${this.prefix}/${pad(depthOf(clean))}/k${clean}/`);
  }

  /** levelPrefix is the prefix of the nodes `below` levels under the directory at clean (1 = its children). */
  levelPrefix(clean: string, below: number): Buffer {
    const base = isRoot(clean) ? "" : clean;
    return Buffer.from(`${this.prefix}/${pad(depthOf(clean) + below)}/k${base}/`);
  }

  /** actionKey is the key every v2 write puts its action to. */
  get actionKey(): Buffer {
    return Buffer.from(`${this.prefix}/act`);
  }

  /** range is [start, end) covering every key of the layout (the tree and the action key). */
  get range(): [Buffer, Buffer] {
    return [this.prefixBuf, prefixEnd(this.prefixBuf)];
  }

  /** isActionKey: k is the action key. */
  isActionKey(k: Buffer): boolean {
    return k.equals(this.actionKey);
  }

  /** nodeOf names the v2 node a key of the tree stores, or undefined for a key outside it. */
  nodeOf(k: Buffer): StoredNode | undefined {
    const s = k.toString();
    if (!s.startsWith(`${this.prefix}/`)) return undefined;
    const rest = s.slice(this.prefix.length + 1);
    const m = /^(\d{3})\/k(\/[\s\S]*)$/.exec(rest);
    if (m === null) return undefined;
    const body = m[2] as string;
    const dir = body.endsWith("/");
    const path = dir ? body.slice(0, -1) : body;
    if (path === "") return undefined;
    return { path, dir };
  }
}

const pad = (n: number): string => String(n).padStart(3, "0");
