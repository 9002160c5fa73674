import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCerts, type TestCerts } from "./harness/certs.js";
import { Member } from "./harness/member.js";
import { ETCD_TS_BIN, freePort, REAL_ETCDCTL, run } from "@etcd-ts/test-kit";

/** Client TLS: etcd-ts with etcd's TLS flags, driven by the real etcdctl, the etcd3 npm client and curl. */
describe("client TLS with client certificate auth", () => {
  let certs: TestCerts;
  let m: Member;
  beforeAll(async () => {
    certs = makeTestCerts();
    m = await Member.create({
      kind: "etcd-ts",
      tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey },
      extraArgs: ["--cert-file", certs.serverCert, "--key-file", certs.serverKey, "--trusted-ca-file", certs.caFile, "--client-cert-auth"],
    });
    await m.start();
  });
  afterAll(async () => {
    await m.destroy();
    certs.remove();
  });

  // Refused connections make etcdctl retry until its timeouts: keep them short.
  const ctl = (args: string[], auth: string[]): ReturnType<typeof run> =>
    run(REAL_ETCDCTL, ["--endpoints", m.url, "--dial-timeout", "1s", "--command-timeout", "2s", ...auth, ...args], { env: { ETCDCTL_API: "3" } });

  it("logs that it serves client traffic securely", () => {
    const log = readFileSync(m.logFile, "utf8");
    expect(log).toContain('"msg":"serving client traffic securely"');
    expect(log).not.toContain("serving client traffic insecurely");
  });

  it("lets the real etcdctl put and get with the CA and a client certificate", async () => {
    const auth = ["--cacert", certs.caFile, "--cert", certs.clientCert, "--key", certs.clientKey];
    const put = await ctl(["put", "tls-key", "tls-value"], auth);
    expect(put.stderr).toBe("");
    expect(put.stdout).toBe("OK\n");
    const get = await ctl(["get", "tls-key"], auth);
    expect(get.stdout).toBe("tls-key\ntls-value\n");
    const health = await ctl(["endpoint", "health"], auth);
    expect(health.code).toBe(0);
    expect(health.stdout + health.stderr).toContain(`${m.url} is healthy`);
  });

  it("refuses etcdctl without a client certificate, or with one from another CA", async () => {
    const none = await ctl(["get", "tls-key"], ["--cacert", certs.caFile]);
    expect(none.code).not.toBe(0);
    expect(none.stdout).toBe("");
    const stranger = await ctl(["get", "tls-key"], ["--cacert", certs.caFile, "--cert", certs.strangerCert, "--key", certs.strangerKey]);
    expect(stranger.code).not.toBe(0);
    expect(stranger.stdout).toBe("");
    expect(readFileSync(m.logFile, "utf8")).toContain('"msg":"rejected connection"');
  });

  it("serves the etcd3 npm client over TLS", async () => {
    const client = new Etcd3({
      hosts: m.url,
      credentials: {
        rootCertificate: readFileSync(certs.caFile),
        certChain: readFileSync(certs.clientCert),
        privateKey: readFileSync(certs.clientKey),
      },
    });
    try {
      await client.put("npm-tls").value("over tls");
      expect(await client.get("npm-tls").string()).toBe("over tls");
      expect(await client.get("tls-key").string()).toBe("tls-value");
    } finally {
      client.close();
    }
  });

  it("answers curl on /health and /version with the CA and a client certificate, not without one", async () => {
    const curl = (args: string[]): ReturnType<typeof run> =>
      run("curl", ["-sS", "--max-time", "5", "--cacert", certs.caFile, "--cert", certs.clientCert, "--key", certs.clientKey, ...args]);
    const health = await curl([`${m.url}/health`]);
    expect(JSON.parse(health.stdout)).toEqual({ health: "true" });
    const version = await curl([`${m.url}/version`]);
    expect(JSON.parse(version.stdout)).toMatchObject({ etcdserver: "3.4.23" });
    const noCert = await run("curl", ["-sS", "--max-time", "5", "--cacert", certs.caFile, `${m.url}/health`]);
    expect(noCert.code).not.toBe(0);
    expect(noCert.stdout).toBe("");
  });
});

describe("client TLS with --auto-tls", () => {
  let m: Member;
  beforeAll(async () => {
    // etcd drops --client-cert-auth with --auto-tls (the generated TLS info replaces it); so does etcd-ts.
    m = await Member.create({ kind: "etcd-ts", tls: {}, extraArgs: ["--auto-tls", "--client-cert-auth"] });
    await m.start();
  });
  afterAll(async () => {
    await m.destroy();
  });

  it("generates a certificate under <data-dir>/fixtures/client and serves etcdctl --insecure-skip-tls-verify", async () => {
    expect(existsSync(join(m.dataDir, "fixtures", "client", "cert.pem"))).toBe(true);
    expect(existsSync(join(m.dataDir, "fixtures", "client", "key.pem"))).toBe(true);
    const flags = ["--endpoints", m.url, "--insecure-transport=false", "--insecure-skip-tls-verify", "--dial-timeout", "2s"];
    const put = await run(REAL_ETCDCTL, [...flags, "put", "auto", "tls"], { env: { ETCDCTL_API: "3" } });
    expect(put.stdout).toBe("OK\n");
    const get = await run(REAL_ETCDCTL, [...flags, "get", "auto"], { env: { ETCDCTL_API: "3" } });
    expect(get.stdout).toBe("auto\ntls\n");
  });

  it("presents the generated certificate, which names the listen host", async () => {
    const out = await run("curl", ["-sS", "-k", "-v", "--max-time", "5", `${m.url}/health`]);
    expect(out.stdout).toBe('{"health":"true"}');
    expect(out.stderr).toContain("subject: O=etcd");
    expect(out.stderr).toContain("127.0.0.1");
  });
});

describe("client TLS configuration errors", () => {
  it("refuses an https client URL without a certificate, with etcd's message", async () => {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const out = await run(process.execPath, [ETCD_TS_BIN, "--listen-client-urls", url, "--advertise-client-urls", url]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${url} with HTTPS scheme`);
  });

  it("stops before serving when the certificate file is missing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "e2e-tls-missing-"));
    try {
      const [cp, pp] = [await freePort(), await freePort()];
      const url = `https://127.0.0.1:${cp}`;
      const peer = `http://127.0.0.1:${pp}`;
      const missing = join(dir, "missing.pem");
      const out = await run(process.execPath, [
        ETCD_TS_BIN, "--data-dir", join(dir, "data"), "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `default=${peer}`,
        "--cert-file", missing, "--key-file", missing,
      ]);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(`open ${missing}: no such file or directory`);
      expect(out.stderr).not.toContain("ready to serve client requests");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unknown cipher suite, with etcd's message", async () => {
    const out = await run(process.execPath, [ETCD_TS_BIN, "--cipher-suites", "TLS_NOT_A_SUITE"]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('unexpected TLS cipher suite "TLS_NOT_A_SUITE"');
  });
});
