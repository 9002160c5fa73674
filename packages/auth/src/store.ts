import { authpb } from "@etcd-ts/proto";
import { AuthError } from "./errors.js";
import { RangeSet } from "./range_set.js";

/** ROOT is the name of the root user and of the root role (the admin role, allowed everything). */
export const ROOT = "root";

/** The backend keys of the auth state, one prefix per etcd bucket (auth, authUsers, authRoles). */
export const AUTH_PREFIX = Buffer.from("auth/");
export const AUTH_USERS_PREFIX = Buffer.from("authUsers/");
export const AUTH_ROLES_PREFIX = Buffer.from("authRoles/");
const ENABLED_KEY = Buffer.concat([AUTH_PREFIX, Buffer.from("authEnabled")]);
const REVISION_KEY = Buffer.concat([AUTH_PREFIX, Buffer.from("authRevision")]);

/** prefixEnd is the first key after every key starting with prefix (its last byte + 1). */
function prefixEnd(prefix: Buffer): Buffer {
  const e = Buffer.from(prefix);
  e[e.length - 1] = (e[e.length - 1] as number) + 1;
  return e;
}

/**
 * AuthBackend is where the auth store keeps its state (the member's backend, through its
 * batch transaction): a scan at open, puts and deletes at apply. The server implements it.
 */
export interface AuthBackend {
  /** scan yields the [key, value] pairs with gte <= key < lt in key order, unflushed writes included. */
  scan(gte: Buffer, lt: Buffer): AsyncIterable<[Buffer, Buffer]>;
  put(key: Buffer, value: Buffer): void;
  del(key: Buffer): void;
}

/**
 * AuthInfo is who a request runs as: the user its token names and the auth revision it was
 * checked at. A request with no credentials has user "" and revision 0.
 */
export interface AuthInfo {
  readonly user: string;
  readonly revision: bigint;
}

/**
 * AuthListener hears what changes who may do what: tokens follow it (a user deleted or given
 * a new password loses its tokens; disabling auth drops them all).
 */
export interface AuthListener {
  enabled(): void;
  disabled(): void;
  userInvalidated(name: string): void;
}

/** UserRecord is a user as the store holds it: its password hash (empty for no-password users) and sorted roles. */
export interface UserRecord {
  readonly name: string;
  readonly passwordHash: Buffer;
  readonly noPassword: boolean;
  readonly roles: readonly string[];
}

/** Permissions are a user's merged read and write key ranges (etcd's unifiedRangePermissions). */
interface Permissions {
  read: RangeSet;
  write: RangeSet;
}

const { READ, WRITE, READWRITE } = authpb.Permission_Type;

/**
 * AuthStore is etcd's auth store (auth/store.go): users with bcrypt password hashes and
 * roles, roles with key permissions (a key, or [key, range_end), range_end "\0" meaning every
 * key from key on), whether auth is enabled, and the auth revision, which advances on every
 * change so that requests checked at an older revision fail. Its mutations run at apply, in
 * the same order on every member, and write through the AuthBackend into the member's batch
 * transaction; its checks run at apply and on the read paths. State is held in memory (it is
 * small) and loaded at open.
 *
 * Invariant: `perms` holds the merged permissions of exactly the users in `users`, rebuilt
 * after every change (as etcd's refreshRangePermCache).
 */
export class AuthStore {
  private users = new Map<string, UserRecord>();
  private roles = new Map<string, authpb.Permission[]>();
  private perms = new Map<string, Permissions>();
  private enabledFlag = false;
  private rev = 0n;
  private listener: AuthListener | undefined;

  private constructor(private be: AuthBackend) {}

  /** open loads the auth state; a store never written gets revision 1, as etcd's NewAuthStore gives it. */
  static async open(be: AuthBackend): Promise<AuthStore> {
    const s = new AuthStore(be);
    await s.load();
    return s;
  }

  /** reopen reloads everything from another backend (after a snapshot was installed); every token is dropped. */
  async reopen(be: AuthBackend): Promise<void> {
    this.be = be;
    await this.load();
    // Users may have been deleted or given new passwords in what the snapshot skipped: the
    // tokens issued before it are dropped.
    this.listener?.disabled();
    if (this.enabledFlag) this.listener?.enabled();
  }

  /** listen sets who hears about enable, disable and invalidated users (the token provider). */
  listen(l: AuthListener): void {
    this.listener = l;
    if (this.enabledFlag) l.enabled();
  }

  /** enabled reports whether auth is on. */
  get enabled(): boolean {
    return this.enabledFlag;
  }

  /** revision is the auth revision: it advances by one on every change. */
  get revision(): bigint {
    return this.rev;
  }

  // ---- mutations (at apply) ----

  /** authEnable turns auth on; it needs a root user with the root role. Enabling twice is no change. */
  authEnable(): void {
    if (this.enabledFlag) return;
    const root = this.users.get(ROOT);
    if (root === undefined) throw new AuthError("root_user_not_exist");
    if (!root.roles.includes(ROOT)) throw new AuthError("root_role_not_exist");
    this.be.put(ENABLED_KEY, Buffer.from([1]));
    this.enabledFlag = true;
    this.listener?.enabled();
  }

  /** authDisable turns auth off (a change of revision); disabling twice is no change. */
  authDisable(): void {
    if (!this.enabledFlag) return;
    this.be.put(ENABLED_KEY, Buffer.from([0]));
    this.commitRevision();
    this.enabledFlag = false;
    this.listener?.disabled();
  }

  /** userAdd adds a user with a password hash, or with none (noPassword: certificate login only). */
  userAdd(name: string, passwordHash: Buffer | undefined, noPassword: boolean): void {
    if (name === "") throw new AuthError("user_empty");
    if (this.users.has(name)) throw new AuthError("user_already_exist");
    this.putUser({ name, passwordHash: noPassword ? Buffer.alloc(0) : (passwordHash ?? Buffer.alloc(0)), noPassword, roles: [] });
    this.changed();
  }

  /** userDelete removes a user (not root while auth is on); its tokens stop working. */
  userDelete(name: string): void {
    if (this.enabledFlag && name === ROOT) throw new AuthError("invalid_auth_mgmt");
    if (!this.users.has(name)) throw new AuthError("user_not_found");
    this.users.delete(name);
    this.be.del(userKey(name));
    this.changed();
    this.listener?.userInvalidated(name);
  }

  /** userChangePassword sets a user's password hash; its tokens stop working. */
  userChangePassword(name: string, passwordHash: Buffer): void {
    const u = this.users.get(name);
    if (u === undefined) throw new AuthError("user_not_found");
    this.putUser({ ...u, passwordHash });
    this.changed();
    this.listener?.userInvalidated(name);
  }

  /** userGrantRole gives a user a role (root needs no role record); granting a held role is no change. */
  userGrantRole(name: string, role: string): void {
    const u = this.users.get(name);
    if (u === undefined) throw new AuthError("user_not_found");
    if (role !== ROOT && !this.roles.has(role)) throw new AuthError("role_not_found");
    if (u.roles.includes(role)) return;
    this.putUser({ ...u, roles: [...u.roles, role].sort(compareBytes) });
    this.changed();
  }

  /** userRevokeRole takes a role from a user (not root from root while auth is on). */
  userRevokeRole(name: string, role: string): void {
    if (this.enabledFlag && name === ROOT && role === ROOT) throw new AuthError("invalid_auth_mgmt");
    const u = this.users.get(name);
    if (u === undefined) throw new AuthError("user_not_found");
    if (!u.roles.includes(role)) throw new AuthError("role_not_granted");
    this.putUser({ ...u, roles: u.roles.filter((r) => r !== role) });
    this.changed();
  }

  /** roleAdd adds a role with no permissions. */
  roleAdd(name: string): void {
    if (name === "") throw new AuthError("role_empty");
    if (this.roles.has(name)) throw new AuthError("role_already_exist");
    this.putRole(name, []);
    // etcd's RoleAdd commits a revision but leaves the permission cache as it was (nothing refers to the new role).
    this.commitRevision();
  }

  /** roleDelete removes a role (not root while auth is on) and takes it from every user holding it. */
  roleDelete(name: string): void {
    if (this.enabledFlag && name === ROOT) throw new AuthError("invalid_auth_mgmt");
    if (!this.roles.has(name)) throw new AuthError("role_not_found");
    this.roles.delete(name);
    this.be.del(roleKey(name));
    for (const u of [...this.users.values()]) {
      if (u.roles.includes(name)) this.putUser({ ...u, roles: u.roles.filter((r) => r !== name) });
    }
    this.changed();
  }

  /**
   * roleGrantPermission gives a role a permission, or changes the type of the permission it
   * has on the same key and range end. Permissions stay sorted by key.
   */
  roleGrantPermission(name: string, perm: authpb.Permission): void {
    const ps = this.roles.get(name);
    if (ps === undefined) throw new AuthError("role_not_found");
    const key = Buffer.from(perm.key);
    const end = Buffer.from(perm.rangeEnd);
    const next = ps.map((p) => ({ ...p }));
    // etcd looks only at the first permission with a key >= the new one's.
    const i = next.findIndex((p) => Buffer.compare(Buffer.from(p.key), key) >= 0);
    const at = i === -1 ? undefined : next[i];
    if (at !== undefined && Buffer.from(at.key).equals(key) && Buffer.from(at.rangeEnd).equals(end)) {
      at.permType = perm.permType;
    } else {
      next.push({ permType: perm.permType, key, rangeEnd: end });
      stableSortByKey(next);
    }
    this.putRole(name, next);
    this.changed();
  }

  /** roleRevokePermission removes a role's permissions on exactly this key and range end. */
  roleRevokePermission(name: string, key: Buffer, rangeEnd: Buffer): void {
    const ps = this.roles.get(name);
    if (ps === undefined) throw new AuthError("role_not_found");
    const next = ps.filter((p) => !Buffer.from(p.key).equals(key) || !Buffer.from(p.rangeEnd).equals(rangeEnd));
    if (next.length === ps.length) throw new AuthError("permission_not_granted");
    this.putRole(name, next);
    this.changed();
  }

  // ---- reads ----

  /** userGet lists a user's roles. */
  userGet(name: string): string[] {
    const u = this.users.get(name);
    if (u === undefined) throw new AuthError("user_not_found");
    return [...u.roles];
  }

  /** userList lists the users in byte order of their names (the backend's order). */
  userList(): string[] {
    return [...this.users.keys()].sort(compareBytes);
  }

  /** roleGet lists a role's permissions, sorted by key. */
  roleGet(name: string): authpb.Permission[] {
    const ps = this.roles.get(name);
    if (ps === undefined) throw new AuthError("role_not_found");
    return ps.map((p) => ({ ...p }));
  }

  /** roleList lists the roles in byte order of their names. */
  roleList(): string[] {
    return [...this.roles.keys()].sort(compareBytes);
  }

  /** user returns a user's record, or undefined. */
  user(name: string): UserRecord | undefined {
    return this.users.get(name);
  }

  /** hasRole reports whether user holds role. */
  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  // ---- checks ----

  /** isPutPermitted checks that info may write key. */
  isPutPermitted(info: AuthInfo, key: Buffer): void {
    this.checkOp(info, key, undefined, WRITE);
  }

  /** isRangePermitted checks that info may read key (rangeEnd empty) or [key, rangeEnd). */
  isRangePermitted(info: AuthInfo, key: Buffer, rangeEnd: Buffer | undefined): void {
    this.checkOp(info, key, rangeEnd, READ);
  }

  /** isDeleteRangePermitted checks that info may delete key or [key, rangeEnd). */
  isDeleteRangePermitted(info: AuthInfo, key: Buffer, rangeEnd: Buffer | undefined): void {
    this.checkOp(info, key, rangeEnd, WRITE);
  }

  /** isAdminPermitted checks that info is a user with the root role (always true while auth is off). */
  isAdminPermitted(info: AuthInfo): void {
    if (!this.enabledFlag) return;
    if (info.user === "") throw new AuthError("user_empty");
    const u = this.users.get(info.user);
    if (u === undefined) throw new AuthError("user_not_found");
    if (!u.roles.includes(ROOT)) throw new AuthError("permission_denied");
  }

  private checkOp(info: AuthInfo, key: Buffer, rangeEnd: Buffer | undefined, type: authpb.Permission_Type): void {
    if (!this.enabledFlag) return;
    if (info.revision === 0n) throw new AuthError("user_empty");
    if (info.revision < this.rev) throw new AuthError("auth_old_revision");
    const u = this.users.get(info.user);
    if (u === undefined) throw new AuthError("permission_denied");
    if (u.roles.includes(ROOT)) return;
    const p = this.perms.get(info.user);
    if (p === undefined) throw new AuthError("permission_denied");
    const set = type === READ ? p.read : p.write;
    const ok =
      rangeEnd === undefined || rangeEnd.length === 0
        ? set.containsKey(key)
        : set.covers(key, rangeEnd.length === 1 && rangeEnd[0] === 0 ? undefined : rangeEnd);
    if (!ok) throw new AuthError("permission_denied");
  }

  // ---- internals ----

  /**
   * load reads the whole auth state from the backend, then puts it in place at once: checks
   * made while it reads (it awaits the backend) still see the previous state, never a
   * half-loaded one.
   */
  private async load(): Promise<void> {
    const users = new Map<string, UserRecord>();
    const roles = new Map<string, authpb.Permission[]>();
    let enabled = false;
    let rev = 0n;
    for await (const [k, v] of this.be.scan(AUTH_PREFIX, prefixEnd(AUTH_PREFIX))) {
      if (k.equals(ENABLED_KEY)) enabled = v.length === 1 && v[0] === 1;
      else if (k.equals(REVISION_KEY) && v.length === 8) rev = v.readBigUInt64BE(0);
    }
    for await (const [k, v] of this.be.scan(AUTH_USERS_PREFIX, prefixEnd(AUTH_USERS_PREFIX))) {
      const u = authpb.User.decode(v);
      const name = Buffer.from(u.name).toString();
      if (name !== k.subarray(AUTH_USERS_PREFIX.length).toString()) throw new Error(`auth: user record ${k.toString()} names ${name}`);
      users.set(name, { name, passwordHash: Buffer.from(u.password), noPassword: u.options?.noPassword ?? false, roles: [...u.roles] });
    }
    for await (const [, v] of this.be.scan(AUTH_ROLES_PREFIX, prefixEnd(AUTH_ROLES_PREFIX))) {
      const r = authpb.Role.decode(v);
      roles.set(Buffer.from(r.name).toString(), r.keyPermission);
    }
    // Nothing awaits from here on: the new state replaces the old in one step.
    this.users = users;
    this.roles = roles;
    this.enabledFlag = enabled;
    this.rev = rev;
    // A store never written starts at revision 1 (etcd's NewAuthStore commits one).
    if (this.rev === 0n) this.commitRevision();
    this.refreshPerms();
  }

  private putUser(u: UserRecord): void {
    this.users.set(u.name, u);
    const rec = authpb.User.encode({
      name: Buffer.from(u.name),
      password: u.passwordHash,
      roles: [...u.roles],
      options: { noPassword: u.noPassword },
    }).finish();
    this.be.put(userKey(u.name), Buffer.from(rec));
  }

  private putRole(name: string, perms: authpb.Permission[]): void {
    this.roles.set(name, perms);
    this.be.put(roleKey(name), Buffer.from(authpb.Role.encode({ name: Buffer.from(name), keyPermission: perms }).finish()));
  }

  /** changed commits a revision and rebuilds the permission cache. */
  private changed(): void {
    this.commitRevision();
    this.refreshPerms();
  }

  private commitRevision(): void {
    this.rev += 1n;
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(this.rev);
    this.be.put(REVISION_KEY, b);
  }

  private refreshPerms(): void {
    const perms = new Map<string, Permissions>();
    for (const u of this.users.values()) {
      const p: Permissions = { read: new RangeSet(), write: new RangeSet() };
      for (const role of u.roles) {
        for (const perm of this.roles.get(role) ?? []) {
          const key = Buffer.from(perm.key);
          const re = Buffer.from(perm.rangeEnd);
          let end: Buffer | undefined;
          if (re.length === 0) end = Buffer.concat([key, Buffer.from([0])]);
          else if (re.length === 1 && re[0] === 0) end = undefined;
          else end = re;
          if (perm.permType === READ || perm.permType === READWRITE) p.read.add(key, end);
          if (perm.permType === WRITE || perm.permType === READWRITE) p.write.add(key, end);
        }
      }
      perms.set(u.name, p);
    }
    this.perms = perms;
  }
}

function userKey(name: string): Buffer {
  return Buffer.concat([AUTH_USERS_PREFIX, Buffer.from(name)]);
}

function roleKey(name: string): Buffer {
  return Buffer.concat([AUTH_ROLES_PREFIX, Buffer.from(name)]);
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** stableSortByKey sorts permissions by key bytes; equal keys keep their order (JavaScript's sort is stable). */
function stableSortByKey(ps: authpb.Permission[]): void {
  ps.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}
