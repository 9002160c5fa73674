import { makeTestPki, REAL_ETCDCTL, run, writeTestPki, type PkiFiles } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

/**
 * Auth by client certificate, compared: the real etcd 3.4 and etcd-ts, both with TLS and
 * --client-cert-auth, driven by the real etcdctl. The client certificate's common name is
 * "alice", a user with no password: with auth on, a request carrying the certificate alone
 * runs as alice and gets exactly alice's permissions; a password login overrides it.
 */
describe("auth by client certificate common name, etcd 3.4 vs etcd-ts", () => {
  let pki: PkiFiles;
  let etcd: Member;
  let ts: Member;

  beforeAll(async () => {
    pki = writeTestPki(makeTestPki("etcd-ts auth e2e", { serverCn: "etcd-server", clientCn: "alice" }));
    const tlsArgs = ["--cert-file", pki.serverCert, "--key-file", pki.serverKey, "--trusted-ca-file", pki.caFile, "--client-cert-auth"];
    const tls = { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey };
    etcd = await Member.create({ kind: "etcd", tls, extraArgs: tlsArgs });
    ts = await Member.create({ kind: "etcd-ts", tls, extraArgs: [...tlsArgs, "--bcrypt-cost", "4"] });
    await Promise.all([etcd.start(), ts.start()]);
  });
  afterAll(async () => {
    await etcd?.destroy();
    await ts?.destroy();
    pki?.remove();
  });

  const ctl = (m: Member, args: string[]): ReturnType<typeof run> =>
    run(
      REAL_ETCDCTL,
      ["--endpoints", m.url, "--cacert", pki.caFile, "--cert", pki.clientCert, "--key", pki.clientKey, "--dial-timeout", "2s", "--command-timeout", "5s", ...args],
      { env: { ETCDCTL_API: "3" } },
    );

  const STEPS: string[][] = [
    // Auth off: the certificate's user may do anything.
    ["user", "add", "root:rootpw"],
    ["user", "grant-role", "root", "root"],
    ["role", "add", "r"],
    ["role", "grant-permission", "r", "readwrite", "a", "--prefix"],
    ["user", "add", "alice", "--no-password"],
    ["user", "grant-role", "alice", "r"],
    ["auth", "enable"],
    // Auth on: the certificate alone is alice.
    ["put", "a1", "v1"],
    ["get", "a1"],
    ["put", "b1", "v"],
    ["get", "b", "--prefix"],
    ["del", "a1"],
    ["user", "list"],
    ["user", "get", "alice"],
    ["role", "get", "r"],
    ["--user", "root:rootpw", "put", "b1", "root-wrote"],
    ["--user", "root:rootpw", "user", "list"],
    ["--user", "root:wrong", "get", "b1"],
    ["--user", "alice:pw", "get", "a1"],
    ["--user", "root:rootpw", "role", "revoke-permission", "r", "a", "--prefix"],
    ["get", "a1"],
    ["--user", "root:rootpw", "auth", "disable"],
    ["get", "b1"],
  ];

  /** masked hides what differs between two runs of clientv3's retry warnings: the time and the random target name. */
  const masked = (stderr: string): string => stderr.replace(/"ts":"[^"]*"/g, '"ts":"<ts>"').replace(/"target":"[^"]*"/g, '"target":"<target>"');

  it("gives the certificate's user exactly its permissions, the same on both", async () => {
    for (const args of STEPS) {
      const a = await ctl(etcd, args);
      const t = await ctl(ts, args);
      expect({ args, code: t.code, stdout: t.stdout, stderr: masked(t.stderr) }).toEqual({ args, code: a.code, stdout: a.stdout, stderr: masked(a.stderr) });
    }
  }, 120_000);
});
