import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { prepareTls } from "./prepare.js";
import type { TlsInfo } from "./tls_info.js";

const dataDir = mkdtempSync(join(tmpdir(), "etcd-ts-prepare-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const base: TlsInfo = { certFile: "", keyFile: "", trustedCaFile: "", clientCertAuth: false, autoTls: false, cipherSuites: [] };

describe("prepareTls", () => {
  it("returns the info unchanged without auto TLS", async () => {
    const info = { ...base, certFile: "c.pem", keyFile: "k.pem" };
    expect(await prepareTls(info, dataDir, "client", ["127.0.0.1:2379"])).toBe(info);
  });

  it("ignores auto TLS when a certificate is given: the certificates are used and peers verified, as etcd", async () => {
    const info = { ...base, certFile: "c.pem", keyFile: "k.pem", autoTls: true, clientCertAuth: true, allowedCn: "etcd-peer" };
    expect(await prepareTls(info, dataDir, "peer", ["127.0.0.1:2380"])).toEqual({ ...info, autoTls: false });
    expect(existsSync(join(dataDir, "fixtures", "peer"))).toBe(false);
  });

  it("generates fixtures/<kind> certificates and drops CA, client auth and allowed names, as etcd does", async () => {
    const info: TlsInfo = { ...base, autoTls: true, clientCertAuth: true, trustedCaFile: "ca.pem", cipherSuites: ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], allowedHostname: "x" };
    const got = await prepareTls(info, dataDir, "client", ["127.0.0.1:2379"]);
    expect(got).toEqual({
      certFile: join(dataDir, "fixtures", "client", "cert.pem"),
      keyFile: join(dataDir, "fixtures", "client", "key.pem"),
      trustedCaFile: "",
      clientCertAuth: false,
      autoTls: true,
      cipherSuites: ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
    });
    expect(existsSync(got.certFile) && existsSync(got.keyFile)).toBe(true);
    const peer = await prepareTls({ ...base, autoTls: true }, dataDir, "peer", ["127.0.0.1:2380"]);
    expect(peer.certFile).toBe(join(dataDir, "fixtures", "peer", "cert.pem"));
  });
});
