import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, REAL_ETCDCTL, run, serverCommand, spawnServer, stopProcess, until, writeTestPki, type PkiFiles, type ServerKind, type Spawned } from "@etcd-ts/test-kit";
import { opensslCrl, type CrlFiles } from "./harness/openssl_crl.js";

/**
 * --client-crl-file and --peer-crl-file side by side: the real etcd 3.4 and etcd-ts, each
 * started with the same certificates and an OpenSSL-made CRL (PEM or DER) revoking the
 * client certificate, driven by the real etcdctl and curl. Both must refuse the revoked
 * certificate, serve another one, and start with a CRL file they cannot read.
 */

const KINDS: ServerKind[] = ["etcd", "etcd-ts"];

let pki: PkiFiles;
let crl: CrlFiles;
let serial: string;
beforeAll(() => {
  pki = writeTestPki();
  crl = opensslCrl(pki.dir, pki.pki.ca, [pki.clientCert], "revokes-client");
  serial = execFileSync("openssl", ["x509", "-in", pki.clientCert, "-noout", "-serial"], { encoding: "utf8" }).trim().replace(/^serial=/, "").toLowerCase();
});
afterAll(() => pki.remove());

/** Started is one running single-member server and what reaches it. */
interface Started {
  spawned: Spawned;
  clientUrl: string;
  peerUrl: string;
  logFile: string;
  dir: string;
}

/** start runs a single member of `kind` with https client and peer URLs, client certificate auth on both, and the given CRL file on both. */
async function start(kind: ServerKind, crlFile: string): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), `e2e-crl-${kind}-`));
  const clientUrl = `https://127.0.0.1:${await freePort()}`;
  const peerUrl = `https://127.0.0.1:${await freePort()}`;
  const logFile = join(dir, "server.log");
  const args = [
    "--name", "crl",
    "--data-dir", join(dir, "data"),
    "--listen-client-urls", clientUrl,
    "--advertise-client-urls", clientUrl,
    "--listen-peer-urls", peerUrl,
    "--initial-advertise-peer-urls", peerUrl,
    "--initial-cluster", `crl=${peerUrl}`,
    "--cert-file", pki.serverCert, "--key-file", pki.serverKey, "--trusted-ca-file", pki.caFile, "--client-cert-auth", "--client-crl-file", crlFile,
    "--peer-cert-file", pki.serverCert, "--peer-key-file", pki.serverKey, "--peer-trusted-ca-file", pki.caFile, "--peer-client-cert-auth", "--peer-crl-file", crlFile,
  ];
  const spawned = spawnServer(serverCommand(kind), args, { logFile });
  const s = { spawned, clientUrl, peerUrl, logFile, dir };
  // Health checks present a certificate, which a CRL that cannot be read refuses: wait for the log line instead.
  await until(async () => (existsSync(logFile) && readFileSync(logFile, "utf8").includes("ready to serve client requests") ? true : undefined), 30_000, {
    giveUp: () => (spawned.proc.exitCode !== null ? `${kind} exited:\n${readFileSync(logFile, "utf8").slice(-2000)}` : undefined),
  });
  return s;
}

async function stop(s: Started): Promise<void> {
  await stopProcess(s.spawned.proc);
  rmSync(s.dir, { recursive: true, force: true });
}

/** Outcome is what a client saw: its exit code and output, the error line of a failure. */
type Outcome = { code: number | null; out: string };

/** put runs the real etcdctl `put` presenting `cert`, with short timeouts (a refused client retries until they pass). */
async function put(s: Started, cert: string, key: string): Promise<Outcome> {
  const r = await run(REAL_ETCDCTL, ["--endpoints", s.clientUrl, "--cacert", pki.caFile, "--cert", cert, "--key", key, "--dial-timeout", "1s", "--command-timeout", "2s", "put", "crl-key", "v"], {
    env: { ETCDCTL_API: "3" },
  });
  return { code: r.code, out: r.code === 0 ? r.stdout : (r.stderr.trim().split("\n").pop() ?? "") };
}

/**
 * peerServed tells whether a TLS connection to the peer URL presenting `cert` is served: after
 * the handshake it sends a request and waits for any byte back (an HTTP/1.1 answer from etcd,
 * HTTP/2 settings from etcd-ts, whose peer protocol differs); a refused connection is closed
 * without one.
 */
function peerServed(s: Started, cert: string, key: string): Promise<boolean> {
  const u = new URL(s.peerUrl);
  return new Promise((resolve) => {
    const c = tlsConnect({ host: u.hostname, port: Number(u.port), servername: "localhost", ca: readFileSync(pki.caFile), cert: readFileSync(cert), key: readFileSync(key) });
    const done = (served: boolean): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(served);
    };
    const timer = setTimeout(() => done(false), 5000);
    c.on("secureConnect", () => c.write("GET /members HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    c.on("data", () => done(true));
    c.on("end", () => done(false));
    c.on("error", () => done(false));
  });
}

/** Seen is every outcome of one server, compared between the kinds. */
interface Seen {
  revoked: Outcome;
  other: Outcome;
  peerRevoked: boolean;
  peerOther: boolean;
  loggedRevoked: boolean;
}

async function observe(s: Started): Promise<Seen> {
  const seen: Seen = {
    revoked: await put(s, pki.clientCert, pki.clientKey),
    other: await put(s, pki.serverCert, pki.serverKey),
    peerRevoked: await peerServed(s, pki.clientCert, pki.clientKey),
    peerOther: await peerServed(s, pki.serverCert, pki.serverKey),
    loggedRevoked: false,
  };
  seen.loggedRevoked = readFileSync(s.logFile, "utf8").includes(`certificate serial ${serial} revoked`);
  return seen;
}

describe("CRLs: etcd 3.4 and etcd-ts side by side", () => {
  for (const format of ["pem", "der"] as const) {
    it(`refuses a client and a peer certificate revoked by a ${format.toUpperCase()} CRL and serves others`, async () => {
      const seen: Record<string, Seen> = {};
      for (const kind of KINDS) {
        const s = await start(kind, crl[format]);
        try {
          seen[kind] = await observe(s);
        } finally {
          await stop(s);
        }
      }
      expect(seen.etcd).toEqual({
        revoked: { code: 1, out: "Error: context deadline exceeded" },
        other: { code: 0, out: "OK\n" },
        peerRevoked: false,
        peerOther: true,
        loggedRevoked: true,
      });
      expect(seen["etcd-ts"]).toEqual(seen.etcd);
    });
  }

  it("starts with a CRL file it cannot read and refuses every client certificate", async () => {
    const seen: Record<string, Outcome[]> = {};
    for (const kind of KINDS) {
      const s = await start(kind, join(pki.dir, "no-such.crl"));
      try {
        seen[kind] = [await put(s, pki.clientCert, pki.clientKey), await put(s, pki.serverCert, pki.serverKey)];
        expect(readFileSync(s.logFile, "utf8")).toContain(`open ${join(pki.dir, "no-such.crl")}: no such file or directory`);
      } finally {
        await stop(s);
      }
    }
    expect(seen.etcd).toEqual([
      { code: 1, out: "Error: context deadline exceeded" },
      { code: 1, out: "Error: context deadline exceeded" },
    ]);
    expect(seen["etcd-ts"]).toEqual(seen.etcd);
  });
});
