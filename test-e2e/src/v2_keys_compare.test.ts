import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REAL_ETCDCTL, run } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member, type Kind } from "./harness/member.js";

/**
 * The v2 API compared: the same HTTP requests (as curl sends them) and the same commands of
 * the real `ETCDCTL_API=2 etcdctl` 3.4, against the real etcd 3.4.23 started with
 * --enable-v2 (its v2 store) and against etcd-ts with --enable-v2 (v2 kept in the v3 store).
 *
 * Answers must be equal once indexes are taken relative to the index each server had when
 * the run began (etcd's v2 store starts at the index its member entries took; etcd-ts at
 * its v3 revision), and what legitimately differs is masked: member IDs and URLs, raft
 * indexes and terms (only their presence is compared), expiration times, remaining TTLs
 * (checked separately against the TTL asked for).
 *
 * Known differences are checked as such: a `set` over an existing file keeps the file's
 * createdIndex in etcd-ts (a v3 key keeps its create revision, as in etcd's own v2v3
 * emulation), where etcd's v2 store gives the new node a new one; a directory whose TTL
 * changed has a new modifiedIndex in etcd-ts (its marker holds the new lease), where etcd's
 * keeps the old one (that field is masked in the one step that shows it).
 */

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Ctx is one server's run: its URL, its base index, and named answers for later steps. */
interface Ctx {
  kind: Kind;
  url: string;
  peerUrl: string;
  base: number;
  saved: Map<string, Answer>;
  /** raw are the saved answers' bodies as sent, unmasked. */
  raw: Map<string, string>;
}

function send(url: string, method: string, body?: string, contentType?: string): Promise<{ res: IncomingMessage; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = contentType ?? "application/x-www-form-urlencoded";
    const req = request(url, { method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ res, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const KEPT_HEADERS = ["content-type", "allow", "x-content-type-options"];
const PRESENT_HEADERS = ["x-etcd-cluster-id", "x-raft-index", "x-raft-term"];

/**
 * normalize makes one answer comparable: indexes relative to ctx.base, varying values
 * masked. etcd lists a directory in Go's map order unless asked for sorted=true, so the
 * listings of requests without it are sorted here.
 */
function normalize(ctx: Ctx, res: IncomingMessage, text: string, sorted = true): Answer {
  const headers: Record<string, string> = {};
  for (const h of KEPT_HEADERS) if (res.headers[h] !== undefined) headers[h] = String(res.headers[h]);
  for (const h of PRESENT_HEADERS) if (res.headers[h] !== undefined) headers[h] = "<present>";
  if (res.headers["x-etcd-index"] !== undefined) headers["x-etcd-index"] = String(relIndex(ctx, Number(res.headers["x-etcd-index"])));
  let body: unknown = text.split(ctx.url).join("<url>");
  if ((res.headers["content-type"] ?? "").startsWith("application/json")) {
    const lines = text.split("\n").filter((l) => l !== "");
    body = lines.map((l) => relIndexes(ctx, sorted ? (JSON.parse(l) as unknown) : sortNodes(JSON.parse(l) as unknown)));
    if (lines.length === 1) body = (body as unknown[])[0];
  }
  return { status: res.statusCode ?? 0, headers, body };
}

function sortNodes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortNodes);
  if (v !== null && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = sortNodes(x);
    if (Array.isArray(o["nodes"])) (o["nodes"] as { key: string }[]).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return o;
  }
  return v;
}

const INDEX_FIELDS = new Set(["modifiedIndex", "createdIndex", "index"]);
const MASKED = new Set(["expiration", "ttl", "id", "peerURLs", "clientURLs"]);

function relIndexes(ctx: Ctx, v: unknown, field = ""): unknown {
  if (Array.isArray(v)) return v.map((x) => relIndexes(ctx, x, field));
  if (v !== null && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = MASKED.has(k) ? "<masked>" : relIndexes(ctx, x, k);
    return o;
  }
  if (typeof v === "number" && INDEX_FIELDS.has(field)) return relIndex(ctx, v);
  if (typeof v === "string" && (field === "key" || field === "cause")) return relText(ctx, v);
  return v;
}

/** relIndex is an index relative to the run's base; 0 (an error found before the store) stays 0. */
function relIndex(ctx: Ctx, n: number): number {
  return n === 0 ? 0 : n - ctx.base;
}

/** relText rewrites the indexes inside a text: in-order key names (20 digits) and "[a != b]" compare causes. */
function relText(ctx: Ctx, s: string): string {
  return s
    .replace(/\b\d{20}\b/g, (d) => `<${Number(d) - ctx.base}>`)
    .replace(/\[(\d+) != (\d+)\]/g, (_m, a: string, b: string) => `[${Number(a) - ctx.base} != ${Number(b) - ctx.base}]`)
    .replace(/cleared \[(\d+)\/(\d+)\]/, "cleared [<start>/<index>]");
}

/** fill puts a server's own values into a step's text: {base+N}, {saved.field}, {peer}. */
function fill(ctx: Ctx, s: string): string {
  return s
    .replace(/\{base\+(\d+)\}/g, (_m, n: string) => String(ctx.base + Number(n)))
    .replace(/\{peer\}/g, ctx.peerUrl)
    .replace(/\{(\w+)\.(\w+)\}/g, (_m, name: string, field: string) => {
      const a = ctx.saved.get(name);
      const node = (a?.body as { node?: Record<string, number> } | undefined)?.node;
      const rel = node?.[field];
      if (rel === undefined) throw new Error(`no saved ${name}.${field}`);
      return String(rel + ctx.base);
    });
}

/** Step is one HTTP request; `save` names its answer for later steps' {name.field}. */
interface Step {
  method: string;
  path: string;
  form?: string;
  contentType?: string;
  save?: string;
  /** setOverFile: the answer shows the createdIndex of a file a set replaced (compared apart). */
  setOverFile?: boolean;
  /** mask are body fields ("node.x", "prevNode.x") compared on neither side: known differences. */
  mask?: string[];
}

const K = "/v2/keys";
const s = (method: string, path: string, form?: string, extra: Partial<Step> = {}): Step => ({
  method,
  path,
  ...(form !== undefined ? { form } : {}),
  ...extra,
});

/** STEPS run in order on both servers. */
const STEPS: Step[] = [
  s("GET", `${K}/`),
  s("GET", K),
  s("PUT", `${K}/foo`, "value=bar", { save: "foo1" }),
  s("GET", `${K}/foo`),
  s("HEAD", `${K}/foo`),
  s("GET", `${K}/foo?quorum=true`),
  s("PUT", `${K}/foo?prevExist=false`, "value=x"),
  s("PUT", `${K}/foo?prevExist=true`, "value=bar2"),
  s("PUT", `${K}/foo?prevValue=bar2`, "value=bar3", { save: "foo3" }),
  s("PUT", `${K}/foo?prevValue=nope`, "value=x"),
  s("PUT", `${K}/foo?prevIndex={foo3.modifiedIndex}`, "value=bar4"),
  s("PUT", `${K}/foo?prevIndex={base+1}`, "value=x"),
  s("PUT", `${K}/foo?prevIndex={base+1}&prevValue=nope`, "value=x"),
  s("PUT", `${K}/foo?prevIndex={base+1}&prevValue=bar4`, "value=x"),
  s("PUT", `${K}/foo?prevExist=true&prevValue=bar4`, "value=bar5"),
  s("PUT", `${K}/nokey?prevExist=true`, "value=x"),
  s("PUT", `${K}/nokey?prevValue=x`, "value=x"),
  // The form, field by field.
  s("PUT", `${K}/foo?prevExist=maybe`, "value=x"),
  s("PUT", `${K}/foo?prevIndex=abc`, "value=x"),
  s("GET", `${K}/foo?wait=true&waitIndex=-1`),
  s("PUT", `${K}/foo?ttl=abc`, "value=x"),
  s("PUT", `${K}/foo?prevValue=`, "value=x"),
  s("PUT", `${K}/foo?wait=true`, "value=x"),
  s("PUT", `${K}/foo?recursive=2`, "value=x"),
  s("GET", `${K}/foo?sorted=yes`),
  s("PUT", `${K}/foo?refresh=true`, "value=x"),
  s("PUT", `${K}/foo?refresh=true`),
  s("PUT", `${K}/foo?refresh=nah&ttl=5`),
  s("PUT", `${K}/foo?prevExist=true`, "value=fromBody", { contentType: "application/x-www-form-urlencoded" }),
  s("PUT", `${K}/foo?prevExist=true&value=fromQuery`, "value=fromBody"),
  s("PUT", `${K}/foo?prevExist=true&value=fromQuery`),
  s("PUT", `${K}/tp?prevExist=false`, "value=ignored", { contentType: "text/plain" }),
  s("GET", `${K}/tp`),
  s("PUT", `${K}/nv?noValueOnSuccess=true`, "value=1"),
  s("PUT", `${K}/sp%20ace%2Fx`, "value=escaped"),
  s("GET", `${K}/sp%20ace`),
  s("GET", `${K}/sp%20ace/x`),
  // Directories.
  s("PUT", `${K}/dir/a/b`, "value=1"),
  s("PUT", `${K}/dir/c`, "value=2"),
  s("GET", `${K}/dir`),
  s("GET", `${K}/dir?recursive=true&sorted=true`),
  s("GET", `${K}/dir/`),
  s("PUT", `${K}/dir/a`, "value=x"),
  s("PUT", `${K}/dir/a/b/c`, "value=x"),
  s("GET", `${K}/dir/a/b/c`),
  s("GET", `${K}/dir/a/b/c/d`),
  s("GET", `${K}/nokey`),
  s("GET", `${K}/nokey/deeper/still`),
  s("PUT", `${K}/d2?dir=true`),
  s("PUT", `${K}/d2?dir=true&prevExist=false`),
  s("PUT", `${K}/d2?dir=true&prevExist=true`),
  s("PUT", `${K}/d2?prevExist=true`, "value=x"),
  s("PUT", `${K}/d2`, "value=x"),
  s("PUT", `${K}/d2?prevValue=x`, "value=y"),
  s("DELETE", `${K}/d2`),
  s("DELETE", `${K}/d2?prevValue=x`),
  s("DELETE", `${K}/d2?dir=true`),
  s("GET", `${K}/d2`),
  s("DELETE", `${K}/dir?dir=true`),
  s("DELETE", `${K}/dir/a/b?recursive=true`),
  s("DELETE", `${K}/dir?recursive=true`),
  s("DELETE", `${K}/nokey`),
  s("DELETE", `${K}/nokey/deeper?dir=true`),
  s("DELETE", `${K}/foo?prevValue=nope`),
  s("DELETE", `${K}/foo?prevIndex={base+1}`),
  s("DELETE", `${K}/foo?prevValue=fromQuery`),
  s("GET", `${K}/foo`),
  s("PUT", `${K}/f2`, "value=1"),
  s("PUT", `${K}/f2?dir=true`),
  s("GET", `${K}/f2`),
  // In-order keys, hidden keys, the root.
  s("POST", `${K}/queue`, "value=j1"),
  s("POST", `${K}/queue`, "value=j2"),
  s("POST", `${K}/queue?dir=true`),
  s("GET", `${K}/queue?recursive=true&sorted=true`),
  s("PUT", `${K}/_hidden`, "value=h"),
  s("PUT", `${K}/hd/_inner/x`, "value=h2"),
  s("GET", `${K}/_hidden`),
  s("GET", `${K}/hd?recursive=true`),
  s("GET", `${K}/?sorted=true`),
  s("PUT", `${K}/`, "value=x"),
  s("PUT", `${K}/?prevValue=x`, "value=y"),
  s("PUT", `${K}/?prevExist=true`, "value=y"),
  s("DELETE", `${K}/`),
  s("DELETE", `${K}/?recursive=true`),
  s("POST", `${K}/`, "value=atroot", { save: "rootq" }),
  // TTLs.
  s("PUT", `${K}/tk`, "value=v&ttl=100", { save: "ttl1" }),
  s("GET", `${K}/tk`, undefined, { save: "ttl2" }),
  s("PUT", `${K}/tk?prevExist=true&refresh=true&ttl=200`, undefined, { save: "ttl3" }),
  s("PUT", `${K}/tk?prevExist=true`, "value=w"),
  s("GET", `${K}/tk`),
  s("PUT", `${K}/tk?prevExist=true`, "value=again&ttl="),
  // Directories with a TTL: the nodes below live as long; one with a shorter TTL has its own.
  s("PUT", `${K}/td?dir=true`, "ttl=100"),
  s("PUT", `${K}/td/x`, "value=1"),
  s("PUT", `${K}/td/sub/z`, "value=3"),
  s("PUT", `${K}/td/y`, "value=2&ttl=50"),
  s("GET", `${K}/td?recursive=true&sorted=true`),
  s("GET", `${K}/td/x`),
  s("PUT", `${K}/td?dir=true&prevExist=true`, "ttl=200"),
  s("PUT", `${K}/td?dir=true`, "ttl=300"),
  // A directory's TTL change rewrites its marker in etcd-ts: its modifiedIndex moved (see the file's comment).
  s("DELETE", `${K}/td?recursive=true`, undefined, { mask: ["prevNode.modifiedIndex"] }),
  // A set over an existing file: the known createdIndex difference (see the file's comment).
  s("PUT", `${K}/over`, "value=1"),
  s("PUT", `${K}/over`, "value=2", { setOverFile: true }),
  s("DELETE", `${K}/over`, undefined, { setOverFile: true }),
  // Methods and paths.
  s("PATCH", `${K}/foo`),
  s("OPTIONS", `${K}/foo`),
  s("GET", "/v2/nothing"),
  s("GET", "/v2/stats/nothing"),
  // Members.
  s("GET", "/v2/members"),
  s("GET", "/v2/members/"),
  s("GET", "/v2/members/leader"),
  s("GET", "/v2/members/other"),
  s("GET", "/v2/machines"),
  s("POST", "/v2/machines"),
  s("PATCH", "/v2/members"),
  s("POST", "/v2/members", '{"peerURLs":["http://127.0.0.1:1"]}', { contentType: "text/plain" }),
  s("POST", "/v2/members", '{"peerURLs":["ftp://127.0.0.1:1"]}', { contentType: "application/json" }),
  s("POST", "/v2/members", '{"peerURLs":["http://127.0.0.1"]}', { contentType: "application/json; charset=utf-8" }),
  s("POST", "/v2/members", '{"peerURLs":["http://127.0.0.1:1/path"]}', { contentType: "application/json" }),
  s("POST", "/v2/members", '{"peerURLs":[]}', { contentType: "application/json" }),
  s("POST", "/v2/members", '{"peerURLs":["{peer}"]}', { contentType: "application/json" }),
  s("DELETE", "/v2/members"),
  s("DELETE", "/v2/members/zzz"),
  s("DELETE", "/v2/members/123"),
  s("PUT", "/v2/members/123", '{"peerURLs":["http://127.0.0.1:1"]}', { contentType: "application/json" }),
];

async function runSteps(ctx: Ctx): Promise<Answer[]> {
  const out: Answer[] = [];
  for (const st of STEPS) {
    const form = st.form === undefined ? undefined : fill(ctx, st.form);
    const { res, text } = await send(`${ctx.url}${fill(ctx, st.path)}`, st.method, form, st.contentType);
    const a = normalize(ctx, res, text, st.path.includes("sorted=true"));
    if (st.save !== undefined) {
      ctx.saved.set(st.save, a);
      ctx.raw.set(st.save, text);
    }
    out.push(a);
  }
  return out;
}

/** watchAnswer starts a v2 watch and resolves with its answer once `lines` events came (or the server ended it). */
function watchAnswer(ctx: Ctx, path: string, lines: number): { ready: Promise<void>; answer: Promise<Answer> } {
  let onHeaders: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onHeaders = r));
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request(`${ctx.url}${fill(ctx, path)}`, { agent: false }, (res) => {
      onHeaders();
      let text = "";
      const done = (): void => {
        resolve(normalize(ctx, res, text));
        req.destroy();
      };
      res.on("data", (c: Buffer) => {
        text += c.toString();
        if (text.split("\n").filter((l) => l !== "").length >= lines) done();
      });
      res.on("end", done);
    });
    req.on("error", reject);
    req.end();
  });
  return { ready, answer };
}

async function put(ctx: Ctx, path: string, form?: string, method = "PUT"): Promise<void> {
  const { res } = await send(`${ctx.url}${K}${path}`, method, form);
  if ((res.statusCode ?? 0) >= 300) throw new Error(`${method} ${path}: ${res.statusCode}`);
}

/** runWatches runs the watch cases; each answer is a watch's headers and events. */
async function runWatches(ctx: Ctx): Promise<Answer[]> {
  const out: Answer[] = [];
  // A past index: the event is answered from history at once.
  out.push(await watchAnswer(ctx, `${K}/foo?wait=true&waitIndex={foo1.modifiedIndex}`, 1).answer);
  // A long poll answered by the next write.
  let w = watchAnswer(ctx, `${K}/w?wait=true`, 1);
  await w.ready;
  await put(ctx, "/w", "value=1");
  out.push(await w.answer);
  // A stream over a directory: create, update, delete of the directory.
  w = watchAnswer(ctx, `${K}/ws?wait=true&stream=true&recursive=true`, 4);
  await w.ready;
  await put(ctx, "/ws/a", "value=1");
  await put(ctx, "/ws/b/c", "value=2");
  await put(ctx, "/ws/a?prevExist=true", "value=3");
  await put(ctx, "/ws?recursive=true", undefined, "DELETE");
  out.push(await w.answer);
  // A watch on a key whose directory is deleted.
  await put(ctx, "/pd/c", "value=1");
  w = watchAnswer(ctx, `${K}/pd/c?wait=true`, 1);
  await w.ready;
  await put(ctx, "/pd?recursive=true", undefined, "DELETE");
  out.push(await w.answer);
  // Hidden keys below a recursive watch are not reported; the watched hidden key itself is.
  w = watchAnswer(ctx, `${K}/hw?wait=true&recursive=true`, 1);
  await w.ready;
  await put(ctx, "/hw/_h", "value=hidden");
  await put(ctx, "/hw/v", "value=visible");
  out.push(await w.answer);
  w = watchAnswer(ctx, `${K}/hw/_h?wait=true`, 1);
  await w.ready;
  await put(ctx, "/hw/_h?prevExist=true", "value=again");
  out.push(await w.answer);
  // The update of a directory (etcdctl updatedir).
  await put(ctx, "/wdir?dir=true");
  w = watchAnswer(ctx, `${K}/wdir?wait=true`, 1);
  await w.ready;
  await put(ctx, "/wdir?dir=true&prevExist=true");
  out.push(await w.answer);
  // In-order keys under a watched directory.
  w = watchAnswer(ctx, `${K}/wq?wait=true&recursive=true`, 1);
  await w.ready;
  await put(ctx, "/wq", "value=job", "POST");
  out.push(await w.answer);
  // A compare-and-swap and a compare-and-delete, streamed.
  await put(ctx, "/cw", "value=a");
  w = watchAnswer(ctx, `${K}/cw?wait=true&stream=true`, 2);
  await w.ready;
  await put(ctx, "/cw?prevValue=a", "value=b");
  await put(ctx, "/cw?prevValue=b", undefined, "DELETE");
  out.push(await w.answer);
  return out;
}

/** ETCDCTL_COMMANDS run in order with the real etcdctl in API 2 mode on both servers. */
const ETCDCTL_COMMANDS: string[][] = [
  ["set", "/c/k1", "v1"],
  ["get", "/c/k1"],
  ["mk", "/c/k1", "v2"],
  ["mk", "/c/k2", "v2"],
  ["update", "/c/k2", "v3"],
  ["update", "/c/nokey", "v"],
  ["mkdir", "/c/d2"],
  ["mkdir", "/c/d2"],
  ["mkdir", "--ttl", "100", "/c/tdir"],
  ["setdir", "--ttl", "100", "/c/tdir2"],
  ["-o", "extended", "updatedir", "--ttl", "300", "/c/tdir"],
  ["rmdir", "/c/tdir"],
  ["setdir", "/c/d3"],
  ["setdir", "/c/k1"],
  ["updatedir", "/c/d3"],
  ["updatedir", "/c/nodir"],
  ["ls", "/c"],
  ["ls", "--recursive", "/c"],
  ["ls", "-p", "/c"],
  ["ls", "--sort", "--recursive", "-p", "/c"],
  ["ls", "/nokey"],
  ["get", "/c/d3"],
  ["get", "/c/nokey"],
  ["rm", "/c/k1"],
  ["rm", "/c/d2"],
  ["rmdir", "/c/d2"],
  ["rmdir", "/c"],
  ["rm", "--dir", "/c/d3"],
  ["set", "--swap-with-value", "v1", "/c/k", "v2"],
  ["set", "/c/k", "v1"],
  ["set", "--swap-with-value", "v1", "/c/k", "v2"],
  ["set", "--swap-with-value", "zz", "/c/k", "v2"],
  ["set", "--swap-with-index", "1", "/c/k", "v2"],
  ["rm", "--with-value", "zz", "/c/k"],
  ["rm", "--with-value", "v2", "/c/k"],
  ["-o", "extended", "set", "/c/e", "1"],
  ["-o", "extended", "get", "/c/e"],
  ["-o", "json", "get", "/c/e"],
  ["-o", "json", "ls", "--sort", "/c"],
  ["mk", "--in-order", "/c/queue", "job1"],
  ["-o", "extended", "mk", "--in-order", "/c/queue", "job2"],
  ["ls", "--sort", "--recursive", "/c"],
  ["rm", "--recursive", "/c"],
  ["get", "/c/e"],
  ["set", "/", "x"],
  ["rm", "/"],
  ["rmdir", "/"],
  ["mk", "/", "x"],
  ["watch", "--after-index", "{base+1}", "/foo"],
  ["member", "list"],
  ["cluster-health"],
  // v2 auth: users, roles, the guest role, access checks, and back off.
  ["user", "list"],
  ["role", "list"],
  ["user", "add", "root:rootpw"],
  ["user", "add", "alice:pw"],
  ["user", "add", "alice:pw2"],
  ["user", "add", "bob"],
  ["role", "add", "reader"],
  ["role", "add", "reader"],
  ["role", "add", "root"],
  ["role", "grant", "reader", "--path", "/pub/*", "--read"],
  ["role", "grant", "reader", "--path", "/pub/*", "--read"],
  ["role", "grant", "reader", "--path", "/pub/../x", "--read"],
  ["role", "grant", "reader", "--path", "/w/*", "--read", "--write"],
  ["role", "grant", "reader", "--path", "/w/*", "--rw"],
  ["role", "get", "reader"],
  ["role", "get", "root"],
  ["role", "get", "nosuch"],
  ["user", "grant", "alice", "--roles", "reader"],
  ["user", "grant", "alice", "--roles", "reader"],
  ["user", "grant", "alice"],
  ["user", "get", "alice"],
  ["user", "get", "root"],
  ["user", "get", "nosuch"],
  ["user", "list"],
  ["role", "list"],
  ["auth", "enable"],
  ["auth", "enable"],
  ["-u", "root:rootpw", "role", "get", "guest"],
  ["-u", "root:rootpw", "role", "revoke", "guest", "--path", "/*", "--readwrite"],
  ["get", "/pub/x"],
  ["-u", "alice:pw", "get", "/pub/x"],
  ["-u", "alice:pw", "set", "/pub/x", "v"],
  ["-u", "alice:wrong", "get", "/pub/x"],
  ["-u", "root:rootpw", "set", "/pub/x", "v"],
  ["-u", "alice:pw", "get", "/pub/x"],
  ["-u", "alice:pw", "set", "/w/y", "v"],
  ["-u", "alice:pw", "ls", "--recursive", "/w"],
  ["-u", "root:rootpw", "user", "remove", "root"],
  ["member", "list"],
  ["-u", "alice:pw", "member", "add", "n", "http://127.0.0.1:1"],
  ["user", "list"],
  ["-u", "alice:pw", "auth", "disable"],
  ["-u", "root:rootpw", "auth", "disable"],
  ["auth", "disable"],
  ["user", "revoke", "alice", "--roles", "nope"],
  ["user", "revoke", "alice", "--roles", "reader"],
  ["role", "revoke", "reader", "--path", "/nope/*", "--read"],
  ["role", "remove", "reader"],
  ["role", "remove", "reader"],
  ["role", "remove", "root"],
  ["user", "remove", "alice"],
  ["user", "remove", "alice"],
  ["role", "remove", "guest"],
  ["user", "remove", "root"],
];

async function runEtcdctl(ctx: Ctx): Promise<string[]> {
  const out: string[] = [];
  for (const args of ETCDCTL_COMMANDS) {
    const r = await run(REAL_ETCDCTL, args.map((a) => fill(ctx, a)), { env: { ETCDCTL_API: "2", ETCDCTL_ENDPOINTS: ctx.url } });
    // etcd lists a directory in Go's map order: `ls` without --sort is compared as a set of lines.
    const stdout = args[0] === "ls" && !args.includes("--sort") ? sortLines(r.stdout) : r.stdout;
    out.push(`$ etcdctl ${args.join(" ")}\n${relCtl(ctx, stdout)}${relCtl(ctx, r.stderr)}[exit ${r.code}]`);
  }
  return out;
}

/**
 * runLongCommands runs the v2 commands that wait for events: `watch --forever` (every event
 * until it is stopped) and `exec-watch` (a command per event, with the ETCD_WATCH_* variables);
 * each is started, fed three writes, and stopped.
 */
async function runLongCommands(ctx: Ctx): Promise<string[]> {
  const out: string[] = [];
  const env = { ...process.env, ETCDCTL_API: "2", ETCDCTL_ENDPOINTS: ctx.url };
  const writes = async (key: string): Promise<void> => {
    await put(ctx, key, "value=one");
    await put(ctx, `${key}?prevExist=true`, "value=two");
    await put(ctx, key, undefined, "DELETE");
  };
  const runUntil = async (args: string[], key: string, lines: number, file?: string): Promise<string> => {
    // The writes come first and the watch starts after the store's index before them, so every
    // event comes from the history, whenever etcdctl (slow to start on a loaded machine) asks:
    // each answer's X-Etcd-Index (`Index:` in the extended output) is then the store's index
    // after the writes on both servers, never the event's own, which a watch already waiting gets.
    const index = (await send(`${ctx.url}${K}/`, "GET")).res.headers["x-etcd-index"];
    await writes(key);
    const at = args.findIndex((a) => a === "watch" || a === "exec-watch") + 1;
    const p = spawn(REAL_ETCDCTL, [...args.slice(0, at), "--after-index", String(index), ...args.slice(at)], { env, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    p.stdout.on("data", (d: Buffer) => (text += d.toString()));
    p.stderr.on("data", (d: Buffer) => (text += d.toString()));
    const count = (): number => (file !== undefined ? (existsSync(file) ? readFileSync(file, "utf8") : "") : text).split("\n").filter((l) => l !== "").length;
    const deadline = Date.now() + 10_000;
    while (count() < lines && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    p.kill("SIGINT");
    await new Promise((r) => p.once("close", r));
    return file !== undefined ? `${text}${readFileSync(file, "utf8")}` : text;
  };
  out.push(relCtl(ctx, await runUntil(["watch", "--forever", "/wf"], "/wf", 3)));
  out.push(relCtl(ctx, await runUntil(["-o", "extended", "watch", "--forever", "--recursive", "/wfd"], "/wfd/k", 21)));
  const file = join(mkdtempSync(join(tmpdir(), "v2-exec-")), "events");
  const script = `echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_MODIFIED_INDEX" >> ${file}`;
  // etcdctl 3.4's parsing drops the "--", so the key goes last: exec-watch -- <command...> <key>.
  // exec-watch starts each event's command in a goroutine of its own, so the commands append
  // their lines in any order: the lines are compared sorted.
  out.push(sortLines(relCtl(ctx, (await runUntil(["exec-watch", "--", "sh", "-c", script, "/ew"], "/ew", 3, file)).replace(/ (\d+)$/gm, (_m, n: string) => ` <${Number(n) - ctx.base}>`))));
  return out;
}

function sortLines(text: string): string {
  const lines = text.split("\n").filter((l) => l !== "");
  return lines.length === 0 ? text : `${lines.sort().join("\n")}\n`;
}

/** relCtl makes etcdctl's output comparable: indexes relative to the base, IDs and URLs masked. */
function relCtl(ctx: Ctx, text: string): string {
  const rel = (n: string): string => String(Number(n) - ctx.base);
  return text
    .replace(/\) \[(\d+)\]$/gm, (_m, n: string) => `) [${n === "0" ? "0" : rel(n)}]`)
    .replace(/^(Created-Index|Modified-Index|Index): (\d+)$/gm, (_m, f: string, n: string) => `${f}: ${rel(n)}`)
    .replace(/"(modifiedIndex|createdIndex)":(\d+)/g, (_m, f: string, n: string) => `"${f}":${rel(n)}`)
    .replace(/\b\d{20}\b/g, (d) => `<${rel(d)}>`)
    .replace(/\[(\d+) != (\d+)\]/g, (_m, a: string, b: string) => `[${a} != ${rel(b)}]`)
    .replace(/"expiration":"[^"]*","ttl":\d+/g, '"expiration":"<time>","ttl":"<ttl>"')
    .replace(/\b[0-9a-f]{12,16}\b/g, "<id>")
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, "<url>");
}

interface SetBody {
  node?: { createdIndex?: number; modifiedIndex?: number };
  prevNode?: { createdIndex?: number };
}

/** masked is an answer with the given body fields masked. */
function masked(a: Answer | undefined, fields: string[]): unknown {
  const body = structuredClone(a?.body) as Record<string, Record<string, unknown> | undefined>;
  for (const f of fields) {
    const [obj, field] = f.split(".") as [string, string];
    if (body[obj] !== undefined) (body[obj] as Record<string, unknown>)[field] = "<masked>";
  }
  return { ...a, body };
}

/** withoutCreated is an answer with its nodes' createdIndex masked. */
function withoutCreated(a: Answer | undefined): unknown {
  const body = structuredClone(a?.body) as Record<string, Record<string, unknown> | undefined>;
  for (const f of ["node", "prevNode"]) if (body[f] !== undefined) (body[f] as Record<string, unknown>)["createdIndex"] = "<masked>";
  return { ...a, body };
}

const results = new Map<Kind, { steps: Answer[]; watches: Answer[]; ctl: string[]; ttls: number[]; cleared: Answer; long: string[] }>();
const members: Member[] = [];

/** runAll runs every case on one server; etcd-ts additionally compacts its v3 history before the 401 case. */
async function runAll(kind: Kind): Promise<void> {
  const m = await Member.create({ kind, extraArgs: ["--enable-v2"] });
  members.push(m);
  await m.start();
  const first = await send(`${m.url}${K}/`, "GET");
  const ctx: Ctx = { kind, url: m.url, peerUrl: `http://127.0.0.1:${m.peerPort}`, base: Number(first.res.headers["x-etcd-index"]), saved: new Map(), raw: new Map() };
  const steps = await runSteps(ctx);
  const ttls = ["ttl1", "ttl2", "ttl3"].map((n) => (JSON.parse(ctx.raw.get(n) ?? "{}") as { node?: { ttl?: number } }).node?.ttl ?? -1);
  const watches = await runWatches(ctx);
  const long = await runLongCommands(ctx);
  const ctlOut = await runEtcdctl(ctx);
  // History beyond what a watch can reach: etcd's v2 store keeps the last 1,000 events;
  // etcd-ts keeps what the v3 store has not compacted.
  for (let i = 0; i < 1005; i++) await put(ctx, "/many", `value=${i}`);
  if (kind === "etcd-ts") {
    const rev = Number((await send(`${m.url}${K}/many`, "GET")).res.headers["x-etcd-index"]) + 1;
    const { res } = await send(`${m.url}/v3/kv/compaction`, "POST", JSON.stringify({ revision: String(rev) }), "application/json");
    expect(res.statusCode).toBe(200);
  }
  const cleared = await watchAnswer(ctx, `${K}/many?wait=true&waitIndex={base+2}`, 1).answer;
  results.set(kind, { steps, watches, ctl: ctlOut, ttls, cleared, long });
}

beforeAll(async () => {
  await Promise.all([runAll("etcd"), runAll("etcd-ts")]);
}, 240_000);

afterAll(async () => {
  await Promise.all(members.map((m) => m.kill()));
});

describe("the v2 API, etcd-ts against etcd 3.4.23 --enable-v2", () => {
  it("answers each /v2/keys, /v2/members and /v2/machines request alike", () => {
    const a = results.get("etcd")?.steps ?? [];
    const b = results.get("etcd-ts")?.steps ?? [];
    expect(b.length).toBe(STEPS.length);
    for (let i = 0; i < STEPS.length; i++) {
      const st = STEPS[i] as Step;
      const label = `${st.method} ${st.path} ${st.form ?? ""}`;
      if (st.setOverFile === true) {
        const ea = a[i]?.body as SetBody;
        const tb = b[i]?.body as SetBody;
        // etcd gives the replaced file's node a new createdIndex; etcd-ts keeps the old one.
        if (st.method === "PUT") expect(ea.node?.createdIndex, label).toBe(ea.node?.modifiedIndex);
        expect(tb.node?.createdIndex, label).toBe(tb.prevNode?.createdIndex);
        expect(withoutCreated(b[i]), label).toEqual(withoutCreated(a[i]));
        continue;
      }
      if (st.mask !== undefined) {
        expect(masked(b[i], st.mask), label).toEqual(masked(a[i], st.mask));
        continue;
      }
      expect(b[i], label).toEqual(a[i]);
    }
  });

  it("answers watches alike: history, long poll, streams, directory removal, hidden keys", () => {
    expect(results.get("etcd-ts")?.watches).toEqual(results.get("etcd")?.watches);
  });

  it("gives the real ETCDCTL_API=2 etcdctl the same output and exit codes", () => {
    const a = results.get("etcd")?.ctl ?? [];
    const b = results.get("etcd-ts")?.ctl ?? [];
    for (let i = 0; i < ETCDCTL_COMMANDS.length; i++) expect(b[i]).toBe(a[i]);
  });

  it("gives the real etcdctl's watch --forever and exec-watch the same events", () => {
    const a = results.get("etcd")?.long ?? [];
    expect(a[0]).toBe("one\ntwo\nPrevNode.Value: two\n");
    expect(a[1]).toContain("[update] /wfd/k\nKey: /wfd/k\n");
    expect(a[2]?.split("\n").filter((l) => l !== "").map((l) => l.replace(/ <\d+>$/, ""))).toEqual(["delete /ew ", "set /ew one", "update /ew two"]);
    expect(results.get("etcd-ts")?.long).toEqual(a);
  });

  it("answers the TTL a write asked for, and what is left of it on a read", () => {
    const a = results.get("etcd")?.ttls ?? [];
    const b = results.get("etcd-ts")?.ttls ?? [];
    expect(a).toEqual([100, expect.any(Number), 200]);
    expect(b[0]).toBe(100);
    expect(b[2]).toBe(200);
    expect(Math.abs((b[1] ?? 0) - (a[1] ?? 0))).toBeLessThanOrEqual(1);
  });

  it("answers 401 for a watch from an index whose history is gone", () => {
    const a = results.get("etcd")?.cleared;
    const b = results.get("etcd-ts")?.cleared;
    // etcd answers its error code 401 with HTTP status 400 (401 is not in its status table).
    expect(a?.status).toBe(400);
    expect((a?.body as { errorCode?: number } | undefined)?.errorCode).toBe(401);
    expect(b).toEqual(a);
  });
});
