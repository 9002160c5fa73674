import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configFails, runConfig } from "../testing/config.js";
import { loadConfig, type ServerConfig } from "./config.js";
import { ConfigError, parseDurationMs } from "./parse.js";

const run = runConfig;
const fails = configFails;

describe("config", () => {
  it("has etcd's defaults", () => {
    const c = run([]);
    expect(c.name).toBe("default");
    expect(c.dataDir).toBe("default.etcd");
    expect(c.snapshotCount).toBe(100000);
    expect(c.heartbeatMs).toBe(100);
    expect(c.electionMs).toBe(1000);
    expect(c.maxTxnOps).toBe(128);
    expect(c.maxRequestBytes).toBe(1572864);
    expect(c.listenClientUrls.map((u) => u.href)).toEqual(["http://localhost:2379/"]);
    expect([...c.initialCluster]).toEqual([["default", ["http://localhost:2380"]]]);
    expect(c.initialClusterToken).toBe("etcd-cluster");
  });

  it("derives data-dir from name and accepts Go flag spellings", () => {
    const c = run(["-name", "n1", "--snapshot-count=7", "--pre-vote", "--max-txn-ops", "3"]);
    expect(c.dataDir).toBe("n1.etcd");
    expect(c.snapshotCount).toBe(7);
    expect(c.preVote).toBe(true);
    expect(c.maxTxnOps).toBe(3);
    expect(run(["--pre-vote=false"]).preVote).toBe(false);
    // On by default, as in etcd 3.5 (a deaf member's campaigns then do not raise its term).
    expect(run([]).preVote).toBe(true);
  });

  it("reads ETCD_* variables, and refuses one shadowed by a flag", () => {
    expect(run([], { ETCD_NAME: "envname", ETCD_MAX_REQUEST_BYTES: "10" }).maxRequestBytes).toBe(10);
    expect(run([], { ETCD_NAME: "envname" }).dataDir).toBe("envname.etcd");
    const e = fails(["--name", "a"], { ETCD_NAME: "b" });
    expect(e.message).toContain('conflicting environment variable "ETCD_NAME" is shadowed');
    expect(run([], { ETCD_UNKNOWN_THING: "x" }).warnings[0]).toContain("unrecognized environment variable ETCD_UNKNOWN_THING");
    expect(run([], { ETCD_TS_FAILPOINTS_HTTP: "127.0.0.1:1" }).warnings).toEqual([]);
  });

  it("refuses unknown flags and bad values with exit code 2", () => {
    const e = fails(["--foo"]);
    expect(e.message).toBe("flag provided but not defined: -foo");
    expect(e.exitCode).toBe(2);
    expect(fails(["--snapshot-count", "abc"]).message).toBe('invalid value "abc" for flag -snapshot-count: parse error');
    expect(fails(["--name"]).message).toBe("flag needs an argument: -name");
    expect(fails(["positional"]).exitCode).toBe(2);
  });

  it("refuses features that are not built instead of ignoring them", () => {
    expect(fails(["--force-new-cluster"]).message).toContain("not supported by etcd-ts yet");
  });

  it("takes one of --initial-cluster, --discovery and --discovery-srv, as etcd", () => {
    const conflict = 'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"';
    expect(fails(["--discovery", "http://d/x", "--initial-cluster", "default=http://localhost:2380"]).message).toBe(conflict);
    expect(fails(["--discovery", "http://d/x", "--discovery-srv", "example.test"]).message).toBe(conflict);
    expect(fails(["--discovery-srv", "example.test", "--initial-cluster", "default=http://localhost:2380"]).message).toBe(conflict);
    expect(fails(["--discovery-fallback", "maybe"]).message).toBe('invalid value "maybe" for flag -discovery-fallback: invalid value');
    // With --discovery the member's own entry is its initial cluster, and the token URL its cluster token.
    const c = run(["--name", "n1", "--initial-advertise-peer-urls", "http://10.0.0.1:2380", "--discovery", "http://d:2379/v2/keys/discovery/t"]);
    expect([...c.initialCluster]).toEqual([["n1", ["http://10.0.0.1:2380"]]]);
    expect(c.initialClusterToken).toBe("http://d:2379/v2/keys/discovery/t");
  });

  it("takes unix:// and unixs:// URLs with host:port and no path, as etcd's types.NewURLs does", () => {
    const c = run([
      "--listen-client-urls", "unix://localhost:12345,http://127.0.0.1:2379",
      "--advertise-client-urls", "unix://localhost:12345",
      "--listen-peer-urls", "unix://localhost:12346",
      "--initial-advertise-peer-urls", "unix://localhost:12346",
    ]);
    expect(c.listenClientUrls.map((u) => [u.protocol, u.host])).toEqual([["unix:", "localhost:12345"], ["http:", "127.0.0.1:2379"]]);
    expect(c.listenPeerUrls[0]?.host).toBe("localhost:12346");
    expect(c.initialCluster.get("default")).toEqual(["unix://localhost:12346"]);
    const noPort = fails(["--listen-client-urls", "unix://localhost"]);
    expect(noPort.message).toBe('invalid value "unix://localhost" for flag -listen-client-urls: URL address does not have the form "host:port": unix://localhost');
    expect(fails(["--listen-client-urls", "unix:///tmp/etcd.sock"]).message).toContain('URL address does not have the form "host:port"');
    expect(fails(["--listen-client-urls", "unix://localhost:1/sock"]).message).toContain("URL must not contain a path");
    expect(fails(["--listen-client-urls", "unixs://localhost:1"]).message).toBe(
      "TLS key/cert (--cert-file, --key-file) must be provided for client url unixs://localhost:1 with HTTPS scheme",
    );
    expect(fails(["--listen-peer-urls", "unixs://localhost:2"]).message).toBe("cannot listen on TLS for localhost:2: KeyFile and CertFile are not presented");
    const tls = run(["--listen-client-urls", "unixs://localhost:1", "--cert-file", "s.pem", "--key-file", "k.pem"]);
    expect(tls.clientTls?.certFile).toBe("s.pem");
  });

  it("reads the client and peer TLS flags", () => {
    const c = run([
      "--listen-client-urls", "https://127.0.0.1:2379",
      "--cert-file", "s.pem", "--key-file", "s-key.pem", "--trusted-ca-file", "ca.pem", "--client-cert-auth",
      "--client-crl-file", "c.crl", "--client-cert-allowed-hostname", "client.example",
      "--listen-peer-urls", "https://127.0.0.1:2380",
      "--peer-cert-file", "p.pem", "--peer-key-file", "p-key.pem", "--peer-trusted-ca-file", "pca.pem", "--peer-client-cert-auth",
      "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ]);
    expect(c.clientTls).toEqual({
      certFile: "s.pem", keyFile: "s-key.pem", trustedCaFile: "ca.pem", clientCertAuth: true, autoTls: false,
      cipherSuites: ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
      crlFile: "c.crl", allowedHostname: "client.example",
    });
    expect(c.peerTls).toEqual({
      certFile: "p.pem", keyFile: "p-key.pem", trustedCaFile: "pca.pem", clientCertAuth: true, autoTls: false,
      cipherSuites: ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
    });
    expect(c.listenClientUrls[0]?.protocol).toBe("https:");
    expect(c.peerSkipClientSanVerify).toBe(false);
    expect(run(["--experimental-peer-skip-client-san-verification"]).peerSkipClientSanVerify).toBe(true);
    const plain = run([]);
    expect(plain.clientTls).toBeUndefined();
    expect(plain.peerTls).toBeUndefined();
    const auto = run(["--auto-tls", "--peer-auto-tls", "--listen-client-urls", "https://127.0.0.1:2379", "--listen-peer-urls", "https://127.0.0.1:2380"]);
    expect(auto.clientTls?.autoTls).toBe(true);
    expect(auto.peerTls?.autoTls).toBe(true);
    const env = run([], { ETCD_CERT_FILE: "e.pem", ETCD_KEY_FILE: "e-key.pem", ETCD_LISTEN_CLIENT_URLS: "https://127.0.0.1:2379" });
    expect(env.clientTls?.certFile).toBe("e.pem");
  });

  it("refuses an https URL without a certificate, with etcd's messages", () => {
    expect(fails(["--listen-client-urls", "https://127.0.0.1:2379"]).message).toBe(
      "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme",
    );
    expect(fails(["--listen-peer-urls", "https://127.0.0.1:2380"]).message).toBe(
      "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented",
    );
    expect(fails(["--listen-client-urls", "https://127.0.0.1:2379", "--cert-file", "s.pem"]).message).toBe(
      "KeyFile and CertFile must both be present[key: , cert: s.pem]",
    );
    expect(fails(["--listen-client-urls", "https://127.0.0.1:2379", "--trusted-ca-file", "ca.pem"]).exitCode).toBe(1);
  });

  it("refuses an unknown cipher suite whatever the URLs, like etcd", () => {
    expect(fails(["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_FOO"]).message).toBe('unexpected TLS cipher suite "TLS_FOO"');
  });

  it("reads --peer-cert-allowed-cn and --peer-cert-allowed-hostname from flags, ETCD_ variables and the config file", () => {
    const peer = ["--listen-peer-urls", "https://127.0.0.1:2380", "--peer-cert-file", "p.pem", "--peer-key-file", "p-key.pem"];
    expect(run([...peer, "--peer-cert-allowed-cn", "etcd-peer"]).peerTls).toMatchObject({ certFile: "p.pem", allowedCn: "etcd-peer" });
    expect(run([...peer, "--peer-cert-allowed-hostname", "peer.example.com"]).peerTls?.allowedHostname).toBe("peer.example.com");
    const env = run(peer, { ETCD_PEER_CERT_ALLOWED_CN: "env-cn", ETCD_PEER_CERT_ALLOWED_HOSTNAME: "env.example.com" });
    expect(env.peerTls).toMatchObject({ allowedCn: "env-cn", allowedHostname: "env.example.com" });
    // Unset, they are absent; they belong to the peer side only.
    expect(run(peer).peerTls).not.toHaveProperty("allowedCn");
    expect(run(peer).peerTls).not.toHaveProperty("allowedHostname");
    expect(run([...peer, "--cert-file", "c.pem", "--key-file", "k.pem", "--peer-cert-allowed-cn", "x"]).clientTls).not.toHaveProperty("allowedCn");
    // etcd 3.4's YAML has no field for them in peer-transport-security; etcd-ts takes the flag names as keys.
    const file = join(mkdtempSync(join(tmpdir(), "etcd-ts-cfg-")), "etcd.yaml");
    writeFileSync(file, ["listen-peer-urls: https://127.0.0.1:2380", "peer-transport-security:", "  cert-file: p.pem", "  key-file: p-key.pem", "peer-cert-allowed-cn: file-cn", ""].join("\n"));
    expect(run(["--config-file", file]).peerTls).toMatchObject({ certFile: "p.pem", allowedCn: "file-cn" });
    writeFileSync(file, "peer-transport-security:\n  allowed-cn: x\n");
    expect(fails(["--config-file", file]).message).toContain('unknown field "peer-transport-security.allowed-cn"');
    // Both at once is an error only where etcd's is: when the TLS configuration is built at start (see tls/allowed_names.test.ts).
    expect(run([...peer, "--peer-cert-allowed-cn", "a", "--peer-cert-allowed-hostname", "b"]).peerTls).toMatchObject({ allowedCn: "a", allowedHostname: "b" });
  });

  it("warns that TLS files on an http-only side are ignored", () => {
    const c = run(["--cert-file", "s.pem", "--key-file", "k.pem", "--client-cert-auth"]);
    expect(c.clientTls?.certFile).toBe("s.pem");
    expect(c.warnings).toEqual([
      "scheme is HTTP while key and cert files are present; ignoring key and cert files (client-url http://localhost:2379)",
      "scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for this URL (client-url http://localhost:2379)",
    ]);
  });

  it("reads etcd's client-transport-security and peer-transport-security config-file blocks", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcd-ts-cfg-"));
    const file = join(dir, "etcd.yaml");
    writeFileSync(
      file,
      [
        "listen-client-urls: https://127.0.0.1:2379",
        "listen-peer-urls: https://127.0.0.1:2380",
        "cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]",
        "client-transport-security:",
        "  cert-file: /c/server.pem",
        "  key-file: /c/server-key.pem",
        "  client-cert-auth: true",
        "  trusted-ca-file: /c/ca.pem",
        "peer-transport-security:",
        "  auto-tls: true",
        "",
      ].join("\n"),
    );
    const c = run(["--config-file", file]);
    expect(c.clientTls).toMatchObject({ certFile: "/c/server.pem", keyFile: "/c/server-key.pem", clientCertAuth: true, trustedCaFile: "/c/ca.pem" });
    expect(c.clientTls?.cipherSuites).toEqual(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]);
    expect(c.peerTls).toMatchObject({ certFile: "", autoTls: true });
    writeFileSync(file, "client-transport-security:\n  cert: x\n");
    expect(fails(["--config-file", file]).message).toContain('unknown field "client-transport-security.cert"');
  });

  it("checks the election timeout against the heartbeat", () => {
    expect(fails(["--heartbeat-interval", "100", "--election-timeout", "300"]).message).toContain("at least as 5 times");
  });

  it("loads a YAML config file that replaces flags and variables", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcd-ts-cfg-"));
    const file = join(dir, "etcd.yaml");
    writeFileSync(file, "name: fromfile\nsnapshot-count: 42\nlisten-client-urls: http://127.0.0.1:1234\n");
    const c = run(["--config-file", file, "--snapshot-count", "5"]);
    expect(c.name).toBe("fromfile");
    expect(c.snapshotCount).toBe(42);
    expect(c.listenClientUrls[0]?.port).toBe("1234");
    writeFileSync(file, "nope: 1\n");
    expect(fails(["--config-file", file]).message).toContain('unknown field "nope"');
  });

  it("parses Go durations", () => {
    expect(parseDurationMs("5s")).toBe(5000);
    expect(parseDurationMs("2h")).toBe(7_200_000);
    expect(parseDurationMs("1m30s")).toBe(90_000);
    expect(parseDurationMs("100ms")).toBe(100);
    expect(parseDurationMs("1.5s")).toBe(1500);
    expect(() => parseDurationMs("5")).toThrow(ConfigError);
  });

  it("answers --help and --version", () => {
    expect(loadConfig(["--help"], {}).kind).toBe("help");
    expect(loadConfig(["--version"], {}).kind).toBe("version");
  });
});
