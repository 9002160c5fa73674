import { checkPassword, hashPassword } from "@etcd-ts/auth";
import { V2Error, V2ErrorCode as C } from "./errors.js";
import type { V2Store } from "./store.js";

/** V2User is a v2 auth user as etcd keeps it (v2auth.User): the password is a bcrypt hash. */
export interface V2User {
  user: string;
  password?: string;
  roles: string[];
  grant?: string[];
  revoke?: string[];
}

/** RWPermission is a v2 role's key patterns (a trailing "*" matches a prefix). */
export interface RWPermission {
  read: string[];
  write: string[];
}

/** V2Role is a v2 auth role (v2auth.Role). */
export interface V2Role {
  role: string;
  permissions: { kv: RWPermission };
  grant?: { kv: RWPermission } | undefined;
  revoke?: { kv: RWPermission } | undefined;
}

/** AuthError is a v2 auth error (v2auth.Error): an HTTP status and "auth: ..." text. */
export class V2AuthError extends Error {
  constructor(
    readonly status: number,
    text: string,
  ) {
    super(`auth: ${text}`);
    this.name = "V2AuthError";
  }
}

export const ROOT_ROLE = "root";
export const GUEST_ROLE = "guest";

const ALL: RWPermission = { read: ["/*"], write: ["/*"] };
const rootRole = (): V2Role => ({ role: ROOT_ROLE, permissions: { kv: { read: [...ALL.read], write: [...ALL.write] } } });
const guestRole = (): V2Role => ({ role: GUEST_ROLE, permissions: { kv: { read: [...ALL.read], write: [...ALL.write] } } });

/**
 * V2AuthStore is etcd 3.4's v2 auth (v2auth.store): users, roles and the enabled switch,
 * kept as v2 nodes of a store of their own at etcd's paths (`/2/users/<name>`,
 * `/2/roles/<name>` holding their JSON, `/2/enabled`), out of reach of /v2/keys.
 * The root role is built in (every key); enabling auth needs a root user and creates the
 * guest role (every key) unless it exists. Passwords are bcrypt hashes at `bcryptCost`.
 */
export class V2AuthStore {
  private ensured = false;

  constructor(
    private readonly s: V2Store,
    private readonly bcryptCost: number,
  ) {}

  /**
   * ensure is etcd's ensureAuthDirectories, before this process's first auth write: the
   * /2, /2/users and /2/roles directories and /2/enabled = false, each made only when missing
   * (so a fresh store's v2 index moves as etcd's does).
   */
  private async ensure(): Promise<void> {
    if (this.ensured) return;
    const t = { nowMs: Date.now() };
    const create = async (path: string, dir: boolean, value: string): Promise<void> => {
      try {
        await this.s.create(path, dir, value, false, t);
      } catch (err) {
        if (!(err instanceof V2Error && err.errorCode === C.NodeExist)) throw err;
      }
    };
    for (const d of ["/2", "/2/users", "/2/roles"]) await create(d, true, "");
    await create("/2/enabled", false, "false");
    this.ensured = true;
  }

  async allUsers(): Promise<string[]> {
    return this.names("/2/users");
  }

  async allRoles(): Promise<string[]> {
    return [ROOT_ROLE, ...(await this.names("/2/roles"))].sort();
  }

  private async names(dir: string): Promise<string[]> {
    try {
      const ev = await this.s.get(dir, false, false, true);
      return (ev.node?.nodes ?? []).map((n) => n.key.slice(dir.length + 1)).sort();
    } catch (err) {
      if (err instanceof V2Error && err.errorCode === C.KeyNotFound) return [];
      throw err;
    }
  }

  async getUser(name: string, quorum = false): Promise<V2User> {
    const u = JSON.parse(await this.value(`/2/users/${name}`, quorum, () => new V2AuthError(404, `User ${name} does not exist.`))) as V2User;
    u.roles ??= [];
    if (u.user === "root" && !u.roles.includes(ROOT_ROLE)) u.roles.push(ROOT_ROLE);
    return u;
  }

  async getRole(name: string, quorum = false): Promise<V2Role> {
    if (name === ROOT_ROLE) return rootRole();
    const r = JSON.parse(await this.value(`/2/roles/${name}`, quorum, () => new V2AuthError(404, `Role ${name} does not exist.`))) as V2Role;
    r.permissions.kv.read ??= [];
    r.permissions.kv.write ??= [];
    return r;
  }

  private async value(path: string, quorum: boolean, missing: () => Error): Promise<string> {
    try {
      return (await this.s.get(path, false, false, quorum)).node?.value ?? "";
    } catch (err) {
      if (err instanceof V2Error && err.errorCode === C.KeyNotFound) throw missing();
      throw err;
    }
  }

  /** createOrUpdateUser updates an existing user, else creates it (with created = true). */
  async createOrUpdateUser(u: V2User): Promise<{ user: V2User; created: boolean }> {
    try {
      await this.getUser(u.user, true);
    } catch (err) {
      if (!(err instanceof V2AuthError)) throw err;
      return { user: await this.createUser(u), created: true };
    }
    return { user: await this.updateUser(u), created: false };
  }

  async createUser(u: V2User): Promise<V2User> {
    const user: V2User = { user: u.user, roles: [...(u.roles ?? [])] };
    if (user.user === "root" && !user.roles.includes(ROOT_ROLE)) user.roles.push(ROOT_ROLE);
    if ((u.password ?? "") === "") throw new V2AuthError(400, `Cannot create user ${u.user} with an empty password`);
    user.password = (await hashPassword(u.password as string, this.bcryptCost)).toString();
    try {
      await this.ensure();
      await this.s.create(`/2/users/${u.user}`, false, JSON.stringify(user), false, { nowMs: Date.now() });
    } catch (err) {
      if (err instanceof V2Error && err.errorCode === C.NodeExist) throw new V2AuthError(409, `User ${u.user} already exists.`);
      throw err;
    }
    return user;
  }

  async deleteUser(name: string): Promise<void> {
    if (name === "root" && (await this.enabled())) throw new V2AuthError(403, "Cannot delete root user while auth is enabled.");
    try {
      await this.ensure();
      await this.s.delete(`/2/users/${name}`, false, false);
    } catch (err) {
      if (err instanceof V2Error && err.errorCode === C.KeyNotFound) throw new V2AuthError(404, `User ${name} does not exist`);
      throw err;
    }
  }

  /** updateUser merges a password change, role grants and revokes into an existing user (v2auth's User.merge). */
  async updateUser(u: V2User): Promise<V2User> {
    let old: V2User;
    try {
      old = await this.getUser(u.user, true);
    } catch (err) {
      if (err instanceof V2AuthError) throw new V2AuthError(404, `User ${u.user} doesn't exist.`);
      throw err;
    }
    const out: V2User = { user: old.user, roles: [] };
    out.password = (u.password ?? "") !== "" ? (await hashPassword(u.password as string, this.bcryptCost)).toString() : old.password ?? "";
    const roles = new Set(old.roles);
    for (const g of u.grant ?? []) {
      if (roles.has(g)) throw new V2AuthError(409, `Granting duplicate role ${g} for user ${u.user}`);
      roles.add(g);
    }
    for (const r of u.revoke ?? []) {
      if (!roles.has(r)) throw new V2AuthError(409, `Revoking ungranted role ${r} for user ${u.user}`);
      roles.delete(r);
    }
    out.roles = [...roles].sort();
    if (out.password === old.password && JSON.stringify(out.roles) === JSON.stringify([...old.roles].sort()) && (u.password ?? "") === "") {
      throw new V2AuthError(400, "User not updated. Use grant/revoke/password to update the user.");
    }
    await this.ensure();
    await this.s.update(`/2/users/${u.user}`, JSON.stringify(out), { nowMs: Date.now() });
    return out;
  }

  async createRole(r: V2Role): Promise<void> {
    if (r.role === ROOT_ROLE) throw new V2AuthError(403, `Cannot modify role ${r.role}: is root role.`);
    const role: V2Role = { role: r.role, permissions: { kv: { read: r.permissions?.kv?.read ?? [], write: r.permissions?.kv?.write ?? [] } } };
    try {
      await this.ensure();
      await this.s.create(`/2/roles/${r.role}`, false, JSON.stringify(role), false, { nowMs: Date.now() });
    } catch (err) {
      if (err instanceof V2Error && err.errorCode === C.NodeExist) throw new V2AuthError(409, `Role ${r.role} already exists.`);
      throw err;
    }
  }

  async deleteRole(name: string): Promise<void> {
    if (name === ROOT_ROLE) throw new V2AuthError(403, `Cannot modify role ${name}: is root role.`);
    try {
      await this.ensure();
      await this.s.delete(`/2/roles/${name}`, false, false);
    } catch (err) {
      if (err instanceof V2Error && err.errorCode === C.KeyNotFound) throw new V2AuthError(404, `Role ${name} doesn't exist.`);
      throw err;
    }
  }

  /** updateRole grants and revokes key patterns (v2auth's Role.merge). */
  async updateRole(r: V2Role): Promise<V2Role> {
    if (r.role === ROOT_ROLE) throw new V2AuthError(403, `Cannot modify role ${r.role}: is root role.`);
    let old: V2Role;
    try {
      old = await this.getRole(r.role, true);
    } catch (err) {
      if (err instanceof V2AuthError) throw new V2AuthError(404, `Role ${r.role} doesn't exist.`);
      throw err;
    }
    const read = new Set(old.permissions.kv.read);
    const write = new Set(old.permissions.kv.write);
    for (const p of r.grant?.kv?.read ?? []) {
      if (read.has(p)) throw new V2AuthError(409, `Granting duplicate read permission ${p}`);
      read.add(p);
    }
    for (const p of r.grant?.kv?.write ?? []) {
      if (write.has(p)) throw new V2AuthError(409, `Granting duplicate write permission ${p}`);
      write.add(p);
    }
    for (const p of r.revoke?.kv?.read ?? []) read.delete(p);
    for (const p of r.revoke?.kv?.write ?? []) write.delete(p);
    const out: V2Role = { role: old.role, permissions: { kv: { read: [...read].sort(), write: [...write].sort() } } };
    if (JSON.stringify(out.permissions) === JSON.stringify({ kv: { read: [...old.permissions.kv.read].sort(), write: [...old.permissions.kv.write].sort() } })) {
      throw new V2AuthError(400, "Role not updated. Use grant/revoke to update the role.");
    }
    await this.ensure();
    await this.s.update(`/2/roles/${r.role}`, JSON.stringify(out), { nowMs: Date.now() });
    return out;
  }

  async enabled(): Promise<boolean> {
    try {
      return (await this.s.get("/2/enabled", false, false, false)).node?.value === "true";
    } catch (err) {
      if (err instanceof V2Error && err.errorCode === C.KeyNotFound) return false;
      throw err;
    }
  }

  async enable(): Promise<void> {
    if (await this.enabled()) throw new V2AuthError(409, "already enabled");
    try {
      await this.getUser("root", true);
    } catch {
      throw new V2AuthError(409, "No root user available, please create one");
    }
    try {
      await this.getRole(GUEST_ROLE, true);
    } catch (err) {
      if (!(err instanceof V2AuthError)) throw err;
      await this.createRole(guestRole());
    }
    await this.ensure();
    await this.s.update("/2/enabled", "true", { nowMs: Date.now() });
  }

  async disable(): Promise<void> {
    if (!(await this.enabled())) throw new V2AuthError(409, "already disabled");
    await this.ensure();
    await this.s.update("/2/enabled", "false", { nowMs: Date.now() });
  }

  /** checkPassword checks a password against the user's bcrypt hash. */
  async checkPassword(u: V2User, password: string): Promise<boolean> {
    if (u.password === undefined || u.password === "") return false;
    return checkPassword(password, Buffer.from(u.password));
  }
}

/** hasKeyAccess is v2auth's Role.HasKeyAccess: a pattern equal to the key, or a "prefix*" pattern the key starts with. */
export function hasKeyAccess(r: V2Role, key: string, write: boolean): boolean {
  if (r.role === ROOT_ROLE) return true;
  const list = write ? r.permissions.kv.write : r.permissions.kv.read;
  return list.some((p) => (p.endsWith("*") ? key.startsWith(p.slice(0, -1)) : key === p));
}

/** hasRecursiveAccess is v2auth's Role.HasRecursiveAccess: only "prefix*" patterns count. */
export function hasRecursiveAccess(r: V2Role, key: string, write: boolean): boolean {
  if (r.role === ROOT_ROLE) return true;
  const list = write ? r.permissions.kv.write : r.permissions.kv.read;
  return list.some((p) => p.endsWith("*") && key.startsWith(p.slice(0, -1)));
}
