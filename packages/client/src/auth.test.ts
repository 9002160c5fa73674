import * as grpc from "@grpc/grpc-js";
import { authpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { permissionType } from "./auth.js";
import { Client } from "./client.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

describe("permissionType", () => {
  it("parses etcd's permission names in any case", () => {
    expect(permissionType("read")).toBe(authpb.Permission_Type.READ);
    expect(permissionType("Write")).toBe(authpb.Permission_Type.WRITE);
    expect(permissionType("READWRITE")).toBe(authpb.Permission_Type.READWRITE);
    expect(permissionType("rw")).toBeUndefined();
  });
});

describe("Auth against etcd", () => {
  let etcd: RunningEtcd;
  const clients: Client[] = [];
  const client = (username?: string, password?: string): Client => {
    const c = new Client({
      endpoints: [etcd.endpoint],
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
    });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    etcd = await startEtcd();
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  it("manages users, roles and permissions, then enforces them once enabled", async () => {
    const admin = client();
    await expect(admin.auth.authEnable()).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      message: "etcdserver: root user does not exist",
    });
    await admin.auth.userAdd("root", "rootpw");
    await admin.auth.roleAdd("root");
    await admin.auth.userGrantRole("root", "root");
    await admin.auth.userAdd("reader", "readpw");
    await admin.auth.userAdd("cn-only", "", { noPassword: true });
    await admin.auth.roleAdd("ro");
    await admin.auth.roleGrantPermission("ro", { permType: "read", key: "app/", rangeEnd: "app0" });
    await admin.auth.roleGrantPermission("ro", { permType: authpb.Permission_Type.WRITE, key: "scratch" });
    await admin.auth.userGrantRole("reader", "ro");

    expect((await admin.auth.userList()).users).toEqual(["cn-only", "reader", "root"]);
    expect((await admin.auth.roleList()).roles).toEqual(["ro", "root"]);
    expect((await admin.auth.userGet("reader")).roles).toEqual(["ro"]);
    const perms = (await admin.auth.roleGet("ro")).perm;
    expect(perms.map((p) => [p.permType, p.key.toString(), p.rangeEnd.toString()])).toEqual([
      [authpb.Permission_Type.READ, "app/", "app0"],
      [authpb.Permission_Type.WRITE, "scratch", ""],
    ]);
    await admin.auth.roleRevokePermission("ro", "scratch");
    expect((await admin.auth.roleGet("ro")).perm).toHaveLength(1);
    await expect(admin.auth.userGet("nobody")).rejects.toMatchObject({ message: "etcdserver: user name not found" });

    await admin.auth.authEnable();
    await expect(admin.range({ key: Buffer.from("app/x") })).rejects.toMatchObject({
      message: "etcdserver: user name is empty",
    });

    const root = client("root", "rootpw");
    expect(await root.authenticate()).toBe("token");
    await root.put({ key: Buffer.from("app/x"), value: Buffer.from("1") });
    const w = root.watch("app/", { prefix: true });
    await w.created;
    await root.put({ key: Buffer.from("app/y"), value: Buffer.from("2") });
    const first = await w.next();
    expect(first.value?.events[0]?.kv?.key.toString()).toBe("app/y");
    w.cancel();

    const reader = client("reader", "readpw");
    expect((await reader.range({ key: Buffer.from("app/x") })).kvs[0]?.value.toString()).toBe("1");
    await expect(reader.put({ key: Buffer.from("app/x"), value: Buffer.from("2") })).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      message: "etcdserver: permission denied",
    });

    await root.auth.userChangePassword("reader", "newpw");
    const stale = client("reader", "readpw");
    await expect(stale.range({ key: Buffer.from("app/x") })).rejects.toMatchObject({
      message: "etcdserver: authentication failed, invalid user ID or password",
    });
    expect((await client("reader", "newpw").range({ key: Buffer.from("app/x") })).count).toBe(1n);

    await root.auth.userRevokeRole("reader", "ro");
    await root.auth.roleDelete("ro");
    await root.auth.userDelete("cn-only");
    await root.auth.authDisable();
    expect((await admin.range({ key: Buffer.from("app/x") })).count).toBe(1n);
    expect(await client("root", "rootpw").authenticate()).toBe("disabled");
  }, 30_000);
});
