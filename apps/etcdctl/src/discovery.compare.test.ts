import type { Socket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aAnswer, freePort, makeTestPki, resolvConfText, srvAnswer, startDnsServer, stopProcess, waitHealthy, withResolvConf, type DnsAnswer } from "@etcd-ts/test-kit";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { serverFromEnv, startServer, type RunningServer } from "./testing/server.js";

/**
 * --discovery-srv, --discovery-srv-name and --insecure-discovery: both CLIs find their
 * endpoints in DNS SRV records served by a small DNS server (test-kit's startDnsServer) on 127.0.0.153:53.
 * Each CLI runs in a mount namespace of its own (unshare --mount, as root) where
 * /etc/resolv.conf names that server, so Go's resolver and Node's read the same records
 * without the machine's configuration changing. Outputs and exit codes are compared.
 */

const DOMAIN = "etcd-ts.test";

describe("DNS discovery of endpoints: etcdctl vs etcdctl-ts", () => {
  let server: RunningServer;
  let dns: Socket;
  let dir: string;
  let resolv: string;
  let port: string;
  /** tlsServer serves https with a certificate valid for TLS_DOMAIN only (not for m1.<domain>, nor 127.0.0.1). */
  let tlsServer: ChildProcess | undefined;
  let tlsPort: number;
  const TLS_DOMAIN = `tls.${DOMAIN}`;
  const pki = makeTestPki("discovery", { serverDnsNames: [TLS_DOMAIN] });

  beforeAll(async () => {
    // With the v2 API on, for the ETCDCTL_API=2 cases.
    const spawn = serverFromEnv();
    server = await startServer((a) => spawn({ ...a, extraFlags: [...(a.extraFlags ?? []), "--enable-v2"] }));
    port = server.endpoint.split(":")[1] as string;
    dir = mkdtempSync(join(tmpdir(), "etcdctl-dns-"));
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    tlsPort = await freePort();
    const peer = `http://127.0.0.1:${await freePort()}`;
    tlsServer = serverFromEnv()({
      name: "tls",
      dataDir: join(dir, "tls-data"),
      clientUrl: `https://127.0.0.1:${tlsPort}`,
      listenPeerUrl: peer,
      advertisePeerUrl: peer,
      extraFlags: ["--cert-file", file("server.crt", pki.server.cert), "--key-file", file("server.key", pki.server.key)],
    });
    file("ca.crt", pki.ca.cert);
    await waitHealthy(`https://127.0.0.1:${tlsPort}`, { timeoutMs: 20_000, name: "testing: TLS server", exited: () => tlsServer?.exitCode !== null });
    const srv = (name: string, p: number): DnsAnswer => srvAnswer(name, `m1.${DOMAIN}`, p);
    dns = await startDnsServer(
      new Map<string, DnsAnswer[]>([
        [`_etcd-client._tcp.${DOMAIN}`, [srv(`_etcd-client._tcp.${DOMAIN}`, Number(port))]],
        [`_etcd-client-ssl._tcp.${DOMAIN}`, []],
        [`_etcd-client-other._tcp.${DOMAIN}`, [srv(`_etcd-client-other._tcp.${DOMAIN}`, Number(port))]],
        // The TLS member, under a domain its certificate names, and under one it does not.
        [`_etcd-client-ssl._tcp.${TLS_DOMAIN}`, [srv(`_etcd-client-ssl._tcp.${TLS_DOMAIN}`, tlsPort)]],
        [`_etcd-client._tcp.${TLS_DOMAIN}`, []],
        [`_etcd-client-ssl._tcp.wrong.test`, [srv(`_etcd-client-ssl._tcp.wrong.test`, tlsPort)]],
        [`_etcd-client._tcp.wrong.test`, []],
        [`m1.${DOMAIN}`, [aAnswer(`m1.${DOMAIN}`, "127.0.0.1")]],
      ]),
    );
    resolv = join(dir, "resolv.conf");
    writeFileSync(resolv, resolvConfText());
  }, 30_000);
  afterAll(async () => {
    dns?.close();
    await server?.stop();
    if (tlsServer !== undefined) await stopProcess(tlsServer);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** inNamespace runs cli with /etc/resolv.conf bind-mounted from this test's file, in a private mount namespace. */
  const inNamespace = (cli: string[]): string[] => withResolvConf(resolv, cli);
  const both = async (args: string[], api = "3"): Promise<[CtlResult, CtlResult]> => {
    const env = { ETCDCTL_API: api };
    return [await runCtl(inNamespace(REAL_ETCDCTL), args, env), await runCtl(inNamespace(ETCDCTL_TS), args, env)];
  };
  const same = async (args: string[], api = "3"): Promise<CtlResult> => {
    const [go, ts] = await both(args, api);
    const norm = (r: CtlResult): { stdout: string; stderr: string; code: number | null } => ({
      stdout: r.stdout.toString(),
      stderr: normalizeStderr(r.stderr.toString(), [server.endpoint]),
      code: r.code,
    });
    expect(norm(ts)).toEqual(norm(go));
    return ts;
  };

  it("finds the endpoints in _etcd-client._tcp SRV records and works through them", async () => {
    expect((await same(["--discovery-srv", DOMAIN, "put", "dns", "found"])).stdout.toString()).toBe("OK\n");
    expect((await same(["-d", DOMAIN, "get", "dns"])).stdout.toString()).toBe("dns\nfound\n");
    const members = await same(["-d", DOMAIN, "member", "list", "-w", "json"]);
    expect(members.code).toBe(0);
  });

  it("finds the endpoints for ETCDCTL_API=2 too (-D, --insecure-discovery; http ones dropped without it)", async () => {
    expect((await same(["-D", DOMAIN, "--insecure-discovery", "set", "/v2dns", "found"], "2")).stdout.toString()).toBe("found\n");
    expect((await same(["--discovery-srv", DOMAIN, "--insecure-discovery", "get", "/v2dns"], "2")).stdout.toString()).toBe("found\n");
    // Without --insecure-discovery the http endpoint is dropped: the default endpoints are used, where nothing listens.
    const r = await same(["-D", DOMAIN, "--endpoints", "http://127.0.0.1:1", "get", "/v2dns"], "2");
    expect(r.stderr.toString()).toContain(`ignoring discovered insecure endpoint "http://m1.${DOMAIN}.:${port}"`);
    expect(r.code).toBe(2);
  });

  it("appends --discovery-srv-name to the service", async () => {
    expect((await same(["-d", DOMAIN, "--discovery-srv-name", "other", "get", "dns", "--print-value-only"])).stdout.toString()).toBe("found\n");
  });

  it("drops insecure (http) endpoints with --insecure-discovery=false, falling back to --endpoints, over TLS for the domain", async () => {
    // The domain becomes the TLS server name, which turns TLS on: the plain-text member
    // cannot be reached, by either CLI.
    const r = await same(["-d", DOMAIN, "--insecure-discovery=false", "--endpoints", server.endpoint, "--command-timeout", "1s", "get", "dns"]);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toContain(`ignoring discovered insecure endpoint "http://m1.${DOMAIN}.:${port}"`);
    expect(r.stderr.toString()).toContain("Error: context deadline exceeded");
  });

  it("checks every member's certificate against the domain with --insecure-discovery=false", async () => {
    const ca = join(dir, "ca.crt");
    // m1.etcd-ts.test. is not in the certificate, the domain is: both CLIs connect.
    const ok = await same(["-d", TLS_DOMAIN, "--insecure-discovery=false", "--cacert", ca, "put", "tls", "yes"]);
    expect(ok.stdout.toString()).toBe("OK\n");
    // Without the check the endpoint's own name fails verification, as in etcdctl.
    const loose = await same(["-d", TLS_DOMAIN, "--cacert", ca, "--command-timeout", "1s", "get", "tls"]);
    expect(loose.code).toBe(1);
    // A domain the certificate does not name: refused.
    const wrong = await same(["-d", "wrong.test", "--insecure-discovery=false", "--cacert", ca, "--command-timeout", "1s", "get", "tls"]);
    expect(wrong.code).toBe(1);
  });

  it("fails with both lookup errors when the domain has no records", async () => {
    const r = await same(["-d", "nothing.test", "get", "dns"]);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toContain("dns lookup errors: lookup _etcd-client-ssl._tcp.nothing.test");
  });

  it("ignores discovery for endpoint commands without --cluster, and uses it with --cluster", async () => {
    // Without --cluster the --endpoints flag is used as given (etcdctl 3.4), not the discovered "http://m1.etcd-ts.test.:port".
    const flagEp = `http://${server.endpoint}`;
    const [goSt, tsSt] = await both(["-d", DOMAIN, "--endpoints", flagEp, "endpoint", "status", "-w", "json"]);
    const eps = (r: CtlResult): unknown => (JSON.parse(r.stdout.toString()) as Array<{ Endpoint: string }>).map((x) => x.Endpoint);
    expect(eps(tsSt)).toEqual(eps(goSt));
    expect(eps(tsSt)).toEqual([flagEp]);
    // With --cluster the discovered endpoints find the members (nothing listens on 127.0.0.1:1).
    const [go, ts] = await both(["-d", DOMAIN, "--endpoints", "127.0.0.1:1", "endpoint", "health", "--cluster", "-w", "json"]);
    const health = (r: CtlResult): unknown => (JSON.parse(r.stdout.toString()) as Array<{ endpoint: string; health: boolean }>).map((h) => [h.endpoint, h.health]);
    expect([ts.code, health(ts)]).toEqual([go.code, health(go)]);
    expect(health(ts)).toEqual([[`http://127.0.0.1:${port}`, true]]);
  });
});
