import type { Member } from "../membership.js";

/**
 * Members as etcd 3.4 keeps them in its `members` bucket: the key is the member ID in hex
 * (Go's types.ID.String(), no padding), the value Go's json.Marshal of membership.Member:
 * {"id":<uint64>,"peerURLs":[...],"isLearner":true,"name":"..","clientURLs":[...]} with
 * isLearner, name and clientURLs left out when empty (omitempty) and a nil peer URL list as
 * null. The ID is a JSON number that can exceed 2^53, so it is written and read as text.
 */

/** goJsonString renders a string as Go's encoding/json does (HTML-safe: <, >, & and U+2028/9 escaped). */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function goJsonStrings(a: readonly string[]): string {
  return a.length === 0 ? "null" : `[${a.map(goJsonString).join(",")}]`;
}

/** memberKey is a member's key in etcd's `members` and `members_removed` buckets. */
export function memberKey(id: bigint): Buffer {
  return Buffer.from(id.toString(16));
}

/** memberJson is a member's value in etcd's `members` bucket. */
export function memberJson(m: Member): Buffer {
  let s = `{"id":${m.id.toString()},"peerURLs":${goJsonStrings(m.peerUrls)}`;
  if (m.isLearner) s += `,"isLearner":true`;
  if (m.name !== "") s += `,"name":${goJsonString(m.name)}`;
  if (m.clientUrls.length > 0) s += `,"clientURLs":${goJsonStrings(m.clientUrls)}`;
  return Buffer.from(`${s}}`);
}

/**
 * parseMemberJson reads a member from etcd's `members` bucket; it throws when the value is not
 * such a member or its ID differs from the key's.
 */
export function parseMemberJson(key: Buffer, value: Buffer): Member {
  const text = value.toString("utf8");
  const fail = (why: string): never => {
    throw new Error(`etcd format: bad member ${key.toString()} in the members bucket: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (typeof doc !== "object" || doc === null) return fail("not a JSON object");
  const o = doc as Record<string, unknown>;
  // The ID as written (JSON.parse rounds numbers above 2^53).
  const idText = /"id"\s*:\s*(\d+)/.exec(text)?.[1];
  if (idText === undefined || typeof o["id"] !== "number") return fail("no numeric id");
  const id = BigInt(idText);
  if (id.toString(16) !== key.toString()) return fail(`id ${id.toString(16)} differs from the key`);
  const strings = (name: string): string[] => {
    const v = o[name];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) return fail(`${name} is not a list of strings`);
    return v as string[];
  };
  const name = o["name"];
  if (name !== undefined && typeof name !== "string") return fail("name is not a string");
  const learner = o["isLearner"];
  if (learner !== undefined && typeof learner !== "boolean") return fail("isLearner is not a boolean");
  return { id, name: name ?? "", peerUrls: strings("peerURLs"), clientUrls: strings("clientURLs"), isLearner: learner === true };
}
