import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCerts, type TestCerts } from "./harness/certs.js";
import { Member } from "./harness/member.js";
import { REAL_ETCDCTL, run } from "@etcd-ts/test-kit";

/**
 * startTlsCluster starts three etcd-ts members whose peer URLs are https://, each with
 * `peerArgs`, and waits until all answer /health (which needs a quorum).
 */
async function startTlsCluster(peerArgs: string[]): Promise<Member[]> {
  const opts = [0, 1, 2].map(() => ({ kind: "etcd-ts" as const, extraArgs: [] as string[] }));
  const members = await Promise.all(opts.map((o) => Member.create(o)));
  const peerUrl = (m: Member): string => `https://127.0.0.1:${m.peerPort}`;
  const initial = members.map((m, i) => `m${i}=${peerUrl(m)}`).join(",");
  members.forEach((m, i) => {
    // Later flags win: these replace Member's single-member defaults.
    opts[i]?.extraArgs.push(
      "--name", `m${i}`,
      "--listen-peer-urls", peerUrl(m),
      "--initial-advertise-peer-urls", peerUrl(m),
      "--initial-cluster", initial,
      ...peerArgs,
    );
  });
  await Promise.all(members.map((m) => m.start()));
  return members;
}

const ctl = (m: Member, args: string[]): ReturnType<typeof run> =>
  run(REAL_ETCDCTL, ["--endpoints", m.url, "--dial-timeout", "2s", ...args], { env: { ETCDCTL_API: "3" } });

describe("peer TLS with peer client certificate auth", () => {
  let certs: TestCerts;
  let members: Member[] = [];
  beforeAll(async () => {
    certs = makeTestCerts();
    members = await startTlsCluster([
      "--peer-cert-file", certs.serverCert,
      "--peer-key-file", certs.serverKey,
      "--peer-trusted-ca-file", certs.caFile,
      "--peer-client-cert-auth",
    ]);
  });
  afterAll(async () => {
    await Promise.all(members.map((m) => m.destroy()));
    certs.remove();
  });

  it("forms a cluster over TLS and replicates writes", async () => {
    const [a, , c] = members as [Member, Member, Member];
    expect((await ctl(a, ["put", "peer-tls", "replicated"])).stdout).toBe("OK\n");
    expect((await ctl(c, ["get", "peer-tls"])).stdout).toBe("peer-tls\nreplicated\n");
    const list = await ctl(c, ["member", "list"]);
    expect(list.stdout.split("\n").filter((l) => l.includes("https://127.0.0.1:")).length).toBe(3);
    expect(readFileSync(a.logFile, "utf8")).toContain('"msg":"starting with peer TLS"');
  });

  it("refuses a peer connection without a client certificate from the trusted CA", async () => {
    const a = members[0] as Member;
    const url = `https://127.0.0.1:${a.peerPort}/members`;
    const withCert = await run("curl", ["-sS", "--http2", "--max-time", "5", "--cacert", certs.caFile, "--cert", certs.serverCert, "--key", certs.serverKey, url]);
    expect(withCert.code).toBe(0);
    expect(withCert.stdout).toContain("https://127.0.0.1:");
    const without = await run("curl", ["-sS", "--http2", "--max-time", "5", "--cacert", certs.caFile, url]);
    expect(without.code).not.toBe(0);
    const stranger = await run("curl", ["-sS", "--http2", "--max-time", "5", "--cacert", certs.caFile, "--cert", certs.strangerCert, "--key", certs.strangerKey, url]);
    expect(stranger.code).not.toBe(0);
  });
});

describe("peer TLS with --peer-auto-tls", () => {
  let members: Member[] = [];
  beforeAll(async () => {
    members = await startTlsCluster(["--peer-auto-tls"]);
  });
  afterAll(async () => {
    await Promise.all(members.map((m) => m.destroy()));
  });

  it("forms a cluster with self-signed peer certificates, which peers do not verify", async () => {
    const [a, b] = members as [Member, Member];
    expect((await ctl(b, ["put", "auto-peer", "yes"])).stdout).toBe("OK\n");
    expect((await ctl(a, ["get", "auto-peer"])).stdout).toBe("auto-peer\nyes\n");
    const fixture = new X509Certificate(readFileSync(`${a.dataDir}/fixtures/peer/cert.pem`));
    expect(fixture.subject).toBe("O=etcd");
    expect(fixture.subjectAltName).toBe("IP Address:127.0.0.1");
  });
});
