import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import type { ClientOptions } from "./options.js";
import { makeTestPki, type TestPki } from "@etcd-ts/test-kit";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

describe("Client over TLS against etcd with --client-cert-auth", () => {
  let pki: TestPki;
  let other: TestPki;
  let etcd: RunningEtcd;
  const clients: Client[] = [];
  beforeAll(async () => {
    pki = makeTestPki("tls-test");
    other = makeTestPki("other");
    etcd = await startEtcd({ pki });
  }, 30_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });
  const client = (o: ClientOptions): Client => {
    const c = new Client(o);
    clients.push(c);
    return c;
  };
  const creds = (p: TestPki): { cert: Buffer; key: Buffer } => ({
    cert: Buffer.from(p.client.cert),
    key: Buffer.from(p.client.key),
  });
  const https = (): string => `https://${etcd.endpoint}`;

  it("puts and reads with the CA and a client certificate, on https:// and bare endpoints", async () => {
    const tls = { ca: Buffer.from(pki.ca.cert), ...creds(pki) };
    const a = client({ endpoints: [https()], tls });
    await a.put({ key: Buffer.from("tls"), value: Buffer.from("yes") });
    const b = client({ endpoints: [etcd.endpoint], tls });
    const r = await b.range({ key: Buffer.from("tls") });
    expect(r.kvs[0]?.value).toEqual(Buffer.from("yes"));
    expect((await b.memberList()).members[0]?.clientURLs).toEqual([https()]);
  });

  it("accepts any server certificate with insecureSkipVerify, with or without a CA", async () => {
    const noCA = client({ endpoints: [https()], tls: { ...creds(pki), insecureSkipVerify: true } });
    expect((await noCA.range({ key: Buffer.from("tls") })).count).toBe(1n);
    const wrongCA = client({
      endpoints: [https()],
      tls: { ca: Buffer.from(other.ca.cert), ...creds(pki), insecureSkipVerify: true },
    });
    expect((await wrongCA.range({ key: Buffer.from("tls") })).count).toBe(1n);
  });

  const refused = { code: grpc.status.DEADLINE_EXCEEDED, local: true };

  it("cannot connect without a client certificate", async () => {
    const c = client({ endpoints: [https()], tls: { ca: Buffer.from(pki.ca.cert) } });
    await expect(c.range({ key: Buffer.from("tls") }, { timeoutMs: 600 })).rejects.toMatchObject(refused);
    await expect(c.put({ key: Buffer.from("tls"), value: Buffer.from("no") }, { timeoutMs: 600 })).rejects.toMatchObject(
      refused,
    );
  });

  it("rejects a server certificate from an unknown CA", async () => {
    const c = client({ endpoints: [https()], tls: { ca: Buffer.from(other.ca.cert), ...creds(pki) } });
    await expect(c.range({ key: Buffer.from("tls") }, { timeoutMs: 600 })).rejects.toMatchObject(refused);
  });

  it("is refused with a client certificate the server's CA did not sign", async () => {
    const c = client({ endpoints: [https()], tls: { ca: Buffer.from(pki.ca.cert), ...creds(other) } });
    await expect(c.range({ key: Buffer.from("tls") }, { timeoutMs: 600 })).rejects.toMatchObject(refused);
  });

  it("dials http:// endpoints in plain text even with TLS settings", async () => {
    const c = client({
      endpoints: [`http://${etcd.endpoint}`],
      tls: { ca: Buffer.from(pki.ca.cert), ...creds(pki) },
    });
    await expect(c.range({ key: Buffer.from("tls") }, { timeoutMs: 600 })).rejects.toMatchObject(refused);
  });
});
