import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  etcdFlags,
  freePort,
  healthStatus,
  isRunning,
  makeTestPki,
  REAL_ETCDCTL,
  run,
  serverCommand,
  spawnServer,
  stopProcess,
  until,
  waitHealthy,
  writeTestPki,
  type PkiFiles,
  type Spawned,
} from "@etcd-ts/test-kit";

/**
 * "--peer-cert-allowed-cn" in a 3-member TLS cluster of etcd-ts processes: every member
 * requires peer client certificates from the test CA and allows only the CN etcd-peer (m1
 * reads it from ETCD_PEER_CERT_ALLOWED_CN). A member whose certificate, from the same CA,
 * says CN=intruder is kept out: the others refuse its connections and log etcd's "rejected
 * connection", it logs that its peers refused it, and it never serves. Restarted with a
 * certificate carrying the allowed CN, it joins. A member with the intruder's certificate
 * cannot join a running cluster either.
 */

const ALLOWED_CN = "etcd-peer";

/** issueCert has the openssl CLI issue a certificate from the test CA with this CN, for 127.0.0.1 and localhost, server and client auth (what a peer certificate is). */
function issueCert(pki: PkiFiles, cn: string): { cert: string; key: string } {
  const work = mkdtempSync(join(pki.dir, `${cn}-`));
  const caKey = join(work, "ca-key.pem");
  writeFileSync(caKey, pki.pki.ca.key, { mode: 0o600 });
  const key = join(work, "key.pem");
  const csr = join(work, "req.csr");
  const cert = join(work, "cert.pem");
  const ext = join(work, "ext.cnf");
  writeFileSync(ext, ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth,clientAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost", ""].join("\n"));
  execFileSync("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", `/CN=${cn}`, "-out", csr], { stdio: "ignore" });
  execFileSync("openssl", ["x509", "-req", "-in", csr, "-CA", pki.caFile, "-CAkey", caKey, "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", "1", "-sha256", "-extfile", ext, "-out", cert], { stdio: "ignore" });
  return { cert, key };
}

/** Node is one member: its ports, files and process. */
interface Node {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  spawned: Spawned | undefined;
}

const log = (n: Node): string => (existsSync(n.logFile) ? readFileSync(n.logFile, "utf8") : "");
const ctl = (n: Node, args: string[]): ReturnType<typeof run> =>
  run(REAL_ETCDCTL, ["--endpoints", n.clientUrl, "--dial-timeout", "2s", "--command-timeout", "5s", ...args], { env: { ETCDCTL_API: "3" } });

describe("--peer-cert-allowed-cn in a 3-member TLS cluster", () => {
  let base: string;
  let pki: PkiFiles;
  let good: { cert: string; key: string };
  let intruder: { cert: string; key: string };
  const nodes: Node[] = [];
  let initialCluster = "";

  async function define(name: string): Promise<Node> {
    const n: Node = {
      name,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `https://127.0.0.1:${await freePort()}`,
      dataDir: join(base, name),
      logFile: join(base, `${name}.log`),
      spawned: undefined,
    };
    nodes.push(n);
    return n;
  }

  /** start spawns a member with peer TLS from `cert`, client certificate auth and the allowed CN (as a flag, or for m1 as ETCD_PEER_CERT_ALLOWED_CN). */
  function start(n: Node, cert: { cert: string; key: string }, state: "new" | "existing" = "new"): Spawned {
    const viaEnv = n.name === "m1";
    const args = etcdFlags({
      name: n.name,
      dataDir: n.dataDir,
      clientUrl: n.clientUrl,
      listenPeerUrl: n.peerUrl,
      advertisePeerUrl: n.peerUrl,
      initialCluster,
      initialClusterState: state,
      extraFlags: [
        "--peer-cert-file", cert.cert, "--peer-key-file", cert.key, "--peer-trusted-ca-file", pki.caFile, "--peer-client-cert-auth",
        ...(viaEnv ? [] : ["--peer-cert-allowed-cn", ALLOWED_CN]),
      ],
    });
    n.spawned = spawnServer(serverCommand("etcd-ts"), args, { logFile: n.logFile, env: viaEnv ? { ETCD_PEER_CERT_ALLOWED_CN: ALLOWED_CN } : {} });
    return n.spawned;
  }

  const healthy = (n: Node): Promise<void> =>
    waitHealthy(n.clientUrl, { timeoutMs: 30_000, name: n.name, exited: () => n.spawned !== undefined && !isRunning(n.spawned.proc), detail: () => log(n).slice(-3000) });

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "e2e-peer-allowed-cn-"));
    pki = writeTestPki(makeTestPki("allowed-cn", { serverCn: ALLOWED_CN, clientCn: "root" }));
    good = { cert: pki.serverCert, key: pki.serverKey };
    intruder = issueCert(pki, "intruder");
    for (const name of ["m0", "m1", "m2"]) await define(name);
    initialCluster = nodes.map((n) => `${n.name}=${n.peerUrl}`).join(",");
    const [m0, m1, m2] = nodes as [Node, Node, Node];
    start(m0, good);
    start(m1, good);
    start(m2, intruder);
    await Promise.all([healthy(m0), healthy(m1)]);
  });

  afterAll(async () => {
    for (const n of nodes) if (n.spawned !== undefined) await stopProcess(n.spawned.proc);
    rmSync(base, { recursive: true, force: true });
    pki.remove();
  });

  it("keeps out the member whose certificate has another CN: its peers refuse it and log why, and it logs the refusal", async () => {
    const [m0, m1, m2] = nodes as [Node, Node, Node];
    // m0 and m1 are a quorum and serve.
    expect((await ctl(m0, ["put", "allowed-cn", "yes"])).stdout).toBe("OK\n");
    expect((await ctl(m1, ["get", "allowed-cn", "--print-value-only"])).stdout).toBe("yes\n");
    // Both refuse m2's connections with etcd's log line, naming its certificate.
    const rejected = /"msg":"rejected connection","remote-addr":"127\.0\.0\.1:\d+","server-name":"[^"]*","ip-addresses":\["127\.0\.0\.1"\],"dns-names":\["localhost"\],"error":"client certificate authentication failed"/;
    await until(async () => (rejected.test(log(m0)) && rejected.test(log(m1)) ? true : undefined), 20_000);
    // m2 logs that its peers refused it, and why.
    await until(async () => (/"msg":"remote peer rejected connection".*"error":"client certificate authentication failed"/.test(log(m2)) ? true : undefined), 20_000);
    // It never joined: still running, never published, never serving clients.
    expect(m2.spawned !== undefined && isRunning(m2.spawned.proc)).toBe(true);
    expect(log(m2)).not.toContain("published local member to cluster through raft");
    await expect(healthStatus(m2.clientUrl)).rejects.toThrow();
    // Its name is known from --initial-cluster; its client URLs never were published.
    const list = (await ctl(m0, ["member", "list"])).stdout;
    expect(list).toMatch(new RegExp(`, m2, ${m2.peerUrl.replace(/\./g, "\\.")}, , false`));
  });

  it("lets the member in once it restarts with a certificate carrying the allowed CN", async () => {
    const [m0, , m2] = nodes as [Node, Node, Node];
    if (m2.spawned !== undefined) await stopProcess(m2.spawned.proc);
    const before = log(m2).length;
    start(m2, good);
    await healthy(m2);
    expect((await ctl(m2, ["get", "allowed-cn", "--print-value-only"])).stdout).toBe("yes\n");
    expect((await ctl(m2, ["put", "from-m2", "in"])).stdout).toBe("OK\n");
    expect((await ctl(m0, ["get", "from-m2", "--print-value-only"])).stdout).toBe("in\n");
    const list = (await ctl(m0, ["member", "list"])).stdout;
    expect(list).toMatch(new RegExp(`, started, m2, ${m2.peerUrl.replace(/\./g, "\\.")}, `));
    expect(log(m2).slice(before)).not.toContain("remote peer rejected connection");
  });

  it("refuses a new member with the intruder's certificate when it tries to join the running cluster", async () => {
    const [m0] = nodes as [Node];
    const m3 = await define("m3");
    // --strict-reconfig-check: m2 must have been up long enough (5 s) before a voter is added.
    const add = await until(async () => {
      const r = await ctl(m0, ["member", "add", "m3", `--peer-urls=${m3.peerUrl}`]);
      return r.code === 0 ? r : undefined;
    }, 30_000);
    const added = /Member ([0-9a-f]+) added/.exec(add.stdout)?.[1];
    initialCluster = nodes.map((n) => `${n.name}=${n.peerUrl}`).join(",");
    const rejectedBefore = log(m0).split('"msg":"rejected connection"').length;
    const s = start(m3, intruder, "existing");
    // It cannot fetch the membership from any peer: it stops at start.
    expect(await s.exited).toBe(1);
    expect(log(m3)).toMatch(/"msg":"failed to start etcd-ts","error":"cannot fetch cluster info from peer urls: /);
    expect(log(m3)).toContain("refused the connection: client certificate authentication failed");
    expect(log(m0).split('"msg":"rejected connection"').length).toBeGreaterThan(rejectedBefore);
    if (added !== undefined) expect((await ctl(m0, ["member", "remove", added])).code).toBe(0);
  });
});
