import { spawn } from "node:child_process";
import type { Io } from "../ctl/io.js";
import { checkPeerURLs } from "@etcd-ts/client";
import { ClusterError, V2Error, form, httpError, keysPath, query, type Answer, type V2Client, type V2Member, type V2Node, type V2Response } from "./client.js";
import { authCommands } from "./auth_commands.js";
import type { CommandDef, Context, FlagDef } from "./cli.js";

/** Exit codes of etcdctl's v2 commands (ctlv2/command/error.go). */
export const V2Exit = { Success: 0, BadArgs: 1, BadConnection: 2, BadAuth: 3, ServerError: 4, ClusterNotHealthy: 5 } as const;

/** V2Exited ends the command with a code (etcdctl's os.Exit); what it printed is printed already. */
export class V2Exited extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Env is what the commands need: the io, the output format, and clients made from the global flags. */
export interface Env {
  io: Io;
  output(ctx: Context): string;
  /** client makes the client; sync (unless --no-sync) first, as mustNewClient. */
  client(ctx: Context, sync: boolean): Promise<V2Client>;
  /** totalTimeout is an AbortSignal for --total-timeout. */
  totalTimeout(ctx: Context): AbortSignal;
  /** stdinAll reads all of stdin (a value not given as an argument). */
  stdinAll(): Promise<string>;
}

/**
 * handleError is etcdctl's handleError: "Error:  <err>" on stderr (and a ClusterError's
 * detail), then the exit. (etcdctl 3.4 means to print a server's error as JSON with -o json,
 * but its type check never matches the client's errors, so it never does.)
 */
export function handleError(env: Env, ctx: Context, code: number, err: unknown): never {
  void ctx;
  env.io.err(`Error:  ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof ClusterError) env.io.err(`${err.detail()}\n`);
  throw new V2Exited(code);
}

/** printResponseKey is etcdctl's printResponseKey in the simple, extended and json formats. */
export function printResponseKey(env: Env, resp: V2Response, format: string): void {
  const out = (s: string): void => env.io.out(`${s}\n`);
  switch (format) {
    case "simple":
      if (resp.action !== "delete") out(resp.node.value ?? "");
      else out(`PrevNode.Value: ${resp.prevNode?.value ?? ""}`);
      break;
    case "extended":
      out(`Key: ${resp.node.key}`);
      out(`Created-Index: ${resp.node.createdIndex ?? 0}`);
      out(`Modified-Index: ${resp.node.modifiedIndex ?? 0}`);
      if (resp.prevNode !== undefined && resp.prevNode !== null) out(`PrevNode.Value: ${resp.prevNode.value ?? ""}`);
      out(`TTL: ${resp.node.ttl ?? 0}`);
      out(`Index: ${resp.index}`);
      if (resp.action !== "delete") {
        out("");
        out(resp.node.value ?? "");
      }
      break;
    case "json":
      out(JSON.stringify({ action: resp.action, node: goNode(resp.node), prevNode: resp.prevNode === undefined || resp.prevNode === null ? null : goNode(resp.prevNode) }));
      break;
    default:
      env.io.err(`Unsupported output format: ${format}\n`);
  }
}

/** goNode is client.Node as Go's encoding/json writes it: key, dir (if set), value, nodes (null if none), indexes, expiration and ttl if set. */
function goNode(n: V2Node): Record<string, unknown> {
  const o: Record<string, unknown> = { key: n.key };
  if (n.dir === true) o["dir"] = true;
  o["value"] = n.value ?? "";
  o["nodes"] = n.nodes === undefined ? null : n.nodes.map(goNode);
  o["createdIndex"] = n.createdIndex ?? 0;
  o["modifiedIndex"] = n.modifiedIndex ?? 0;
  if (n.expiration !== undefined) o["expiration"] = n.expiration;
  if (n.ttl !== undefined && n.ttl !== 0) o["ttl"] = n.ttl;
  return o;
}

const TTL: FlagDef = { names: ["ttl"], kind: "int", def: "0", usage: "key time-to-live in seconds" };

/** keyArg is the key argument, or "key required" (exit 1). */
function keyArg(env: Env, ctx: Context): string {
  const k = ctx.args[0];
  if (k === undefined) handleError(env, ctx, V2Exit.BadArgs, new Error("key required"));
  return k;
}

/** valueArg is argOrStdin: the second argument, else all of stdin, else "value required" (exit 1). */
async function valueArg(env: Env, ctx: Context): Promise<string> {
  const v = ctx.args[1];
  if (v !== undefined) return v;
  const all = await env.stdinAll();
  if (all === "") handleError(env, ctx, V2Exit.BadArgs, new Error("value required"));
  return all;
}

/** SetOptions are the Go client's SetOptions. */
interface SetOptions {
  prevValue?: string;
  prevIndex?: number;
  prevExist?: "true" | "false";
  ttl?: number;
  dir?: boolean;
}

/** setRequest is the Go client's setAction: PUT with the options in the query and value/ttl in the form. */
function setRequest(key: string, value: string, o: SetOptions): { method: string; path: string; form: string } {
  const params: Record<string, string> = {};
  const f: Record<string, string> = {};
  if (o.dir === true) params["dir"] = "true";
  else {
    if (o.prevValue !== undefined && o.prevValue !== "") params["prevValue"] = o.prevValue;
    f["value"] = value;
  }
  if (o.prevIndex !== undefined && o.prevIndex !== 0) params["prevIndex"] = String(o.prevIndex);
  if (o.prevExist !== undefined) params["prevExist"] = o.prevExist;
  if (o.ttl !== undefined && o.ttl > 0) f["ttl"] = String(o.ttl);
  return { method: "PUT", path: `${keysPath(key)}${query(params)}`, form: form(f) };
}

/** run sends a keys request with --total-timeout, exiting 4 with the error when it fails. */
async function run(env: Env, ctx: Context, c: V2Client, req: { method: string; path: string; form?: string }): Promise<V2Response> {
  try {
    return await c.keys(req, env.totalTimeout(ctx));
  } catch (err) {
    handleError(env, ctx, V2Exit.ServerError, err);
  }
}

/**
 * v2Commands are etcdctl 3.4's v2 commands, in its order. backup (a copy of a v2 data
 * directory) is listed with its flags but not built: it says so and exits 1.
 */
export function v2Commands(env: Env): CommandDef[] {
  const fmt = (ctx: Context): string => env.output(ctx);
  const mkdir = (prevExist: "false" | undefined) => async (ctx: Context): Promise<void> => {
    const c = await env.client(ctx, true);
    const key = keyArg(env, ctx);
    const resp = await run(env, ctx, c, setRequest(key, "", { ttl: ctx.flag("ttl") as number, dir: true, ...(prevExist !== undefined ? { prevExist } : {}) }));
    if (fmt(ctx) !== "simple") printResponseKey(env, resp, fmt(ctx));
  };
  const remove = async (ctx: Context, dir: boolean, recursive: boolean, prevValue: string, prevIndex: number): Promise<void> => {
    const c = await env.client(ctx, true);
    const key = keyArg(env, ctx);
    const params: Record<string, string> = { dir: String(dir), recursive: String(recursive) };
    if (prevValue !== "") params["prevValue"] = prevValue;
    if (prevIndex !== 0) params["prevIndex"] = String(prevIndex);
    const resp = await run(env, ctx, c, { method: "DELETE", path: `${keysPath(key)}${query(params)}` });
    if (resp.node.dir !== true || fmt(ctx) !== "simple") printResponseKey(env, resp, fmt(ctx));
  };
  const get = (ctx: Context, c: V2Client, key: string, recursive: boolean) =>
    run(env, ctx, c, {
      method: "GET",
      path: `${keysPath(key)}${query({ recursive: String(recursive), sorted: String(ctx.flag("sort") === true), quorum: String(ctx.flag("quorum") === true) })}`,
    });
  const notBuilt = (what: string) => async (): Promise<void> => {
    env.io.err(`etcdctl-ts: "etcdctl ${what}" of the v2 API is not implemented yet\n`);
    throw new V2Exited(1);
  };
  return [
    {
      name: "backup",
      usage: "backup an etcd directory",
      argsUsage: " ",
      flags: [
        { names: ["data-dir"], kind: "string", usage: "Path to the etcd data dir" },
        { names: ["wal-dir"], kind: "string", usage: "Path to the etcd wal dir" },
        { names: ["backup-dir"], kind: "string", usage: "Path to the backup dir" },
        { names: ["backup-wal-dir"], kind: "string", usage: "Path to the backup wal dir" },
        { names: ["with-v3"], kind: "bool", usage: "Backup v3 backend data" },
      ],
      action: notBuilt("backup"),
    },
    {
      name: "cluster-health",
      usage: "check the health of the etcd cluster",
      argsUsage: " ",
      flags: [{ names: ["forever", "f"], kind: "bool", usage: "forever check the health every 10 second until CTRL+C" }],
      action: (ctx) => clusterHealth(env, ctx),
    },
    {
      name: "mk",
      usage: "make a new key with a given value",
      argsUsage: "<key> <value>",
      flags: [{ names: ["in-order"], kind: "bool", usage: "create in-order key under directory <key>" }, TTL],
      action: async (ctx) => {
        const c = await env.client(ctx, true);
        const key = keyArg(env, ctx);
        const value = await valueArg(env, ctx);
        const ttl = ctx.flag("ttl") as number;
        const req =
          ctx.flag("in-order") === true
            ? { method: "POST", path: keysPath(key), form: form({ value, ...(ttl > 0 ? { ttl: String(ttl) } : {}) }) }
            : setRequest(key, value, { ttl, prevExist: "false" });
        printResponseKey(env, await run(env, ctx, c, req), fmt(ctx));
      },
    },
    { name: "mkdir", usage: "make a new directory", argsUsage: "<key>", flags: [TTL], action: mkdir("false") },
    {
      name: "rm",
      usage: "remove a key or a directory",
      argsUsage: "<key>",
      flags: [
        { names: ["dir"], kind: "bool", usage: "removes the key if it is an empty directory or a key-value pair" },
        { names: ["recursive", "r"], kind: "bool", usage: "removes the key and all child keys(if it is a directory)" },
        { names: ["with-value"], kind: "string", usage: "previous value" },
        { names: ["with-index"], kind: "int", def: "0", usage: "previous index" },
      ],
      action: (ctx) => remove(ctx, ctx.flag("dir") === true, ctx.flag("recursive") === true, ctx.flag("with-value") as string, ctx.flag("with-index") as number),
    },
    {
      name: "rmdir",
      usage: "removes the key if it is an empty directory or a key-value pair",
      argsUsage: "<key>",
      action: (ctx) => remove(ctx, true, false, "", 0),
    },
    {
      name: "get",
      usage: "retrieve the value of a key",
      argsUsage: "<key>",
      flags: [
        { names: ["sort"], kind: "bool", usage: "returns result in sorted order" },
        { names: ["quorum", "q"], kind: "bool", usage: "require quorum for get request" },
      ],
      action: async (ctx) => {
        const c = await env.client(ctx, true);
        const key = keyArg(env, ctx);
        const resp = await get(ctx, c, key, false);
        if (resp.node.dir === true) {
          env.io.err(`${resp.node.key}: is a directory\n`);
          throw new V2Exited(1);
        }
        printResponseKey(env, resp, fmt(ctx));
      },
    },
    {
      name: "ls",
      usage: "retrieve a directory",
      argsUsage: "[key]",
      flags: [
        { names: ["sort"], kind: "bool", usage: "returns result in sorted order" },
        { names: ["recursive", "r"], kind: "bool", usage: "returns all key names recursively for the given path" },
        { names: ["p"], kind: "bool", usage: "append slash (/) to directories" },
        { names: ["quorum", "q"], kind: "bool", usage: "require quorum for get request" },
      ],
      action: async (ctx) => {
        const c = await env.client(ctx, true);
        const resp = await get(ctx, c, ctx.args[0] ?? "/", ctx.flag("recursive") === true);
        if (fmt(ctx) !== "simple") {
          printResponseKey(env, resp, fmt(ctx));
          return;
        }
        const print = (n: V2Node): void => {
          env.io.out(n.dir === true && ctx.flag("p") === true ? `${n.key}/\n` : `${n.key}\n`);
          for (const child of n.nodes ?? []) print(child);
        };
        if (resp.node.dir !== true) env.io.out(`${resp.node.key}\n`);
        for (const n of resp.node.nodes ?? []) print(n);
      },
    },
    {
      name: "set",
      usage: "set the value of a key",
      argsUsage: "<key> <value>",
      description: "Set sets the value of a key.\n\n   When <value> begins with '-', <value> is interpreted as a flag.\n   Insert '--' for workaround:\n\n   $ set -- <key> <value>",
      flags: [TTL, { names: ["swap-with-value"], kind: "string", usage: "previous value" }, { names: ["swap-with-index"], kind: "int", def: "0", usage: "previous index" }],
      action: async (ctx) => {
        const c = await env.client(ctx, true);
        const key = keyArg(env, ctx);
        const value = await valueArg(env, ctx);
        const req = setRequest(key, value, { ttl: ctx.flag("ttl") as number, prevValue: ctx.flag("swap-with-value") as string, prevIndex: ctx.flag("swap-with-index") as number });
        printResponseKey(env, await run(env, ctx, c, req), fmt(ctx));
      },
    },
    { name: "setdir", usage: "create a new directory or update an existing directory TTL", argsUsage: "<key>", flags: [TTL], action: mkdir(undefined) },
    {
      name: "update",
      usage: "update an existing key with a given value",
      argsUsage: "<key> <value>",
      flags: [TTL],
      action: async (ctx) => {
        const c = await env.client(ctx, true);
        const key = keyArg(env, ctx);
        const value = await valueArg(env, ctx);
        printResponseKey(env, await run(env, ctx, c, setRequest(key, value, { ttl: ctx.flag("ttl") as number, prevExist: "true" })), fmt(ctx));
      },
    },
    {
      name: "updatedir",
      usage: "update an existing directory",
      argsUsage: "<key> <value>",
      flags: [TTL],
      action: async (ctx) => {
        const c = await env.client(ctx, true);
        const key = keyArg(env, ctx);
        const resp = await run(env, ctx, c, setRequest(key, "", { ttl: ctx.flag("ttl") as number, dir: true, prevExist: "true" }));
        if (fmt(ctx) !== "simple") printResponseKey(env, resp, fmt(ctx));
      },
    },
    {
      name: "watch",
      usage: "watch a key for changes",
      argsUsage: "<key>",
      flags: [
        { names: ["forever", "f"], kind: "bool", usage: "forever watch a key until CTRL+C" },
        { names: ["after-index"], kind: "int", def: "0", usage: "watch after the given index" },
        { names: ["recursive", "r"], kind: "bool", usage: "returns all values for key and child keys" },
      ],
      action: async (ctx) => {
        const c = await env.client(ctx, true);
        const key = keyArg(env, ctx);
        const recursive = ctx.flag("recursive") === true;
        const w = watcher(env, ctx, c, key, ctx.flag("after-index") as number, recursive);
        for (;;) {
          const resp = await w();
          if (resp.node.dir === true) continue;
          if (recursive) env.io.out(`[${resp.action}] ${resp.node.key}\n`);
          printResponseKey(env, resp, fmt(ctx));
          if (ctx.flag("forever") !== true) return;
        }
      },
    },
    {
      name: "exec-watch",
      usage: "watch a key for changes and exec an executable",
      argsUsage: "<key> <command> [args...]",
      flags: [
        { names: ["after-index"], kind: "int", def: "0", usage: "watch after the given index" },
        { names: ["recursive", "r"], kind: "bool", usage: "watch all values for key and child keys" },
      ],
      action: (ctx) => execWatch(env, ctx),
    },
    {
      name: "member",
      usage: "member add, remove and list subcommands",
      subcommands: [
        { name: "list", usage: "enumerate existing cluster members", argsUsage: " ", action: (ctx) => memberList(env, ctx) },
        { name: "add", usage: "add a new member to the etcd cluster", argsUsage: "<name> <peerURL>", action: (ctx) => memberAdd(env, ctx) },
        { name: "remove", usage: "remove an existing member from the etcd cluster", argsUsage: "<memberID>", action: (ctx) => memberRemove(env, ctx) },
        { name: "update", usage: "update an existing member in the etcd cluster", argsUsage: "<memberID> <peerURLs>", action: (ctx) => memberUpdate(env, ctx) },
      ],
    },
    ...authCommands(env),
  ];
}

/** watcher is the Go client's httpWatcher: each call waits for the next event after the last one seen. */
function watcher(env: Env, ctx: Context, c: V2Client, key: string, afterIndex: number, recursive: boolean): () => Promise<V2Response> {
  let waitIndex = afterIndex > 0 ? afterIndex + 1 : 0;
  return async () => {
    try {
      const resp = await c.keys({ method: "GET", path: `${keysPath(key)}${query({ wait: "true", waitIndex: String(waitIndex), recursive: String(recursive) })}`, wait: true });
      waitIndex = (resp.node.modifiedIndex ?? 0) + 1;
      return resp;
    } catch (err) {
      handleError(env, ctx, V2Exit.ServerError, err);
    }
  };
}

/** execWatch runs a command for each change of a key, with ETCD_WATCH_* in its environment. */
async function execWatch(env: Env, ctx: Context): Promise<void> {
  const c = await env.client(ctx, true);
  const args = ctx.args;
  if (args.length < 2) handleError(env, ctx, V2Exit.BadArgs, new Error("key and command to exec required"));
  const sep = args.findIndex((a, i) => a === "--" && i !== 0);
  const key = sep >= 0 ? (args[0] as string) : (args[args.length - 1] as string);
  const cmd = sep >= 0 ? args.slice(2) : args.slice(0, -1);
  const w = watcher(env, ctx, c, key, ctx.flag("after-index") as number, ctx.flag("recursive") === true);
  for (;;) {
    const resp = await w();
    if (resp.node.dir === true) {
      env.io.err(`Ignored dir ${resp.node.key} change\n`);
      continue;
    }
    const childEnv = {
      ...Object.fromEntries(env.io.env),
      ETCD_WATCH_ACTION: resp.action,
      ETCD_WATCH_MODIFIED_INDEX: String(resp.node.modifiedIndex ?? 0),
      ETCD_WATCH_KEY: resp.node.key,
      ETCD_WATCH_VALUE: resp.node.value ?? "",
    };
    const child = spawn(cmd[0] as string, cmd.slice(1), { env: childEnv, stdio: env.io.inheritStdio === true ? "inherit" : "pipe" });
    child.stdout?.on("data", (d: Buffer) => env.io.out(d));
    child.stderr?.on("data", (d: Buffer) => env.io.err(d));
    child.on("error", (err: NodeJS.ErrnoException) => {
      env.io.err(`exec: "${cmd[0] ?? ""}": ${err.code === "ENOENT" ? "executable file not found in $PATH" : err.message}`);
      process.exit(1);
    });
  }
}

async function clusterHealth(env: Env, ctx: Context): Promise<void> {
  const c = await env.client(ctx, false);
  let ms: V2Member[];
  try {
    ms = await c.members(env.totalTimeout(ctx));
  } catch (err) {
    env.io.out("cluster may be unhealthy: failed to list members\n");
    handleError(env, ctx, V2Exit.ServerError, err);
  }
  for (;;) {
    let healthy = 0;
    for (const m of ms) {
      if (m.clientURLs.length === 0) {
        env.io.out(`member ${m.id} is unreachable: no available published client urls\n`);
        continue;
      }
      let checked = false;
      for (const url of m.clientURLs) {
        let body: string;
        try {
          body = (await c.send(new URL(url), { method: "GET", path: "/health", wait: true })).body;
        } catch (err) {
          env.io.out(`failed to check the health of member ${m.id} on ${url}: Get ${JSON.stringify(`${url}/health`)}: ${(err as Error).message}\n`);
          continue;
        }
        let ok: boolean;
        try {
          const h = (JSON.parse(body) as { health?: unknown }).health;
          ok = h === "true" || h === true;
        } catch (err) {
          env.io.out(`failed to check the health of member ${m.id} on ${url}: ${(err as Error).message}\n`);
          continue;
        }
        checked = true;
        if (ok) {
          env.io.out(`member ${m.id} is healthy: got healthy result from ${url}\n`);
          healthy++;
        } else {
          env.io.out(`member ${m.id} is unhealthy: got unhealthy result from ${url}\n`);
        }
        break;
      }
      if (!checked) env.io.out(`member ${m.id} is unreachable: [${m.clientURLs.join(" ")}] are all unreachable\n`);
    }
    env.io.out(healthy === ms.length ? "cluster is healthy\n" : healthy === 0 ? "cluster is unavailable\n" : "cluster is degraded\n");
    if (ctx.flag("forever") !== true) {
      if (healthy !== ms.length) throw new V2Exited(V2Exit.ClusterNotHealthy);
      return;
    }
    env.io.out("\nnext check after 10 second...\n\n");
    await new Promise((r) => setTimeout(r, 10_000));
  }
}

/**
 * expectStatus is the Go client's assertStatusCode: an answer in `ok` passes; one in
 * `decoded` fails with the server's {"message"}; any other with "unexpected status code N".
 */
function expectStatus(a: Answer, ok: number[], decoded: number[]): void {
  if (ok.includes(a.status)) return;
  if (decoded.includes(a.status)) throw httpError(a);
  throw new Error(`unexpected status code ${a.status}`);
}

/** fail prints a message on stderr and exits 1 (the member commands' os.Exit(1)). */
function fail(env: Env, text: string): never {
  env.io.err(text);
  throw new V2Exited(1);
}

async function memberList(env: Env, ctx: Context): Promise<void> {
  if (ctx.args.length !== 0) fail(env, "No arguments accepted\n");
  const c = await env.client(ctx, true);
  const signal = env.totalTimeout(ctx);
  let ms: V2Member[];
  try {
    ms = await c.members(signal);
  } catch (err) {
    fail(env, `${(err as Error).message}\n`);
  }
  let leader: V2Member;
  try {
    const a = await c.do({ method: "GET", path: "/v2/members/leader" }, signal);
    expectStatus(a, [200], []);
    leader = JSON.parse(a.body) as V2Member;
  } catch (err) {
    fail(env, `Failed to get leader:  ${(err as Error).message}\n`);
  }
  for (const m of ms) {
    if (m.name === "") env.io.out(`${m.id}[unstarted]: peerURLs=${m.peerURLs.join(",")}\n`);
    else env.io.out(`${m.id}: name=${m.name} peerURLs=${m.peerURLs.join(",")} clientURLs=${m.clientURLs.join(",")} isLeader=${String(m.id === leader.id)}\n`);
  }
}

async function memberAdd(env: Env, ctx: Context): Promise<void> {
  if (ctx.args.length !== 2) fail(env, "Provide a name and a single member peerURL\n");
  const [name, url] = ctx.args as [string, string];
  const c = await env.client(ctx, true);
  const signal = env.totalTimeout(ctx);
  let added: V2Member;
  try {
    const bad = checkPeerURLs([url]);
    if (bad !== undefined) throw new Error(bad);
    const a = await c.do({ method: "POST", path: "/v2/members", json: JSON.stringify({ peerURLs: [url] }) }, signal);
    expectStatus(a, [201], [409]);
    added = JSON.parse(a.body) as V2Member;
  } catch (err) {
    fail(env, `${(err as Error).message}\n`);
  }
  env.io.out(`Added member named ${name} with ID ${added.id} to cluster\n`);
  let ms: V2Member[];
  try {
    ms = await c.members(signal);
  } catch (err) {
    fail(env, `${(err as Error).message}\n`);
  }
  const conf = ms.flatMap((m) => m.peerURLs.map((u) => `${m.id === added.id ? name : m.name}=${u}`));
  env.io.out(`\nETCD_NAME=${JSON.stringify(name)}\nETCD_INITIAL_CLUSTER=${JSON.stringify(conf.join(","))}\nETCD_INITIAL_CLUSTER_STATE="existing"\n`);
}

async function memberRemove(env: Env, ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) fail(env, "Provide a single member ID\n");
  const id = ctx.args[0] as string;
  const c = await env.client(ctx, true);
  const signal = env.totalTimeout(ctx);
  let ms: V2Member[];
  try {
    ms = await c.members(signal);
  } catch (err) {
    fail(env, `Error while verifying ID against known members: ${(err as Error).message}\n`);
  }
  let found = false;
  for (const m of ms) {
    if (m.id === id) found = true;
    if (m.name === id) {
      env.io.err(`Found a member named ${m.name}; if this is correct, please use its ID, eg:\n\tetcdctl member remove ${m.id}\n`);
      env.io.err("For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n");
    }
  }
  if (!found) fail(env, `Couldn't find a member in the cluster with an ID of ${id}.\n`);
  try {
    const a = await c.do({ method: "DELETE", path: `/v2/members/${id}` }, signal);
    expectStatus(a, [204, 410], []);
  } catch (err) {
    fail(env, `Received an error trying to remove member ${id}: ${(err as Error).message}`);
  }
  env.io.out(`Removed member ${id} from cluster\n`);
}

async function memberUpdate(env: Env, ctx: Context): Promise<void> {
  if (ctx.args.length !== 2) fail(env, "Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)\n");
  const [id, urls] = ctx.args as [string, string];
  const c = await env.client(ctx, true);
  try {
    const bad = checkPeerURLs(urls.split(","));
    if (bad !== undefined) throw new Error(bad);
    const a = await c.do({ method: "PUT", path: `/v2/members/${id}`, json: JSON.stringify({ peerURLs: urls.split(",") }) }, env.totalTimeout(ctx));
    expectStatus(a, [204], [404, 409]);
  } catch (err) {
    fail(env, `${(err as Error).message}\n`);
  }
  env.io.out(`Updated member with ID ${id} in cluster\n`);
}

export type { V2Error };
