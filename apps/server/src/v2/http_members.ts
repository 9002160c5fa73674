import type { IncomingMessage, ServerResponse } from "node:http";
import { checkUrl } from "../config/access.js";
import { Errors } from "../errors.js";
import { hexId } from "../ids.js";
import type { Member } from "../membership.js";
import { methodNotAllowed } from "./http_keys.js";
import { goJson } from "./node.js";

/** MEMBERS_PREFIX is the URL path of the v2 members API. */
export const MEMBERS_PREFIX = "/v2/members";

/** MAX_MEMBER_BODY_BYTES bounds a members request's JSON body. */
const MAX_MEMBER_BODY_BYTES = 64 * 1024;

/** V2MembersContext is the member operations /v2/members serves (EtcdServer's). */
export interface V2MembersContext {
  clusterId(): string;
  members(): Member[];
  /** leader is the leader's ID, 0n while there is none. */
  leader(): bigint;
  memberAdd(peerUrls: string[]): Promise<Member | undefined>;
  memberRemove(id: bigint): Promise<void>;
  memberUpdate(id: bigint, peerUrls: string[]): Promise<void>;
  /** isRemoved: id was a member and was removed. */
  isRemoved(id: bigint): boolean;
  /** mayWrite is v2 auth's hasWriteRootAccess (absent: every request is allowed). */
  mayWrite?: (req: IncomingMessage) => Promise<boolean>;
}

/** memberJson is etcd's httptypes.Member. */
function memberJson(m: Member): Record<string, unknown> {
  return { id: hexId(m.id), name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls] };
}

/** httpError is etcd's httptypes.HTTPError answer: {"message"} with a status. */
function httpError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(goJson({ message }));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(`${goJson(body)}\n`);
}

/**
 * serveMembers answers /v2/members[/...] as etcd 3.4's membersHandler: GET lists the members
 * ({"members":[...]}) or, on /leader, the leader (503 "During election" without one); POST
 * adds a member from {"peerURLs":[...]} (201 with it); DELETE /<id> removes one and PUT /<id>
 * changes its peer URLs (204). Errors are {"message"} with etcd's statuses and texts.
 */
export function serveMembers(ctx: V2MembersContext, req: IncomingMessage, res: ServerResponse, path: string): void {
  const method = req.method ?? "GET";
  if (!["GET", "POST", "DELETE", "PUT"].includes(method)) {
    methodNotAllowed(res, ["GET", "POST", "DELETE", "PUT"]);
    return;
  }
  res.setHeader("X-Etcd-Cluster-Id", ctx.clusterId());
  const rest = path.slice(MEMBERS_PREFIX.length).replace(/^\//, "");
  void handle(ctx, req, res, method, rest).catch((err: unknown) => {
    if (res.headersSent) res.destroy();
    else httpError(res, 500, "Internal Server Error");
    void err;
  });
}

async function handle(ctx: V2MembersContext, req: IncomingMessage, res: ServerResponse, method: string, rest: string): Promise<void> {
  if (ctx.mayWrite !== undefined && !(await ctx.mayWrite(req))) {
    req.resume();
    res.removeHeader("X-Etcd-Cluster-Id");
    httpError(res, 401, "Insufficient credentials");
    return;
  }
  if (method === "GET") {
    req.resume();
    if (rest === "") {
      sendJson(res, 200, { members: ctx.members().map(memberJson) });
    } else if (rest === "leader") {
      const lead = ctx.leader();
      const m = ctx.members().find((x) => x.id === lead);
      if (lead === 0n || m === undefined) httpError(res, 503, "During election");
      else sendJson(res, 200, memberJson(m));
    } else {
      httpError(res, 404, "Not found");
    }
    return;
  }
  let id = 0n;
  if (method !== "POST") {
    if (rest === "") {
      req.resume();
      res.writeHead(405, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" }).end("Method Not Allowed\n");
      return;
    }
    if (!/^[0-9a-fA-F]{1,16}$/.test(rest)) {
      req.resume();
      httpError(res, 404, `No such member: ${rest}`);
      return;
    }
    id = BigInt(`0x${rest}`);
  }
  if (method === "DELETE") {
    req.resume();
    try {
      await ctx.memberRemove(id);
    } catch (err) {
      if (ctx.isRemoved(id)) return httpError(res, 410, `Member permanently removed: ${hexId(id)}`);
      if (err === Errors.memberNotFound) return httpError(res, 404, `No such member: ${hexId(id)}`);
      throw err;
    }
    res.writeHead(204).end();
    return;
  }
  const urls = await readPeerUrls(req, res);
  if (urls === undefined) return;
  if (method === "POST") {
    let m: Member | undefined;
    try {
      m = await ctx.memberAdd(urls);
    } catch (err) {
      if (err === Errors.peerUrlExist) return httpError(res, 409, "membership: peerURL exists");
      if (err === Errors.memberExist) return httpError(res, 409, "membership: ID exists");
      throw err;
    }
    if (m === undefined) throw new Error("v2 members: the added member is not in the member list");
    sendJson(res, 201, memberJson(m));
    return;
  }
  try {
    await ctx.memberUpdate(id, urls);
  } catch (err) {
    if (err === Errors.peerUrlExist) return httpError(res, 409, "membership: peerURL exists");
    if (err === Errors.memberNotFound) return httpError(res, 404, `No such member: ${hexId(id)}`);
    throw err;
  }
  res.writeHead(204).end();
}

/**
 * readPeerUrls reads a {"peerURLs":[...]} body as etcd's unmarshalRequest: 415 for another
 * content type, 400 for bad JSON or a URL types.NewURLs refuses.
 */
async function readPeerUrls(req: IncomingMessage, res: ServerResponse): Promise<string[] | undefined> {
  const ctype = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (ctype !== "application/json") {
    req.resume();
    httpError(res, 415, `Bad Content-Type ${ctype}, accept application/json`);
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_MEMBER_BODY_BYTES) {
      httpError(res, 400, "http: request body too large");
      return undefined;
    }
    chunks.push(c);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString());
  } catch (err) {
    httpError(res, 400, err instanceof Error ? err.message : String(err));
    return undefined;
  }
  const raw = (body as { peerURLs?: unknown } | null)?.peerURLs;
  const list = Array.isArray(raw) ? raw : [];
  if (list.some((u) => typeof u !== "string")) {
    httpError(res, 400, "json: cannot unmarshal into Go struct field .peerURLs of type string");
    return undefined;
  }
  if (list.length === 0) {
    httpError(res, 400, "no valid URLs given");
    return undefined;
  }
  try {
    return (list as string[]).map((u) => checkUrl(u.trim()));
  } catch (err) {
    httpError(res, 400, (err as Error).message);
    return undefined;
  }
}

/** serveMachines answers /v2/machines: the members' client URLs joined by ", " (GET, HEAD). */
export function serveMachines(members: () => Member[], req: IncomingMessage, res: ServerResponse): void {
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") {
    methodNotAllowed(res, ["GET", "HEAD"]);
    return;
  }
  req.resume();
  const urls = members().flatMap((m) => m.clientUrls).sort();
  res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" }).end(urls.join(", "));
}
