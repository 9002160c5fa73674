import { askPassword } from "../ctl/password.js";
import type { Answer, V2Client } from "./client.js";
import type { CommandDef, Context, FlagDef } from "./cli.js";
import { V2Exited, type Env } from "./commands.js";

/** GoRole is a role as the v2 auth API answers it. */
interface GoRole {
  role: string;
  permissions: { kv: { read: string[] | null; write: string[] | null } };
}

/** fail prints a message on stderr and exits 1 (these commands' os.Exit(1)). */
function fail(env: Env, text: string): never {
  env.io.err(text);
  throw new V2Exited(1);
}

/** authCall sends a v2 auth request; an answer other than `ok` fails with the server's {"message"}. */
async function authCall(env: Env, ctx: Context, c: V2Client, method: string, path: string, body: unknown, ok: number[]): Promise<Answer> {
  let a: Answer;
  try {
    a = await c.do({ method, path, ...(body !== undefined ? { json: JSON.stringify(body) } : {}) }, env.totalTimeout(ctx));
  } catch (err) {
    fail(env, `${(err as Error).message}\n`);
  }
  if (!ok.includes(a.status)) {
    let message: string;
    try {
      message = (JSON.parse(a.body) as { message?: string }).message ?? "";
    } catch (err) {
      message = a.body === "" ? "unexpected end of JSON input" : (err as Error).message;
    }
    fail(env, `${message}\n`);
  }
  return a;
}

function oneName(env: Env, ctx: Context, what: string): string {
  if (ctx.args.length !== 1) fail(env, `Please provide a ${what}\n`);
  return ctx.args[0] as string;
}

function noArgs(env: Env, ctx: Context): void {
  if (ctx.args.length !== 0) fail(env, "No arguments accepted\n");
}

/** roleFlags are role grant's and revoke's flags. */
function roleFlags(verb: "granted" | "revoked", what: "Grant" | "Revoke"): FlagDef[] {
  return [
    { names: ["path"], kind: "string", usage: `Path ${verb} for the role to access` },
    { names: ["read"], kind: "bool", usage: `${what} read${what === "Grant" ? "-only" : ""} access` },
    { names: ["write"], kind: "bool", usage: `${what} write${what === "Grant" ? "-only" : ""} access` },
    { names: ["readwrite", "rw"], kind: "bool", usage: `${what} read-write access` },
  ];
}

/** canonicalPath is Go's pathutil.CanonicalURLPath: cleaned, rooted, a trailing slash kept. */
function canonicalPath(p: string): string {
  if (p === "") return "/";
  const parts: string[] = [];
  for (const seg of (p.startsWith("/") ? p : `/${p}`).split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  const clean = `/${parts.join("/")}`;
  return p.endsWith("/") && clean !== "/" ? `${clean}/` : clean;
}

/**
 * authCommands are etcdctl 3.4's v2 user, role and auth commands over /v2/auth, with its
 * messages: failures print the server's message (or the client's error) and exit 1.
 */
export function authCommands(env: Env): CommandDef[] {
  const client = (ctx: Context): Promise<V2Client> => env.client(ctx, true);
  const out = (s: string): void => env.io.out(s);
  const userGrantRevoke = (grant: boolean) => async (ctx: Context): Promise<void> => {
    const roles = ctx.flag("roles") as string[];
    if (roles.length === 0) fail(env, "No roles specified; please use `--roles`\n");
    const name = oneName(env, ctx, "username");
    const c = await client(ctx);
    await authCall(env, ctx, c, "PUT", `/v2/auth/users/${name}`, { user: name, roles: null, [grant ? "grant" : "revoke"]: roles }, [200]);
    out(`User ${name} updated\n`);
  };
  const roleGrantRevoke = (grant: boolean) => async (ctx: Context): Promise<void> => {
    const path = ctx.flag("path") as string;
    if (path === "") fail(env, "No path specified; please use `--path`\n");
    if (canonicalPath(path) !== path) fail(env, `Not canonical path; please use \`--path=${canonicalPath(path)}\`\n`);
    const read = ctx.flag("read") === true;
    const write = ctx.flag("write") === true;
    const rw = ctx.flag("readwrite") === true;
    if ([read, write, rw].filter((x) => x).length !== 1) fail(env, "Please specify exactly one of --read, --write or --readwrite\n");
    const name = oneName(env, ctx, "role name");
    const c = await client(ctx);
    const current = JSON.parse((await authCall(env, ctx, c, "GET", `/v2/auth/roles/${name}`, undefined, [200])).body) as GoRole;
    const kv = { read: read || rw ? [path] : null, write: write || rw ? [path] : null };
    const body = { role: name, permissions: { kv: { read: null, write: null } }, [grant ? "grant" : "revoke"]: { kv } };
    const updated = JSON.parse((await authCall(env, ctx, c, "PUT", `/v2/auth/roles/${name}`, body, [200])).body) as GoRole;
    if (JSON.stringify(updated) === JSON.stringify(current)) out(grant ? "Role unchanged; already granted" : "Role unchanged; already revoked");
    out(`Role ${name} updated\n`);
  };
  const sub = (name: string, usage: string, argsUsage: string, action: (ctx: Context) => Promise<void>, flags?: FlagDef[]): CommandDef => ({
    name,
    usage,
    argsUsage,
    ...(flags !== undefined ? { flags } : {}),
    action,
  });
  const roles: FlagDef[] = [{ names: ["roles"], kind: "stringSlice", usage: "List of roles to grant or revoke" }];
  return [
    {
      name: "user",
      usage: "user add, grant and revoke subcommands",
      subcommands: [
        sub("add", "add a new user for the etcd cluster", "<user>", async (ctx) => {
          const arg = oneName(env, ctx, "username");
          const c = await client(ctx);
          const colon = arg.indexOf(":");
          const user = colon < 0 ? arg : arg.slice(0, colon);
          let pass: string;
          try {
            pass = colon < 0 ? await askPassword(env.io, "New password: ") : arg.slice(colon + 1);
          } catch (err) {
            fail(env, `Error reading password: ${(err as Error).message}\n`);
          }
          await authCall(env, ctx, c, "PUT", `/v2/auth/users/${user}`, { user, password: pass, roles: null }, [200, 201]);
          out(`User ${user} created\n`);
        }),
        sub("get", "get details for a user", "<user>", async (ctx) => {
          const name = oneName(env, ctx, "username");
          const c = await client(ctx);
          const u = JSON.parse((await authCall(env, ctx, c, "GET", `/v2/auth/users/${name}`, undefined, [200])).body) as { user: string; roles?: (GoRole | string)[] };
          // etcdctl decodes the roles into strings first, fails on the objects and keeps one
          // empty string per role before the names: "Roles:  reader".
          const rs = u.roles ?? [];
          const names = rs.map((r) => (typeof r === "string" ? r : r.role));
          out(`User: ${u.user}\nRoles: ${(rs.some((r) => typeof r !== "string") ? [...rs.map(() => ""), ...names] : names).join(" ")}\n`);
        }),
        sub("list", "list all current users", "<user>", async (ctx) => {
          noArgs(env, ctx);
          const c = await client(ctx);
          const list = JSON.parse((await authCall(env, ctx, c, "GET", "/v2/auth/users", undefined, [200])).body) as { users: { user: string }[] | null };
          for (const u of list.users ?? []) out(`${u.user}\n`);
        }),
        sub("remove", "remove a user for the etcd cluster", "<user>", async (ctx) => {
          const name = oneName(env, ctx, "username");
          const c = await client(ctx);
          await authCall(env, ctx, c, "DELETE", `/v2/auth/users/${name}`, undefined, [200, 201]);
          out(`User ${name} removed\n`);
        }),
        sub("grant", "grant roles to an etcd user", "<user>", userGrantRevoke(true), roles),
        sub("revoke", "revoke roles for an etcd user", "<user>", userGrantRevoke(false), roles),
        sub("passwd", "change password for a user", "<user>", async (ctx) => {
          const name = oneName(env, ctx, "username");
          const c = await client(ctx);
          let pass: string;
          try {
            pass = await askPassword(env.io, "New password: ");
          } catch (err) {
            fail(env, `Error reading password: ${(err as Error).message}\n`);
          }
          await authCall(env, ctx, c, "PUT", `/v2/auth/users/${name}`, { user: name, password: pass, roles: null }, [200]);
          out("Password updated\n");
        }),
      ],
    },
    {
      name: "role",
      usage: "role add, grant and revoke subcommands",
      subcommands: [
        sub("add", "add a new role for the etcd cluster", "<role> ", async (ctx) => {
          const name = oneName(env, ctx, "role name");
          const c = await client(ctx);
          const current = await c.do({ method: "GET", path: `/v2/auth/roles/${name}` }, env.totalTimeout(ctx)).catch(() => undefined);
          if (current?.status === 200) fail(env, `Role ${name} already exists\n`);
          await authCall(env, ctx, c, "PUT", `/v2/auth/roles/${name}`, { role: name, permissions: { kv: { read: null, write: null } } }, [200, 201]);
          out(`Role ${name} created\n`);
        }),
        sub("get", "get details for a role", "<role>", async (ctx) => {
          const name = oneName(env, ctx, "role name");
          const c = await client(ctx);
          const r = JSON.parse((await authCall(env, ctx, c, "GET", `/v2/auth/roles/${name}`, undefined, [200])).body) as GoRole;
          out(`Role: ${r.role}\nKV Read:\n${(r.permissions.kv.read ?? []).map((p) => `\t${p}\n`).join("")}KV Write:\n${(r.permissions.kv.write ?? []).map((p) => `\t${p}\n`).join("")}`);
        }),
        sub("list", "list all roles", " ", async (ctx) => {
          noArgs(env, ctx);
          const c = await client(ctx);
          const list = JSON.parse((await authCall(env, ctx, c, "GET", "/v2/auth/roles", undefined, [200])).body) as { roles: GoRole[] | null };
          for (const r of list.roles ?? []) out(`${r.role}\n`);
        }),
        sub("remove", "remove a role from the etcd cluster", "<role>", async (ctx) => {
          const name = oneName(env, ctx, "role name");
          const c = await client(ctx);
          await authCall(env, ctx, c, "DELETE", `/v2/auth/roles/${name}`, undefined, [200, 201]);
          out(`Role ${name} removed\n`);
        }),
        sub("grant", "grant path matches to an etcd role", "<role>", roleGrantRevoke(true), roleFlags("granted", "Grant")),
        sub("revoke", "revoke path matches for an etcd role", "<role>", roleGrantRevoke(false), roleFlags("revoked", "Revoke")),
      ],
    },
    {
      name: "auth",
      usage: "overall auth controls",
      subcommands: [true, false].map((enable) =>
        sub(enable ? "enable" : "disable", `${enable ? "enable" : "disable"} auth access controls`, " ", async (ctx) => {
          noArgs(env, ctx);
          const c = await client(ctx);
          await authCall(env, ctx, c, enable ? "PUT" : "DELETE", "/v2/auth/enable", undefined, [200]);
          out(enable ? "Authentication Enabled\n" : "Authentication Disabled\n");
        }),
      ),
    },
  ];
}
