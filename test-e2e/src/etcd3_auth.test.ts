import { Etcd3, EtcdPermissionDeniedError, Range } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

/**
 * The npm etcd3 client, unchanged, against etcd-ts with auth on: it manages users and roles,
 * enables auth, then logs in with a password (its `auth` option) and gets exactly its user's
 * permissions, watch included.
 */
describe("etcd3 npm client with auth", () => {
  let m: Member;
  let admin: Etcd3;
  beforeAll(async () => {
    m = await Member.create({ kind: "etcd-ts", extraArgs: ["--bcrypt-cost", "4"] });
    await m.start();
    admin = new Etcd3({ hosts: m.url });
    await admin.user("root").create("rootpw");
    await admin.user("root").addRole("root");
    await admin.role("app").create();
    await admin.role("app").grant({ permission: "Readwrite", range: Range.prefix("app/") });
    await admin.role("app").grant({ permission: "Read", key: "config" });
    await admin.user("svc").create("svcpw");
    await admin.user("svc").addRole("app");
    await admin.put("config").value("c1");
    await admin.auth.authEnable();
  });
  afterAll(async () => {
    admin?.close();
    await m?.destroy();
  });

  it("logs in with a password and reads and writes only what the user's roles allow", async () => {
    const svc = new Etcd3({ hosts: m.url, auth: { username: "svc", password: "svcpw" } });
    try {
      await svc.put("app/a").value("1");
      expect(await svc.get("app/a").string()).toBe("1");
      expect(await svc.get("config").string()).toBe("c1");
      await expect(svc.put("config").value("x")).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(svc.get("other").string()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      // The client without credentials is now refused as etcd refuses it.
      await expect(admin.get("config").string()).rejects.toThrow(/user name is empty/);
    } finally {
      svc.close();
    }
  });

  it("watches a prefix the user may read", async () => {
    const svc = new Etcd3({ hosts: m.url, auth: { username: "svc", password: "svcpw" } });
    const root = new Etcd3({ hosts: m.url, auth: { username: "root", password: "rootpw" } });
    try {
      const w = await svc.watch().prefix("app/").create();
      const got = new Promise<string>((resolve) => w.on("put", (kv) => resolve(kv.value.toString())));
      await root.put("app/w").value("seen");
      expect(await got).toBe("seen");
      await w.cancel();
    } finally {
      svc.close();
      root.close();
    }
  });

  it("refuses a wrong password", async () => {
    const bad = new Etcd3({ hosts: m.url, auth: { username: "svc", password: "nope" } });
    try {
      await expect(bad.get("app/a").string()).rejects.toThrow(/authentication failed, invalid user ID or password/);
    } finally {
      bad.close();
    }
  });
});
