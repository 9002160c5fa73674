import * as grpc from "@grpc/grpc-js";
import { makeTestPki, type TestPki } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd } from "./etcd.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

/**
 * Certificate login: with --client-cert-auth and authentication enabled, etcd takes the
 * common name of a client's certificate as its user when the call carries no token. An Etcd
 * given only a certificate (CN "alice") gets alice's permissions; one also given a user and
 * password is that user instead (the token wins, as in etcd).
 */
for (const kind of ["etcd-ts", "etcd"] as const) {
  describe(`Etcd with a client certificate as its login (${kind})`, () => {
    let pki: TestPki;
    let server: RunningEtcd;
    const open: Etcd[] = [];
    const etcd = (auth?: { username: string; password: string }): Etcd => {
      const tls = { ca: Buffer.from(pki.ca.cert), cert: Buffer.from(pki.client.cert), key: Buffer.from(pki.client.key) };
      const e = new Etcd({ endpoints: [server.endpoint], tls, ...auth });
      open.push(e);
      return e;
    };
    beforeAll(async () => {
      pki = makeTestPki(`cert-login-${kind}`, { clientCn: "alice" });
      server = await startEtcd({ kind, pki });
    }, 30_000);
    afterAll(async () => {
      for (const e of open) e.close();
      await server?.stop();
    });

    it("acts as the certificate's user without a password, and as the named user with one", async () => {
      const setup = etcd();
      const auth = setup.client.auth;
      await auth.userAdd("root", "rootpw");
      await auth.roleAdd("root");
      await auth.userGrantRole("root", "root");
      await auth.userAdd("alice", "", { noPassword: true });
      await auth.roleAdd("alice-rw");
      await auth.roleGrantPermission("alice-rw", { permType: "readwrite", key: "alice/", rangeEnd: "alice0" });
      await auth.userGrantRole("alice", "alice-rw");
      await auth.authEnable();

      const alice = etcd();
      await alice.put("alice/a", "1");
      expect(await alice.get("alice/a")).toBe("1");
      const w = alice.watch("alice/", { prefix: true });
      await w.created;
      await alice.put("alice/b", "2");
      for await (const ev of w) {
        expect(ev.kv.keyString).toBe("alice/b");
        break;
      }
      w.close();
      await expect(alice.put("other", "x")).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, message: "etcdserver: permission denied" });
      await expect(alice.get("other")).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });

      const root = etcd({ username: "root", password: "rootpw" });
      await root.put("other", "x");
      expect(await root.get("alice/a")).toBe("1");
      await root.client.auth.authDisable();
    });
  });
}
