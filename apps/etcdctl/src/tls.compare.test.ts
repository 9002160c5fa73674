import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki } from "@etcd-ts/test-kit";
import { startCluster, type TestCluster } from "./testing/cluster.js";
import { dropWarnings, ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl } from "./testing/ctl.js";
import { serverFromEnv } from "./testing/server.js";

/**
 * Differential suite for TLS: one member serving https with --client-cert-auth, certificates
 * from a test CA. Both CLIs run the same command one after the other; writes print no
 * revision, so the state they leave is the same.
 */
interface Case {
  args: string[];
  env?: Record<string, string>;
  /** warn: drop the Go client's retry warnings (their text is grpc-go's own). */
  warn?: boolean;
  /** health: mask measured durations. */
  health?: boolean;
}

describe("etcdctl-ts prints what etcdctl 3.4 prints, over TLS", () => {
  let cl: TestCluster;
  let dir: string;
  const files: Record<string, string> = {};
  beforeAll(async () => {
    const pki = makeTestPki("etcdctl-tls");
    const other = makeTestPki("other");
    dir = mkdtempSync(join(tmpdir(), "etcdctl-tls-"));
    const put = (name: string, data: string): void => {
      files[name] = join(dir, name);
      writeFileSync(files[name], data);
    };
    put("ca.crt", pki.ca.cert);
    put("client.crt", pki.client.cert);
    put("client.key", pki.client.key);
    put("server.key", pki.server.key);
    put("other-ca.crt", other.ca.cert);
    put("other.crt", other.client.cert);
    put("other.key", other.client.key);
    put("empty.pem", "");
    cl = await startCluster(serverFromEnv(), 1, {
      tls: { caCert: pki.ca.cert, serverCert: pki.server.cert, serverKey: pki.server.key },
      clientTLS: { ca: Buffer.from(pki.ca.cert), cert: Buffer.from(pki.client.cert), key: Buffer.from(pki.client.key) },
    });
  }, 60_000);
  afterAll(async () => {
    await cl?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const f = (s: string): string => s.replace(/\{(\w[\w.-]*)\}/g, (_, n: string) => {
    if (n === "URL") return cl.members[0]!.clientURL;
    if (n === "EP") return cl.members[0]!.endpoint;
    return files[n] ?? `{${n}}`;
  });
  const full = ["--cacert={ca.crt}", "--cert={client.crt}", "--key={client.key}"];
  const t = "--command-timeout=300ms";
  const CASES: Case[] = [
    { args: ["--endpoints={URL}", ...full, "put", "tls-key", "v1"] },
    { args: ["--endpoints={URL}", ...full, "get", "tls-key", "-w", "json"] },
    { args: ["--endpoints={EP}", ...full, "put", "tls-key", "v2"] },
    { args: ["--endpoints={EP}", ...full, "get", "tls-key"] },
    {
      args: ["get", "tls-key", "-w", "fields"],
      env: { ETCDCTL_ENDPOINTS: "{URL}", ETCDCTL_CACERT: "{ca.crt}", ETCDCTL_CERT: "{client.crt}", ETCDCTL_KEY: "{client.key}" },
    },
    { args: ["--endpoints={URL}", "--insecure-skip-tls-verify", "--cert={client.crt}", "--key={client.key}", "get", "tls-key"] },
    {
      args: ["--endpoints={EP}", "--insecure-transport=false", "--insecure-skip-tls-verify", "--cert={client.crt}", "--key={client.key}", "get", "tls-key"],
    },
    {
      args: ["--endpoints={URL}", "--insecure-skip-tls-verify", "--cacert={other-ca.crt}", "--cert={client.crt}", "--key={client.key}", "get", "tls-key"],
    },
    { args: ["--endpoints={URL}", ...full, "member", "list", "-w", "table"] },
    { args: ["--endpoints={URL}", ...full, "endpoint", "status", "--cluster"] },
    { args: ["--endpoints={URL}", ...full, "endpoint", "health", "--cluster", "-w", "json"], health: true },
    // refused at the handshake: etcdctl waits for a connection until the command deadline
    { args: ["--endpoints={URL}", "--cacert={ca.crt}", t, "get", "tls-key"], warn: true },
    { args: ["--endpoints={URL}", "--cacert={ca.crt}", t, "put", "tls-key", "v3"], warn: true },
    { args: ["--endpoints={URL}", "--cacert={other-ca.crt}", "--cert={client.crt}", "--key={client.key}", t, "get", "k"], warn: true },
    { args: ["--endpoints={URL}", "--cacert={ca.crt}", "--cert={other.crt}", "--key={other.key}", t, "get", "k"], warn: true },
    { args: ["--endpoints={URL}", "--insecure-skip-tls-verify", t, "get", "k"], warn: true },
    { args: ["--endpoints={EP}", t, "get", "k"], warn: true },
    { args: ["--endpoints=http://{EP}", ...full, t, "get", "k"], warn: true },
    { args: ["--endpoints={URL}", "--cacert={ca.crt}", t, "endpoint", "health"], warn: true, health: true },
    // bad TLS settings
    { args: ["--endpoints={URL}", "--cacert=", "get", "k"] },
    { args: ["--endpoints={URL}", "--cert=", "get", "k"] },
    { args: ["--endpoints={URL}", "--cacert={ca.crt}", "--cert={client.crt}", "get", "k"] },
    { args: ["--endpoints={URL}", "--key={client.key}", "get", "k"] },
    { args: ["--endpoints={URL}", "--cacert={dir}/missing.crt", "get", "k"] },
    { args: ["--endpoints={URL}", "--cert={dir}/missing.crt", "--key={client.key}", "get", "k"] },
    { args: ["--endpoints={URL}", "--cert={client.crt}", "--key={server.key}", "get", "k"] },
    { args: ["--endpoints={URL}", "--cert={client.crt}", "--key={ca.crt}", "get", "k"] },
    { args: ["--endpoints={URL}", "--cert={empty.pem}", "--key={client.key}", "get", "k"] },
    { args: ["--endpoints={URL}", "--cacert={client.key}", "get", "k"] },
    { args: ["--endpoints={URL}", "--cacert={client.key}", "endpoint", "status", "--cluster"] },
    { args: ["--endpoints={URL}", "--cacert={client.key}", "endpoint", "health"] },
    { args: ["--endpoints={URL}", "--cacert={client.key}", "member", "list"] },
    { args: ["--endpoints={URL}", "--cacert={client.key}", "move-leader", "1"] },
  ];

  for (const c of CASES) {
    it(`${c.args.join(" ")}${c.env ? ` env=${JSON.stringify(c.env)}` : ""}`, async () => {
      const args = c.args.map((a) => f(a.replace("{dir}", dir)));
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(c.env ?? {})) env[k] = f(v);
      const res = [];
      for (const cli of [REAL_ETCDCTL, ETCDCTL_TS]) {
        const r = await runCtl(cli, args, env);
        let stdout = r.stdout.toString("latin1");
        let stderr = normalizeStderr(r.stderr.toString("latin1"), []);
        if (c.warn === true) stderr = dropWarnings(stderr);
        if (c.health === true) {
          stdout = stdout.replace(/"took":"[^"]*"/g, '"took":"T"');
          stderr = stderr.replace(/took = \S+/g, "took = T");
        }
        res.push({ code: r.code, stdout, stderr });
      }
      expect(res[1]).toEqual(res[0]);
    });
  }
});
