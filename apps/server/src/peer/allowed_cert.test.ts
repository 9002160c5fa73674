import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { raftpb } from "@etcd-ts/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Logger } from "../log.js";
import { clientTlsOptions } from "../tls/server_options.js";
import { createCertificate } from "../tls/self_signed.js";
import { makePki, type PkiFiles } from "../tls/testing/pki.js";
import type { TlsInfo } from "../tls/tls_info.js";
import { recordingHandler } from "./testing/recording_handler.js";
import { PeerListener, type PeerListenerTls } from "./server.js";
import { PeerTransport } from "./transport.js";

/**
 * --peer-cert-allowed-cn and --peer-cert-allowed-hostname on the peer listener and on the
 * dialing side, with real TLS connections between a PeerListener and PeerTransports.
 */

const CLUSTER = 0x5eedn;
const LOCAL = 1n;
const REMOTE = 2n;

let pki: PkiFiles;
let dir: string;
const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  pki = await makePki();
  dir = mkdtempSync(join(tmpdir(), "etcd-ts-peer-allowed-"));
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

/** Files are a certificate and its key written to the test dir. */
interface Files {
  cert: string;
  key: string;
}

/** issue writes a certificate from the test CA with this CN and SANs (server and client auth, as etcd peer certificates are). */
async function issue(cn: string, hosts: string[]): Promise<Files> {
  const p = await createCertificate({ commonName: cn, hosts, serverAuth: true, clientAuth: true, validForMs: 3600_000, issuer: pki.pems.ca });
  const base = join(dir, `${cn}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(`${base}.pem`, p.certPem);
  writeFileSync(`${base}-key.pem`, p.keyPem);
  return { cert: `${base}.pem`, key: `${base}-key.pem` };
}

/** Listening is a TLS PeerListener, what it delivered, and its log file. */
interface Listening {
  url: string;
  messages: raftpb.Message[];
  log: string;
}

/** listen serves https://127.0.0.1 with `own` as the server certificate and `info`'s checks (trusted CA and client cert auth unless overridden). */
async function listen(own: Files, info: Partial<TlsInfo>): Promise<Listening> {
  const log = join(dir, `listener-${Math.random().toString(36).slice(2)}.log`);
  const messages: raftpb.Message[] = [];
  const tls: PeerListenerTls = {
    info: { certFile: own.cert, keyFile: own.key, trustedCaFile: pki.caFile, clientCertAuth: true, autoTls: false, cipherSuites: [], ...info },
    skipClientSanVerify: false,
  };
  const l = await PeerListener.listen([new URL("https://127.0.0.1:0")], recordingHandler(CLUSTER, messages), new Logger("warn", [log]), dir, tls);
  cleanup.push(() => l.close());
  return { url: `https://127.0.0.1:${l.addresses[0]?.split(":")[1]}`, messages, log };
}

/** Dialing is a PeerTransport to one peer and its log file. */
interface Dialing {
  t: PeerTransport;
  log: string;
}

/** dial is a PeerTransport presenting `own`, trusting the test CA, with `info`'s allowed names. */
function dial(url: string, own: Files, info: Partial<TlsInfo> = {}): Dialing {
  const log = join(dir, `dialer-${Math.random().toString(36).slice(2)}.log`);
  const t = new PeerTransport({
    memberId: LOCAL,
    clusterId: () => CLUSTER,
    logger: new Logger("warn", [log]),
    tls: clientTlsOptions({ certFile: own.cert, keyFile: own.key, trustedCaFile: pki.caFile, clientCertAuth: false, autoTls: false, cipherSuites: [], ...info }),
    reportUnreachable: () => undefined,
    reportSnapshot: () => undefined,
    snapshotSource: async () => undefined,
    removed: () => undefined,
    step: () => undefined,
  });
  t.setPeers([{ id: REMOTE, peerUrls: [url] }]);
  cleanup.push(() => t.stop());
  return { t, log };
}

const heartbeat = (): raftpb.Message => raftpb.Message.fromPartial({ type: raftpb.MessageType.MSG_HEARTBEAT, from: LOCAL, to: REMOTE, term: 3n });

/** delivered sends heartbeats until the listener took one. */
async function delivered(d: Dialing, l: Listening, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (l.messages.length === 0) {
    if (Date.now() > deadline) throw new Error("no message delivered");
    d.t.send([heartbeat()]);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(l.messages[0]).toMatchObject({ type: raftpb.MessageType.MSG_HEARTBEAT, from: LOCAL, term: 3n });
}

/** kept sends heartbeats until `done` holds, then checks that none arrived and the link never came up. */
async function keptOut(d: Dialing, l: Listening, done: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    d.t.send([heartbeat()]);
    await new Promise((r) => setTimeout(r, 50));
  }
  // A few more sends after the refusal: none gets through either.
  for (let i = 0; i < 5; i++) {
    d.t.send([heartbeat()]);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(l.messages).toEqual([]);
  expect(d.t.activeSince(REMOTE)).toBe(0);
}

const logOf = (path: string): string => (existsSync(path) ? readFileSync(path, "utf8") : "");

describe("--peer-cert-allowed-cn on the peer listener", () => {
  it("serves a peer whose certificate carries the allowed CN and refuses another, logging etcd's rejected connection and telling the peer why", async () => {
    const server = await issue("etcd-peer", ["127.0.0.1"]);
    const l = await listen(server, { allowedCn: "etcd-peer" });
    const intruder = dial(l.url, await issue("intruder", ["127.0.0.1"]));
    await keptOut(intruder, l, () => logOf(l.log).includes("rejected connection") && logOf(intruder.log).includes("remote peer rejected connection"));
    // etcd's line: embed's logTLSHandshakeFailure with the certificate's names.
    expect(logOf(l.log)).toMatch(
      /"msg":"rejected connection","remote-addr":"127\.0\.0\.1:\d+","server-name":"","ip-addresses":\["127\.0\.0\.1"\],"dns-names":\[\],"error":"client certificate authentication failed"/,
    );
    // The refused member's transport logs the reason the listener sent it.
    expect(logOf(intruder.log)).toMatch(/"msg":"remote peer rejected connection",.*"remote-peer-id":"2",.*"error":"client certificate authentication failed"/);
    // Logged once, not at every redial.
    expect(logOf(intruder.log).split("remote peer rejected connection").length).toBe(2);
    await delivered(dial(l.url, await issue("etcd-peer", ["127.0.0.1"])), l);
  });

  it("checks nothing when the listener asks for no client certificate (no trusted CA, no client cert auth), as etcd", async () => {
    const l = await listen(await issue("etcd-peer", ["127.0.0.1"]), { trustedCaFile: "", clientCertAuth: false, allowedCn: "etcd-peer" });
    await delivered(dial(l.url, await issue("intruder", ["127.0.0.1"])), l);
    expect(logOf(l.log)).not.toContain("rejected connection");
  });
});

describe("--peer-cert-allowed-hostname on the peer listener", () => {
  it("serves a peer whose certificate is valid for the allowed hostname and refuses another", async () => {
    const l = await listen(await issue("etcd-peer", ["127.0.0.1"]), { allowedHostname: "peer.example.com" });
    const other = dial(l.url, await issue("peer.example.com", ["127.0.0.1", "other.example.com"]));
    await keptOut(other, l, () => logOf(l.log).includes("rejected connection"));
    expect(logOf(l.log)).toMatch(/"msg":"rejected connection",.*"ip-addresses":\["127\.0\.0\.1"\],"dns-names":\["other\.example\.com"\],"error":"client certificate authentication failed"/);
    await delivered(dial(l.url, await issue("etcd-peer", ["127.0.0.1", "*.example.com"])), l);
  });
});

describe("the allowed CN or hostname when dialing a peer", () => {
  it("refuses a peer whose server certificate does not match, as etcd's client configuration does", async () => {
    const own = await issue("etcd-peer", ["127.0.0.1"]);
    // The listener checks nothing: only the dialer's own check can keep the message out.
    const intruder = await listen(await issue("intruder", ["127.0.0.1"]), { trustedCaFile: "", clientCertAuth: false });
    const d = dial(intruder.url, own, { allowedCn: "etcd-peer" });
    for (let i = 0; i < 20; i++) {
      d.t.send([heartbeat()]);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(intruder.messages).toEqual([]);
    expect(d.t.activeSince(REMOTE)).toBe(0);
    const peer = await listen(await issue("etcd-peer", ["127.0.0.1"]), { trustedCaFile: "", clientCertAuth: false });
    await delivered(dial(peer.url, own, { allowedCn: "etcd-peer" }), peer);
    const byName = await listen(await issue("x", ["127.0.0.1", "peer.example.com"]), { trustedCaFile: "", clientCertAuth: false });
    await delivered(dial(byName.url, own, { allowedHostname: "peer.example.com" }), byName);
  });
});
