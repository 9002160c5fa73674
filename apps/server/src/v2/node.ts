/**
 * V2Node is a node of a v2 answer (etcd's v2store.NodeExtern). Indexes are v2 indexes (the
 * v3 revision minus one); `expiration` is in ms since the epoch and `ttl` in whole seconds
 * left (rounded up), both only for a node with a TTL.
 */
export interface V2Node {
  key: string;
  value?: string | undefined;
  dir?: boolean | undefined;
  expiration?: number | undefined;
  ttl?: number | undefined;
  nodes?: V2Node[] | undefined;
  modifiedIndex: bigint;
  createdIndex: bigint;
}

/** V2Action is an event's action as v2 names it. */
export type V2Action = "get" | "set" | "create" | "update" | "compareAndSwap" | "delete" | "compareAndDelete" | "expire";

/**
 * V2Event is one v2 answer or watch event (etcd's v2store.Event). `etcdIndex` is the store's
 * v2 index the answer was made at (the X-Etcd-Index header); it is not part of the JSON.
 */
export interface V2Event {
  action: V2Action;
  node?: V2Node | undefined;
  prevNode?: V2Node | undefined;
  etcdIndex: bigint;
}

/**
 * nodeJson is a node as Go's encoding/json writes NodeExtern: fields in declaration order,
 * empty ones left out (so the root's empty key and zero indexes are absent), times in
 * RFC 3339 with the fraction's trailing zeros cut.
 */
export function nodeJson(n: V2Node): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (n.key !== "") o["key"] = n.key;
  if (n.value !== undefined) o["value"] = n.value;
  if (n.dir === true) o["dir"] = true;
  if (n.expiration !== undefined) o["expiration"] = goTime(n.expiration);
  if (n.ttl !== undefined && n.ttl !== 0) o["ttl"] = n.ttl;
  if (n.nodes !== undefined && n.nodes.length > 0) o["nodes"] = n.nodes.map(nodeJson);
  if (n.modifiedIndex !== 0n) o["modifiedIndex"] = Number(n.modifiedIndex);
  if (n.createdIndex !== 0n) o["createdIndex"] = Number(n.createdIndex);
  return o;
}

/** eventJson is an event's JSON line body (without the newline Go's encoder adds). */
export function eventJson(e: V2Event): string {
  const o: Record<string, unknown> = { action: e.action };
  if (e.node !== undefined) o["node"] = nodeJson(e.node);
  if (e.prevNode !== undefined) o["prevNode"] = nodeJson(e.prevNode);
  return goJson(o);
}

/**
 * goJson is JSON.stringify with Go's encoding/json HTML escaping (<, >, & and the line and
 * paragraph separators as \u escapes), which v2 answers carry.
 */
export function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** goTime formats ms since the epoch as Go's time.Time JSON (RFC 3339 in UTC, trailing fraction zeros cut). */
export function goTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2006-01-02T15:04:05.000Z
  return iso.replace(/\.?0+Z$/, "Z").replace(/\.Z$/, "Z");
}

/** ttlLeft is a v2 node's ttl: the seconds left until expiration, rounded up (etcd's expirationAndTTL). */
export function ttlLeft(expirationMs: number, nowMs: number): number {
  return Math.ceil((expirationMs - nowMs) / 1000);
}
