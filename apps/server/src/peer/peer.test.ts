import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { raftpb } from "@etcd-ts/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Logger } from "../log.js";
import { clientTlsOptions } from "../tls/server_options.js";
import { createCertificate } from "../tls/self_signed.js";
import { createCrl, crlToDer } from "../tls/testing/crl.js";
import { makePki, type PkiFiles } from "../tls/testing/pki.js";
import type { TlsInfo } from "../tls/tls_info.js";
import { recordingHandler } from "./testing/recording_handler.js";
import { PeerListener, type PeerHandler, type PeerListenerTls } from "./server.js";
import type { PeerObserver } from "./observer.js";
import { PeerTransport } from "./transport.js";

const CLUSTER = 0x5eedn;
const LOCAL = 1n;
const REMOTE = 2n;

let pki: PkiFiles;
let dir: string;
const cwd = process.cwd();
const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  pki = await makePki();
  dir = mkdtempSync(join(tmpdir(), "etcd-ts-peer-"));
  // unix:// peer URLs name socket files relative to the working directory, as in etcd.
  process.chdir(dir);
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

/** Received collects what a PeerListener delivers to its member. */
interface Received {
  messages: raftpb.Message[];
  /** bytes is the batch bytes counted per sending peer (the metrics' received bytes). */
  bytes: Map<bigint, number>;
  handler: PeerHandler;
}

function received(): Received {
  const messages: raftpb.Message[] = [];
  const bytes = new Map<bigint, number>();
  return { messages, bytes, handler: recordingHandler(CLUSTER, messages, bytes) };
}

/** listen starts a PeerListener whose log goes to a file (read by logOf). */
async function listen(urls: string[], r: Received, tls?: PeerListenerTls): Promise<{ l: PeerListener; log: string }> {
  const log = join(dir, `listener-${Math.random().toString(36).slice(2)}.log`);
  const l = await PeerListener.listen(urls.map((u) => new URL(u)), r.handler, new Logger("warn", [log]), dir, tls);
  cleanup.push(() => l.close());
  return { l, log };
}

function transport(urls: string[], tls?: TlsInfo, clusterId = CLUSTER, observer?: PeerObserver): PeerTransport {
  const t = new PeerTransport({
    ...(observer === undefined ? {} : { observer }),
    memberId: LOCAL,
    clusterId: () => clusterId,
    logger: new Logger("error", ["stderr"]),
    ...(tls !== undefined ? { tls: clientTlsOptions(tls) } : {}),
    reportUnreachable: () => undefined,
    reportSnapshot: () => undefined,
    snapshotSource: async () => undefined,
    removed: () => undefined,
    step: () => undefined,
  });
  t.setPeers([{ id: REMOTE, peerUrls: urls }]);
  cleanup.push(() => t.stop());
  return t;
}

const heartbeat = (term: bigint): raftpb.Message =>
  raftpb.Message.fromPartial({ type: raftpb.MessageType.MSG_HEARTBEAT, from: LOCAL, to: REMOTE, term });

/** deliver sends heartbeats until the listener got one (the first batches may go out before the session is up). */
async function deliver(t: PeerTransport, r: Received, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (r.messages.length === 0) {
    if (Date.now() > deadline) throw new Error("no message delivered");
    t.send([heartbeat(7n)]);
    await new Promise((res) => setTimeout(res, 50));
  }
  expect(r.messages[0]).toMatchObject({ type: raftpb.MessageType.MSG_HEARTBEAT, from: LOCAL, to: REMOTE, term: 7n });
}

/** logOf is what a listener logged so far ("" before its first line). */
function logOf(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((res) => setTimeout(res, 20));
  }
}

const serverInfo = (p: Partial<TlsInfo> = {}): TlsInfo => ({
  certFile: pki.serverCert,
  keyFile: pki.serverKey,
  trustedCaFile: pki.caFile,
  clientCertAuth: true,
  autoTls: false,
  cipherSuites: [],
  ...p,
});
const dialInfo = (certFile: string, keyFile: string): TlsInfo => ({ certFile, keyFile, trustedCaFile: pki.caFile, clientCertAuth: false, autoTls: false, cipherSuites: [] });

describe("peer traffic by POST", () => {
  it("counts each POSTed batch's bytes as received from its sender, and as sent once accepted", async () => {
    const r = received();
    const { l } = await listen(["http://127.0.0.1:0"], r);
    let sent = 0;
    const observer: PeerObserver = { sent: (_to, n) => (sent += n), received: () => undefined, sendFailed: () => undefined, roundTrip: () => undefined };
    const t = transport([`http://127.0.0.1:${l.addresses[0]?.split(":")[1]}`], undefined, CLUSTER, observer);
    await deliver(t, r);
    for (let i = 0; i < 10; i++) t.send([heartbeat(8n)]);
    await until(() => r.messages.length >= 11);
    // Each POST carried one heartbeat (terms 7 and 8 encode to the same length); the sender
    // counts the batches the listener accepted, no more (those sent before it was up failed).
    const batch = raftpb.MessageBatch.encode({ messages: [heartbeat(8n)] }).finish().length;
    expect(r.bytes.get(LOCAL)).toBe(r.messages.length * batch);
    await until(() => sent === r.bytes.get(LOCAL));
  });
});

describe("peer traffic over unix sockets", () => {
  it("listens on the socket file host:port in the working directory (replacing a stale file, as etcd) and takes raft messages", async () => {
    writeFileSync("localhost:23801", "stale");
    const r = received();
    const { l } = await listen(["unix://localhost:23801"], r);
    expect(statSync(join(dir, "localhost:23801")).isSocket()).toBe(true);
    expect(l.addresses).toEqual(["localhost:23801"]);
    const t = transport(["unix://localhost:23801"]);
    await deliver(t, r);
    // The listener takes the message before its answer reaches the transport: the link is up once it does.
    await until(() => t.activeSince(REMOTE) > 0);
    await l.close();
    expect(existsSync(join(dir, "localhost:23801"))).toBe(false);
  });

  it("serves unixs:// with TLS, the dialer verifying the certificate for the URL's host", async () => {
    const r = received();
    await listen(["unixs://localhost:23802"], r, { info: serverInfo(), skipClientSanVerify: false });
    // The client certificate names no address, so etcd's SAN check has nothing to compare.
    await deliver(transport(["unixs://localhost:23802"], dialInfo(pki.clientCert, pki.clientKey)), r);
  });

  it("refuses, as etcd does, a unixs:// peer whose certificate names addresses, unless SAN verification is skipped", async () => {
    const strict = received();
    const { log } = await listen(["unixs://localhost:23803"], strict, { info: serverInfo(), skipClientSanVerify: false });
    transport(["unixs://localhost:23803"], dialInfo(pki.serverCert, pki.serverKey)).send([heartbeat(1n)]);
    await until(() => logOf(log).includes("rejected connection"));
    expect(logOf(log)).toContain('"remote-addr":"@","error":"address @: missing port in address"');
    expect(strict.messages).toEqual([]);
    const lax = received();
    await listen(["unixs://localhost:23804"], lax, { info: serverInfo(), skipClientSanVerify: true });
    await deliver(transport(["unixs://localhost:23804"], dialInfo(pki.serverCert, pki.serverKey)), lax);
  });
});

describe("peer listener certificate checks", () => {
  it("refuses a peer whose certificate a DER or PEM --peer-crl-file revokes, and takes others", async () => {
    const pem = createCrl(pki.pems.ca, [pki.pems.client.certPem]);
    for (const [name, body] of [["peer.pem.crl", pem], ["peer.der.crl", crlToDer(pem)]] as const) {
      const crlFile = join(dir, name);
      writeFileSync(crlFile, body);
      const r = received();
      const { l, log } = await listen(["https://127.0.0.1:0"], r, { info: serverInfo({ crlFile }), skipClientSanVerify: false });
      const url = `https://127.0.0.1:${l.addresses[0]?.split(":")[1]}`;
      const revoked = transport([url], dialInfo(pki.clientCert, pki.clientKey));
      revoked.send([heartbeat(1n)]);
      await until(() => logOf(log).includes("revoked"));
      expect(logOf(log)).toMatch(/"msg":"rejected connection".*"error":"transport: certificate serial [0-9a-f]+ revoked"/);
      expect(r.messages).toEqual([]);
      expect(revoked.activeSince(REMOTE)).toBe(0);
      await deliver(transport([url], dialInfo(pki.serverCert, pki.serverKey)), r);
    }
  });

  it("refuses a peer certificate that names other addresses than the peer's, unless --experimental-peer-skip-client-san-verification", async () => {
    const elsewhere = await createCertificate({ commonName: "elsewhere", hosts: ["10.99.99.99"], clientAuth: true, serverAuth: true, validForMs: 3600_000, issuer: pki.pems.ca });
    const cert = join(dir, "elsewhere.pem");
    const key = join(dir, "elsewhere-key.pem");
    writeFileSync(cert, elsewhere.certPem);
    writeFileSync(key, elsewhere.keyPem);
    const strict = received();
    const a = await listen(["https://127.0.0.1:0"], strict, { info: serverInfo(), skipClientSanVerify: false });
    const t = transport([`https://127.0.0.1:${a.l.addresses[0]?.split(":")[1]}`], dialInfo(cert, key));
    t.send([heartbeat(1n)]);
    await until(() => logOf(a.log).includes("rejected connection"));
    expect(logOf(a.log)).toContain("x509: certificate is valid for 10.99.99.99, not 127.0.0.1");
    expect(strict.messages).toEqual([]);
    const lax = received();
    const b = await listen(["https://127.0.0.1:0"], lax, { info: serverInfo(), skipClientSanVerify: true });
    await deliver(transport([`https://127.0.0.1:${b.l.addresses[0]?.split(":")[1]}`], dialInfo(cert, key)), lax);
  });
});

describe("PeerTransport.activeSince", () => {
  it("is 0 until the peer answers, set by probes even without raft traffic, kept while up, and 0 again once the peer is gone", async () => {
    const r = received();
    const { l } = await listen(["http://127.0.0.1:0"], r);
    const port = Number(l.addresses[0]?.split(":")[1]);
    const t = transport([`http://127.0.0.1:${port}`]);
    expect(t.activeSince(REMOTE)).toBe(0);
    // Nothing is sent: the idle probe brings the link up.
    await until(() => t.activeSince(REMOTE) !== 0);
    const since = t.activeSince(REMOTE);
    await deliver(t, r);
    await new Promise((res) => setTimeout(res, 1200));
    expect(t.activeSince(REMOTE)).toBe(since);
    await l.close();
    await until(() => t.activeSince(REMOTE) === 0);
    // Back up: a new, later activeSince.
    const again = received();
    await listen([`http://127.0.0.1:${port}`], again);
    await until(() => t.activeSince(REMOTE) !== 0, 10_000);
    expect(t.activeSince(REMOTE)).toBeGreaterThan(since);
  });

  it("stays 0 for a peer of another cluster (its answers are refusals)", async () => {
    const r = received();
    const { l, log } = await listen(["http://127.0.0.1:0"], r);
    const t = transport([`http://127.0.0.1:${l.addresses[0]?.split(":")[1]}`], undefined, 0xbadn);
    await until(() => logOf(log).split("cluster ID mismatch").length > 3, 10_000);
    expect(t.activeSince(REMOTE)).toBe(0);
  });
});
