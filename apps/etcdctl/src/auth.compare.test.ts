import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { serverFromEnv, startTwins, type RunningServer } from "./testing/server.js";

/**
 * Differential suite for `auth`, `user`, `role` and the global --user/--password: every case
 * runs through the Go etcdctl (against twin A) and etcdctl-ts (against twin B), in order, as
 * one story (users and roles made, permissions granted and revoked, authentication enabled,
 * used and disabled); both must print the same bytes and exit with the same code. stdin is a
 * pipe, so the password prompts read it and stty complains on stderr, as in a script.
 */
interface Case {
  args: string[];
  /** stdin is what the CLI reads (passwords); closed at once when absent. */
  stdin?: string;
  /** env holds more ETCDCTL_* variables. */
  env?: Record<string, string>;
}

const ROOT = ["--user", "root:rootpw"];
const ALICE = ["--user", "alice:np"];

/** STATELESS cases end before any call (help, bad arguments, passwords refused locally). */
const STATELESS: Case[] = [
  { args: ["auth"] },
  { args: ["auth", "status"] },
  { args: ["user", "add", "--help"] },
  { args: ["role", "grant-permission", "--help"] },
  { args: ["auth", "enable", "extra"] },
  { args: ["user", "add"] },
  { args: ["user", "add", ":pw"] },
  { args: ["user", "add", "erin"], stdin: "one\ntwo\n" },
  { args: ["user", "add", "frank"], stdin: "" },
  { args: ["user", "get"] },
  { args: ["user", "list", "extra"] },
  { args: ["user", "passwd"] },
  { args: ["user", "passwd", "alice"], stdin: "np\nother\n" },
  { args: ["user", "grant-role", "alice"] },
  { args: ["user", "delete"] },
  { args: ["role", "add"] },
  { args: ["role", "list", "extra"] },
  { args: ["role", "grant-permission", "r", "read"] },
  { args: ["role", "grant-permission", "r", "admin", "k"] },
  { args: ["role", "grant-permission", "--prefix", "--from-key", "r", "read", "k"] },
  { args: ["role", "grant-permission", "--prefix", "--from-key", "r", "read", ""] },
  { args: ["role", "grant-permission", "--prefix", "r", "read", "a", "b"] },
  { args: ["role", "revoke-permission", "r"] },
  { args: ["role", "revoke-permission", "--from-key", "r", "a", "b"] },
  { args: ["--user", "root", "-w", "bogus", "user", "list"], stdin: "pw\n" },
];

/**
 * STORY cases run in order against both twins. Every output format is covered for every kind
 * of answer: header only (add, delete, grant, revoke, passwd), user and role lists, a user's
 * roles, a role's permissions.
 */
const STORY: Case[] = [
  // without a root user
  { args: ["auth", "enable"] },
  // users: every way of giving the password
  { args: ["user", "add", "alice:pa"] },
  { args: ["user", "add", "alice:pa"] },
  { args: ["user", "add", "bob", "--new-user-password=pb", "-w", "json"] },
  { args: ["user", "add", "carol", "--interactive=false", "-w", "fields"], stdin: "  pc rest\n" },
  { args: ["user", "add", "dave", "-w", "protobuf"], stdin: "pd\npd\n" },
  { args: ["user", "add", "nopw", "--no-password", "-w", "table"] },
  { args: ["user", "add", "gina:pg", "--no-password"] },
  { args: ["user", "add", "hal:ph", "--new-user-password=other"] },
  { args: ["user", "add", "", "--interactive=false"], stdin: "x\n" },
  { args: ["user", "list"] },
  { args: ["user", "list", "-w", "json"] },
  { args: ["user", "get", "nobody"] },
  // roles and permissions
  { args: ["role", "add", "reader"] },
  { args: ["role", "add", "writer", "-w", "json"] },
  { args: ["role", "add", "rw", "-w", "protobuf"] },
  { args: ["role", "add", "reader"] },
  { args: ["role", "add", ""] },
  { args: ["role", "grant-permission", "reader", "read", "k1"] },
  { args: ["role", "grant-permission", "reader", "read", "--prefix", "app/"] },
  { args: ["role", "grant-permission", "reader", "READ", "--from-key", "fk"] },
  { args: ["role", "grant-permission", "reader", "read", ""] },
  { args: ["role", "grant-permission", "writer", "write", "a", "b", "-w", "json"] },
  { args: ["role", "grant-permission", "writer", "write", "--prefix", "", "-w", "fields"] },
  { args: ["role", "grant-permission", "rw", "readwrite", "x", "-w", "protobuf"] },
  { args: ["role", "grant-permission", "nosuch", "read", "k"] },
  { args: ["role", "get", "reader"] },
  { args: ["role", "get", "reader", "-w", "fields"] },
  { args: ["role", "get", "writer", "-w", "protobuf"] },
  { args: ["role", "get", "nosuch"] },
  { args: ["role", "list"] },
  { args: ["role", "list", "-w", "fields"] },
  { args: ["role", "list", "-w", "protobuf"] },
  { args: ["role", "revoke-permission", "reader", "k1"] },
  { args: ["role", "revoke-permission", "reader", "k1"] },
  { args: ["role", "revoke-permission", "--from-key", "reader", "fk", "-w", "json"] },
  { args: ["role", "revoke-permission", "reader", "", "-w", "fields"] },
  { args: ["role", "revoke-permission", "writer", "a", "b", "-w", "protobuf"] },
  { args: ["role", "revoke-permission", "--prefix", "writer", "", "-w", "table"] },
  { args: ["role", "get", "reader"] },
  // roles of users
  { args: ["user", "grant-role", "alice", "reader"] },
  { args: ["user", "grant-role", "alice", "rw", "-w", "json"] },
  { args: ["user", "grant-role", "bob", "writer", "-w", "fields"] },
  { args: ["user", "grant-role", "carol", "reader", "-w", "protobuf"] },
  { args: ["user", "grant-role", "alice", "nosuch"] },
  { args: ["user", "grant-role", "nobody", "reader"] },
  { args: ["user", "get", "alice"] },
  { args: ["user", "get", "alice", "-w", "json"] },
  { args: ["user", "get", "alice", "-w", "fields"] },
  { args: ["user", "get", "alice", "-w", "protobuf"] },
  { args: ["user", "get", "alice", "--detail"] },
  { args: ["user", "get", "alice", "--detail", "-w", "json"] },
  { args: ["user", "get", "alice", "--detail", "-w", "table"] },
  { args: ["user", "revoke-role", "alice", "rw"] },
  { args: ["user", "revoke-role", "alice", "rw"] },
  { args: ["user", "revoke-role", "bob", "writer", "-w", "json"] },
  // passwords
  { args: ["user", "passwd", "alice"], stdin: "np\nnp\n" },
  { args: ["user", "passwd", "bob", "--interactive=false", "-w", "json"], stdin: "nb\n" },
  { args: ["user", "passwd", "carol", "--interactive=false", "-w", "fields"], stdin: "\nlater\n" },
  { args: ["user", "passwd", "dave", "--interactive=false", "-w", "protobuf"], stdin: "pd" },
  // deletions
  { args: ["user", "delete", "gina:pg"] },
  { args: ["user", "delete", "hal:ph", "-w", "json"] },
  { args: ["role", "delete", "rw", "-w", "fields"] },
  // credentials while authentication is disabled: a warning, then the command
  { args: [...ALICE, "user", "list"] },
  { args: ["--user", "alice", "--password", "np", "role", "list", "-w", "json"] },
  // root, then authentication on (etcdctl adds the root role itself)
  { args: ["user", "add", "root:rootpw"] },
  { args: ["auth", "enable"] },
  { args: ["user", "list"] },
  { args: [...ROOT, "auth", "enable"] },
  { args: [...ROOT, "user", "list"] },
  { args: ["--user", "root", "--password", "rootpw", "role", "get", "root"] },
  { args: ["--user", "root", "user", "get", "root", "--detail"], stdin: "rootpw\n" },
  { args: ["--user", "root", "user", "list"], stdin: "" },
  { args: ["user", "list"], env: { ETCDCTL_USER: "root:rootpw" } },
  { args: ["role", "list"], env: { ETCDCTL_USER: "root", ETCDCTL_PASSWORD: "rootpw" } },
  { args: [...ROOT, "put", "app/x", "v1"] },
  // a user that may only read (app/ and more)
  { args: [...ALICE, "get", "app/", "--prefix", "-w", "json"] },
  { args: [...ALICE, "put", "app/x", "v2"] },
  { args: [...ALICE, "auth", "disable"] },
  { args: [...ALICE, "user", "passwd", "alice", "--interactive=false"], stdin: "np\n" },
  // wrong credentials
  { args: ["--user", "root:bad", "user", "list"] },
  { args: ["--user", "root:rootpw", "--password", "rootpw", "user", "list"] },
  // authentication off again
  { args: [...ROOT, "auth", "disable", "-w", "json"] },
  { args: ["user", "list"] },
];

describe("etcdctl-ts auth, user and role commands print what etcdctl 3.4 prints", () => {
  let a: RunningServer;
  let b: RunningServer;
  beforeAll(async () => {
    [a, b] = await startTwins(serverFromEnv());
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  const normalize = (r: CtlResult): { code: number | null; stdout: string; stderr: string } => ({
    code: r.code,
    stdout: r.stdout.toString("latin1"),
    stderr: normalizeStderr(r.stderr.toString("latin1"), [a.endpoint, b.endpoint]),
  });

  const name = (c: Case): string =>
    c.args.map((x) => (x === "" ? '""' : x)).join(" ") + (c.stdin !== undefined ? ` <<< ${JSON.stringify(c.stdin)}` : "");
  const compare = async (c: Case): Promise<void> => {
    const [real, ours] = await Promise.all([
      runCtl(REAL_ETCDCTL, c.args, { ETCDCTL_ENDPOINTS: a.endpoint, ...c.env }, c.stdin),
      runCtl(ETCDCTL_TS, c.args, { ETCDCTL_ENDPOINTS: b.endpoint, ...c.env }, c.stdin),
    ]);
    expect(normalize(ours)).toEqual(normalize(real));
  };

  describe.concurrent("without calls", () => {
    for (const c of STATELESS) it(name(c), () => compare(c));
  });

  describe.sequential("in order", () => {
    for (const c of STORY) it(name(c), () => compare(c));
  });
});
