import { authpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { AuthError, type AuthErrorCode } from "./errors.js";
import { AuthStore, ROOT, type AuthInfo, type AuthListener } from "./store.js";
import { MemoryBackend } from "./testing/memory_backend.js";

const b = (s: string): Buffer => Buffer.from(s);
const { READ, WRITE, READWRITE } = authpb.Permission_Type;
const perm = (permType: authpb.Permission_Type, key: string, rangeEnd = ""): authpb.Permission => ({ permType, key: b(key), rangeEnd: b(rangeEnd) });

function fails(code: AuthErrorCode, fn: () => unknown): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).code).toBe(code);
}

/** enabledStore has root (with the root role), auth on, and the users and roles a test adds after. */
async function enabledStore(): Promise<{ s: AuthStore; be: MemoryBackend }> {
  const be = new MemoryBackend();
  const s = await AuthStore.open(be);
  s.userAdd(ROOT, b("hash"), false);
  s.userGrantRole(ROOT, ROOT);
  s.authEnable();
  return { s, be };
}

const as = (s: AuthStore, user: string): AuthInfo => ({ user, revision: s.revision });

describe("AuthStore users and roles", () => {
  it("starts at revision 1 with auth off, and advances the revision on every change", async () => {
    const s = await AuthStore.open(new MemoryBackend());
    expect([s.enabled, s.revision]).toEqual([false, 1n]);
    s.userAdd("u", b("h"), false);
    s.roleAdd("r");
    s.userGrantRole("u", "r");
    s.roleGrantPermission("r", perm(READ, "k"));
    s.roleRevokePermission("r", b("k"), b(""));
    s.userRevokeRole("u", "r");
    s.userChangePassword("u", b("h2"));
    s.roleDelete("r");
    s.userDelete("u");
    expect(s.revision).toBe(10n);
  });

  it("refuses auth enable without a root user, or with a root user lacking the root role", async () => {
    const s = await AuthStore.open(new MemoryBackend());
    fails("root_user_not_exist", () => s.authEnable());
    s.userAdd(ROOT, b("h"), false);
    fails("root_role_not_exist", () => s.authEnable());
    // The root role needs no role record.
    s.userGrantRole(ROOT, ROOT);
    const rev = s.revision;
    s.authEnable();
    s.authEnable();
    expect([s.enabled, s.revision]).toEqual([true, rev]);
  });

  it("answers etcd's errors for missing, duplicate and empty names", async () => {
    const s = await AuthStore.open(new MemoryBackend());
    fails("user_empty", () => s.userAdd("", b("h"), false));
    fails("role_empty", () => s.roleAdd(""));
    s.userAdd("u", b("h"), false);
    s.roleAdd("r");
    fails("user_already_exist", () => s.userAdd("u", b("h"), false));
    fails("role_already_exist", () => s.roleAdd("r"));
    fails("user_not_found", () => s.userGet("nobody"));
    fails("user_not_found", () => s.userDelete("nobody"));
    fails("user_not_found", () => s.userChangePassword("nobody", b("x")));
    fails("user_not_found", () => s.userGrantRole("nobody", "r"));
    fails("role_not_found", () => s.userGrantRole("u", "nope"));
    fails("role_not_found", () => s.roleGet("nope"));
    fails("role_not_found", () => s.roleDelete("nope"));
    fails("role_not_found", () => s.roleGrantPermission("nope", perm(READ, "k")));
    fails("role_not_granted", () => s.userRevokeRole("u", "r"));
    fails("permission_not_granted", () => s.roleRevokePermission("r", b("k"), b("")));
    const rev = s.revision;
    s.userGrantRole("u", "r");
    s.userGrantRole("u", "r");
    expect(s.revision).toBe(rev + 1n);
  });

  it("keeps roots while auth is on: root cannot be deleted or lose the root role, the root role cannot be deleted", async () => {
    const { s } = await enabledStore();
    fails("invalid_auth_mgmt", () => s.userDelete(ROOT));
    fails("invalid_auth_mgmt", () => s.userRevokeRole(ROOT, ROOT));
    s.roleAdd(ROOT);
    fails("invalid_auth_mgmt", () => s.roleDelete(ROOT));
    s.authDisable();
    s.userRevokeRole(ROOT, ROOT);
    s.userDelete(ROOT);
    expect(s.userList()).toEqual([]);
  });

  it("lists users and roles in byte order, roles of a user sorted, permissions sorted by key", async () => {
    const s = await AuthStore.open(new MemoryBackend());
    for (const u of ["b", "a", "B", "ab"]) s.userAdd(u, b("h"), false);
    for (const r of ["z", "y", "Z"]) s.roleAdd(r);
    expect(s.userList()).toEqual(["B", "a", "ab", "b"]);
    expect(s.roleList()).toEqual(["Z", "y", "z"]);
    s.userGrantRole("a", "z");
    s.userGrantRole("a", "Z");
    s.userGrantRole("a", "y");
    expect(s.userGet("a")).toEqual(["Z", "y", "z"]);
    s.roleGrantPermission("z", perm(READ, "m"));
    s.roleGrantPermission("z", perm(WRITE, "c", "d"));
    s.roleGrantPermission("z", perm(READ, "c"));
    // The same key and range end again: the type changes, nothing is added.
    s.roleGrantPermission("z", perm(READWRITE, "m"));
    expect(s.roleGet("z").map((p) => [p.permType, Buffer.from(p.key).toString(), Buffer.from(p.rangeEnd).toString()])).toEqual([
      [WRITE, "c", "d"],
      [READ, "c", ""],
      [READWRITE, "m", ""],
    ]);
  });

  it("takes a deleted role from every user that held it", async () => {
    const s = await AuthStore.open(new MemoryBackend());
    s.userAdd("u1", b("h"), false);
    s.userAdd("u2", b("h"), false);
    s.roleAdd("r");
    s.roleAdd("q");
    s.userGrantRole("u1", "r");
    s.userGrantRole("u2", "r");
    s.userGrantRole("u2", "q");
    s.roleDelete("r");
    expect([s.userGet("u1"), s.userGet("u2")]).toEqual([[], ["q"]]);
  });

  it("persists everything: a store reopened on the same backend has the same state", async () => {
    const { s, be } = await enabledStore();
    s.userAdd("u", b("hash-u"), false);
    s.userAdd("cert", undefined, true);
    s.roleAdd("r");
    s.roleGrantPermission("r", perm(READWRITE, "a", "\x00"));
    s.userGrantRole("u", "r");
    const t = await AuthStore.open(be);
    expect([t.enabled, t.revision]).toEqual([true, s.revision]);
    expect(t.userList()).toEqual(["cert", "root", "u"]);
    expect(t.user("u")).toEqual(s.user("u"));
    expect(t.user("cert")?.noPassword).toBe(true);
    expect(t.roleGet("r")).toEqual(s.roleGet("r"));
    t.isPutPermitted(as(t, "u"), b("zzz"));
    // An AuthUser record etcd can read: name, bcrypt hash, roles, options.
    const rec = authpb.User.decode(be.data.get("authUsers/u") as Buffer);
    expect([Buffer.from(rec.name).toString(), Buffer.from(rec.password).toString(), rec.roles, rec.options?.noPassword]).toEqual(["u", "hash-u", ["r"], false]);
    expect((be.data.get("auth/authRevision") as Buffer).readBigUInt64BE(0)).toBe(s.revision);
    expect(be.data.get("auth/authEnabled")).toEqual(Buffer.from([1]));
  });

  it("tells its listener about enable, disable, and users whose tokens must go", async () => {
    const events: string[] = [];
    const l: AuthListener = { enabled: () => events.push("on"), disabled: () => events.push("off"), userInvalidated: (u) => events.push(`-${u}`) };
    const s = await AuthStore.open(new MemoryBackend());
    s.listen(l);
    s.userAdd(ROOT, b("h"), false);
    s.userGrantRole(ROOT, ROOT);
    s.userAdd("u", b("h"), false);
    s.authEnable();
    s.userChangePassword("u", b("h2"));
    s.userDelete("u");
    s.authDisable();
    expect(events).toEqual(["on", "-u", "-u", "off"]);
  });
});

describe("AuthStore permission checks", () => {
  it("allows everything while auth is off", async () => {
    const s = await AuthStore.open(new MemoryBackend());
    const nobody = { user: "", revision: 0n };
    s.isPutPermitted(nobody, b("k"));
    s.isRangePermitted(nobody, b("a"), b("z"));
    s.isDeleteRangePermitted(nobody, b("a"), b("\x00"));
    s.isAdminPermitted(nobody);
  });

  it("refuses a request with no user, an old auth revision, or an unknown user", async () => {
    const { s } = await enabledStore();
    fails("user_empty", () => s.isPutPermitted({ user: "", revision: 0n }, b("k")));
    fails("user_empty", () => s.isAdminPermitted({ user: "", revision: 0n }));
    const old = as(s, ROOT);
    s.roleAdd("r");
    fails("auth_old_revision", () => s.isRangePermitted(old, b("k"), undefined));
    fails("permission_denied", () => s.isRangePermitted(as(s, "ghost"), b("k"), undefined));
    fails("user_not_found", () => s.isAdminPermitted(as(s, "ghost")));
  });

  it("gives root every key and admin; others only their roles' ranges and never admin", async () => {
    const { s } = await enabledStore();
    s.userAdd("u", b("h"), false);
    s.roleAdd("r");
    s.roleAdd("w");
    s.roleGrantPermission("r", perm(READ, "foo"));
    s.roleGrantPermission("r", perm(READ, "a", "c"));
    s.roleGrantPermission("w", perm(WRITE, "p/", "p0"));
    s.roleGrantPermission("w", perm(READWRITE, "x", "\x00"));
    s.userGrantRole("u", "r");
    s.userGrantRole("u", "w");
    const root = as(s, ROOT);
    s.isPutPermitted(root, b("anything"));
    s.isAdminPermitted(root);
    const u = as(s, "u");
    fails("permission_denied", () => s.isAdminPermitted(u));
    s.isRangePermitted(u, b("foo"), undefined);
    s.isRangePermitted(u, b("foo"), b(""));
    fails("permission_denied", () => s.isPutPermitted(u, b("foo")));
    fails("permission_denied", () => s.isRangePermitted(u, b("fooo"), undefined));
    s.isRangePermitted(u, b("a"), b("c"));
    s.isRangePermitted(u, b("b"), b("bz"));
    fails("permission_denied", () => s.isRangePermitted(u, b("b"), b("d")));
    s.isPutPermitted(u, b("p/1"));
    s.isDeleteRangePermitted(u, b("p/"), b("p0"));
    fails("permission_denied", () => s.isRangePermitted(u, b("p/1"), undefined));
    fails("permission_denied", () => s.isDeleteRangePermitted(u, b("p"), b("p0")));
    // From-key: range end "\0" is every key from x on.
    s.isRangePermitted(u, b("x"), b("\x00"));
    s.isDeleteRangePermitted(u, b("y"), b("\x00"));
    s.isPutPermitted(u, b("zzzz"));
    fails("permission_denied", () => s.isRangePermitted(u, b("w"), b("\x00")));
  });

  it("follows changes: a revoked role or permission, or a deleted user, is refused at the new revision", async () => {
    const { s } = await enabledStore();
    s.userAdd("u", b("h"), false);
    s.roleAdd("r");
    s.roleGrantPermission("r", perm(READWRITE, "k"));
    s.userGrantRole("u", "r");
    s.isPutPermitted(as(s, "u"), b("k"));
    s.roleRevokePermission("r", b("k"), b(""));
    fails("permission_denied", () => s.isPutPermitted(as(s, "u"), b("k")));
    s.roleGrantPermission("r", perm(READWRITE, "k"));
    s.isPutPermitted(as(s, "u"), b("k"));
    s.userRevokeRole("u", "r");
    fails("permission_denied", () => s.isPutPermitted(as(s, "u"), b("k")));
    s.userGrantRole("u", "r");
    s.roleDelete("r");
    fails("permission_denied", () => s.isPutPermitted(as(s, "u"), b("k")));
    s.userDelete("u");
    fails("permission_denied", () => s.isRangePermitted(as(s, "u"), b("k"), undefined));
  });
});

describe("AuthStore reload", () => {
  it("keeps checking against the previous state while a reload reads the backend, never a half-loaded one", async () => {
    const { s, be } = await enabledStore();
    s.userAdd("bob", b("h"), false);
    const slow = {
      scan: async function* (gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]> {
        for await (const kv of be.scan(gte, lt)) {
          await new Promise((r) => setImmediate(r));
          yield kv;
        }
      },
      put: (k: Buffer, v: Buffer) => be.put(k, v),
      del: (k: Buffer) => be.del(k),
    };
    const reloading = s.reopen(slow);
    let checks = 0;
    while (checks < 50) {
      fails("permission_denied", () => s.isAdminPermitted(as(s, "bob")));
      fails("user_empty", () => s.isRangePermitted({ user: "", revision: 0n }, b("k"), undefined));
      checks++;
      await new Promise((r) => setImmediate(r));
    }
    await reloading;
    expect(s.enabled).toBe(true);
    fails("permission_denied", () => s.isAdminPermitted(as(s, "bob")));
  });

  it("drops every token on a reload (the snapshot may hold deleted users or new passwords)", async () => {
    const { s, be } = await enabledStore();
    const events: string[] = [];
    s.listen({ enabled: () => events.push("on"), disabled: () => events.push("off"), userInvalidated: (u) => events.push(`-${u}`) });
    await s.reopen(be);
    expect(events).toEqual(["on", "off", "on"]);
  });
});
