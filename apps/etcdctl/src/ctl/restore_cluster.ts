import { createHash } from "node:crypto";
import { goQuote } from "../printer/goformat.js";

/**
 * The new cluster `snapshot restore` writes, computed as Go etcd 3.4 does in
 * pkg/types (NewURLs, NewURLsMap), etcdserver/config.go (VerifyBootstrap) and
 * etcdserver/api/membership (NewMember, NewClusterFromURLsMap, genID), and the v2 store JSON
 * its `.snap` file holds (etcdserver/api/v2store: store.Save after AddMember for each member).
 */

/** RestoreMember is a member of the restored cluster (no client URLs: it has not published them yet). */
export interface RestoreMember {
  id: bigint;
  name: string;
  /** peerUrls sorted, as Go's NewMember keeps them. */
  peerUrls: string[];
}

/** RestoreCluster is the cluster a restore bootstraps. */
export interface RestoreCluster {
  id: bigint;
  /** members sorted by ID (Go's RaftCluster.Members()). */
  members: RestoreMember[];
}

/** splitHostPort reports whether Go's net.SplitHostPort accepts hostport. */
function splitHostPortOk(hostport: string): boolean {
  const i = hostport.lastIndexOf(":");
  if (i < 0) return false;
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    if (end < 0) return false;
    if (end + 1 !== i) return false;
    return !hostport.slice(1, end).includes("[") && !hostport.slice(end + 1).includes("]") && !hostport.slice(i + 1).includes("[");
  }
  const host = hostport.slice(0, i);
  if (host.includes(":")) return false;
  return !hostport.includes("[") && !hostport.includes("]");
}

/**
 * parseGoUrl splits a URL as Go's url.Parse does for the shapes a peer URL takes
 * (scheme://host[:port][/path][?query][#fragment]); it throws Go's "parse" error for a
 * URL starting with a colon.
 */
function parseGoUrl(s: string): { scheme: string; host: string; path: string } {
  let rest = s;
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(rest);
  if (rest.startsWith(":")) throw new Error(`parse ${goQuote(s)}: missing protocol scheme`);
  let scheme = "";
  if (m !== null) {
    scheme = (m[1] as string).toLowerCase();
    rest = rest.slice(m[0].length);
  }
  const q = rest.indexOf("?");
  if (q >= 0) rest = rest.slice(0, q);
  let host = "";
  if (rest.startsWith("//")) {
    rest = rest.slice(2);
    const slash = rest.indexOf("/");
    host = slash >= 0 ? rest.slice(0, slash) : rest;
    rest = slash >= 0 ? rest.slice(slash) : "";
    const at = host.lastIndexOf("@");
    if (at >= 0) host = host.slice(at + 1);
  }
  return { scheme, host, path: rest };
}

/** newUrls is Go's types.NewURLs: trimmed, checked (scheme, host:port, no path) and sorted. */
export function newUrls(strs: readonly string[]): string[] {
  if (strs.length === 0) throw new Error("no valid URLs given");
  const out: string[] = [];
  for (const raw of strs) {
    const s = raw.trim();
    const u = parseGoUrl(s);
    if (!["http", "https", "unix", "unixs"].includes(u.scheme)) throw new Error(`URL scheme must be http, https, unix, or unixs: ${s}`);
    if (!splitHostPortOk(u.host)) throw new Error(`URL address does not have the form "host:port": ${s}`);
    if (u.path !== "") throw new Error(`URL must not contain a path: ${s}`);
    out.push(s);
  }
  return out.sort();
}

/** newUrlsMap is Go's types.NewURLsMap: "name=url,name=url,..." into name -> sorted URLs. */
export function newUrlsMap(s: string): Map<string, string[]> {
  const raw = new Map<string, string[]>();
  for (const item of s.split(",")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const key = eq >= 0 ? item.slice(0, eq) : item;
    const value = eq >= 0 ? item.slice(eq + 1) : "";
    const list = raw.get(key) ?? [];
    list.push(value);
    raw.set(key, list);
  }
  const out = new Map<string, string[]>();
  for (const [name, urls] of raw) out.set(name, newUrls(urls));
  return out;
}

/** urlsMapString is Go's URLsMap.String(): "name=url" pairs sorted, comma-joined. */
function urlsMapString(m: Map<string, string[]>): string {
  const pairs: string[] = [];
  for (const [name, urls] of m) for (const u of urls) pairs.push(`${name}=${u}`);
  return pairs.sort().join(",");
}

/**
 * verifyBootstrap is Go's ServerConfig.VerifyBootstrap for a restore: the member's name is in
 * the initial cluster, its advertised peer URLs are the ones the initial cluster gives it,
 * and no URL appears twice. Go compares the URLs as written and, when they differ, again
 * after resolving host names other than localhost and IP literals through DNS
 * (netutil.URLStringsEqual); this does not resolve names, so a DNS name and the address it
 * resolves to are refused here where Go accepts them (for localhost and IP literals, which Go
 * does not resolve either, the outcome and message are Go's).
 */
export function verifyBootstrap(name: string, peerUrls: readonly string[], ics: Map<string, string[]>): void {
  const mine = ics.get(name);
  if (mine === undefined) throw new Error(`couldn't find local name ${goQuote(name)} in the initial cluster configuration`);
  const ap = [...peerUrls].sort();
  const init = [...mine].sort();
  const equal = ap.length === init.length && ap.every((u, i) => u === init[i]);
  if (!equal) {
    const apSet = new Set(ap);
    const initSet = new Set(init);
    let cause = `len(${goQuoteList(ap)}) != len(${goQuoteList(init)})`;
    if (ap.length === init.length) {
      const i = ap.findIndex((u, j) => u !== init[j]);
      cause = `resolved urls: ${goQuote(ap[i] as string)} != ${goQuote(init[i] as string)}`;
    }
    const missingInit = [...initSet].filter((u) => !apSet.has(u));
    if (missingInit.length > 0) {
      throw new Error(
        `--initial-cluster has ${missingInit.map((u) => `${name}=${u}`).join(",")} but missing from --initial-advertise-peer-urls=${ap.join(",")} (${cause})`,
      );
    }
    const missingAp = [...apSet].filter((u) => !initSet.has(u));
    if (missingAp.length > 0) {
      throw new Error(
        `--initial-advertise-peer-urls has ${missingAp.join(",")} but missing from --initial-cluster=${urlsMapString(new Map([[name, [...peerUrls]]]))}`,
      );
    }
  }
  const seen = new Set<string>();
  for (const urls of ics.values()) {
    for (const u of urls) {
      if (seen.has(u)) throw new Error(`initial cluster ${urlsMapString(ics)} has duplicate url`);
      seen.add(u);
    }
  }
  if (urlsMapString(ics) === "") throw new Error("initial cluster unset and no discovery URL found");
}

/** goQuoteList is Go's %q of a []string: ["a" "b"]. */
function goQuoteList(a: readonly string[]): string {
  return `[${a.map((s) => goQuote(s)).join(" ")}]`;
}

/** computeMemberId is Go's membership.NewMember ID without a time: SHA-1 of the sorted peer URLs and the cluster token, first 8 bytes big-endian. */
export function computeMemberId(peerUrls: readonly string[], token: string): bigint {
  const sorted = [...peerUrls].sort();
  const digest = createHash("sha1").update(Buffer.from(sorted.join("") + token, "utf8")).digest();
  return digest.readBigUInt64BE(0);
}

/** clusterId is Go's RaftCluster.genID: SHA-1 of the sorted member IDs (8 bytes big-endian each), first 8 bytes. */
export function clusterId(memberIds: readonly bigint[]): bigint {
  const ids = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const b = Buffer.alloc(8 * ids.length);
  ids.forEach((id, i) => b.writeBigUInt64BE(id, 8 * i));
  return createHash("sha1").update(b).digest().readBigUInt64BE(0);
}

/** newClusterFromUrlsMap is Go's membership.NewClusterFromURLsMap. */
export function newClusterFromUrlsMap(token: string, ics: Map<string, string[]>): RestoreCluster {
  const byId = new Map<bigint, RestoreMember>();
  for (const [name, urls] of ics) {
    const m: RestoreMember = { id: computeMemberId(urls, token), name, peerUrls: [...urls].sort() };
    if (byId.has(m.id)) {
      throw new Error(`member exists with identical ID &{ID:${m.id.toString(16)} RaftAttributes:{PeerURLs:[${m.peerUrls.join(" ")}] IsLearner:false} Attributes:{Name:${name} ClientURLs:[]}}`);
    }
    if (m.id === 0n) throw new Error("cannot use 0 as member id");
    byId.set(m.id, m);
  }
  const members = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { id: clusterId(members.map((m) => m.id)), members };
}

/** goJsonString renders a string as Go's encoding/json does (HTML-safe: <, >, & and U+2028/9 escaped). */
export function goJsonString(s: string): string {
  return JSON.stringify(s)
    .replace(/\\[bf]/g, (e) => (e === "\\b" ? "\\u0008" : "\\u000c"))
    .replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function goJsonStrings(a: readonly string[]): string {
  return `[${a.map(goJsonString).join(",")}]`;
}

/** memberContextJson is Go's json.Marshal of the new membership.Member, the context of its ConfChangeAddNode entry. */
export function memberContextJson(m: RestoreMember): Buffer {
  let s = `{"id":${m.id.toString()},"peerURLs":${goJsonStrings(m.peerUrls)}`;
  if (m.name !== "") s += `,"name":${goJsonString(m.name)}`;
  return Buffer.from(`${s}}`);
}

/** EVENT_HISTORY_CAPACITY is the v2 store's watcher hub event history size (v2store.New: newWatchHub(1000)). */
const EVENT_HISTORY_CAPACITY = 1000;
/** PERMANENT is Go's zero time.Time in JSON: v2store.Permanent. */
const PERMANENT = `"0001-01-01T00:00:00Z"`;

function nodeJson(path: string, created: number, value: string, children: string | null): string {
  return `{"Path":${goJsonString(path)},"CreatedIndex":${created},"ModifiedIndex":${created},"ExpireTime":${PERMANENT},"Value":${goJsonString(value)},"Children":${children ?? "null"}}`;
}

/**
 * v2StoreJson is the JSON Go etcd 3.4's restore puts in the `.snap` file: a v2 store with
 * namespaces /0 and /1 in which, member by member in ID order, AddMember created
 * /0/members/<id>/raftAttributes = {"peerURLs":[...]} (store index i + 1), marshaled by
 * store.Save(): Root (Go sorts map keys), the watcher hub's event history (a ring of 1000
 * slots, null when empty), CurrentIndex, the Stats counters (createSuccess per member) and
 * CurrentVersion 2.
 */
export function v2StoreJson(cluster: RestoreCluster): Buffer {
  const n = cluster.members.length;
  const created = cluster.members.map((m, i) => ({
    m,
    index: i + 1,
    hex: m.id.toString(16),
    value: `{"peerURLs":${goJsonStrings(m.peerUrls)}}`,
  }));
  const memberDirs = [...created]
    .sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0))
    .map((c) => {
      const dir = `/0/members/${c.hex}`;
      const leaf = nodeJson(`${dir}/raftAttributes`, c.index, c.value, null);
      return `${goJsonString(c.hex)}:${nodeJson(dir, c.index, "", `{"raftAttributes":${leaf}}`)}`;
    });
  const zeroChildren = n === 0 ? "{}" : `{"members":${nodeJson("/0/members", 1, "", `{${memberDirs.join(",")}}`)}}`;
  const root = nodeJson("/", 0, "", `{"0":${nodeJson("/0", 0, "", zeroChildren)},"1":${nodeJson("/1", 0, "", "{}")}}`);

  const slots: (string | null)[] = new Array<string | null>(EVENT_HISTORY_CAPACITY).fill(null);
  let size = 0;
  let front = 0;
  let back = 0;
  const slotIndex: number[] = new Array<number>(EVENT_HISTORY_CAPACITY).fill(0);
  for (const c of created) {
    const key = `/0/members/${c.hex}/raftAttributes`;
    slots[back] = `{"action":"create","node":{"key":${goJsonString(key)},"value":${goJsonString(c.value)},"modifiedIndex":${c.index},"createdIndex":${c.index}}}`;
    slotIndex[back] = c.index;
    back = (back + 1) % EVENT_HISTORY_CAPACITY;
    if (size === EVENT_HISTORY_CAPACITY) front = (front + 1) % EVENT_HISTORY_CAPACITY;
    else size++;
  }
  const startIndex = n === 0 ? 0 : (slotIndex[front] as number);
  const history =
    `{"Queue":{"Events":[${slots.map((e) => e ?? "null").join(",")}],"Size":${size},"Front":${front},"Back":${back},"Capacity":${EVENT_HISTORY_CAPACITY}},` +
    `"StartIndex":${startIndex},"LastIndex":${n}}`;
  const stats =
    `{"getsSuccess":0,"getsFail":0,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,` +
    `"createSuccess":${n},"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}`;
  return Buffer.from(`{"Root":${root},"WatcherHub":{"EventHistory":${history}},"CurrentIndex":${n},"Stats":${stats},"CurrentVersion":2}`);
}
