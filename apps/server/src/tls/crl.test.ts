import { X509Certificate } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import forge from "node-forge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkCrl, CrlError, revokedSerials } from "./crl.js";
import { createCertificate, type PemPair } from "./self_signed.js";
import { createCrl, crlToDer } from "./testing/crl.js";
import { makePki, type PkiFiles } from "./testing/pki.js";

let pki: PkiFiles;
let intermediate: PemPair;
let leafOfIntermediate: PemPair;
beforeAll(async () => {
  pki = await makePki();
  intermediate = await createCertificate({ commonName: "intermediate", isCa: true, validForMs: 3600_000, issuer: pki.pems.ca });
  leafOfIntermediate = await createCertificate({ commonName: "leaf", clientAuth: true, validForMs: 3600_000, issuer: intermediate });
});
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));

const serialOf = (pem: string): bigint => BigInt(`0x${new X509Certificate(pem).serialNumber}`);

describe("revokedSerials", () => {
  it("reads the same serials from a PEM CRL and from its DER form", () => {
    const pem = createCrl(pki.pems.ca, [pki.pems.client.certPem, pki.pems.server.certPem]);
    const want = new Set([serialOf(pki.pems.client.certPem), serialOf(pki.pems.server.certPem)]);
    expect(revokedSerials(Buffer.from(pem))).toEqual(want);
    expect(revokedSerials(crlToDer(pem))).toEqual(want);
  });

  it("reads CRLs without nextUpdate, without entries, and with entry and list extensions", () => {
    const client = serialOf(pki.pems.client.certPem);
    expect(revokedSerials(crlToDer(createCrl(pki.pems.ca, [pki.pems.client.certPem], { omitNextUpdate: true })))).toEqual(new Set([client]));
    expect(revokedSerials(crlToDer(createCrl(pki.pems.ca, [], { omitNextUpdate: true })))).toEqual(new Set());
    expect(revokedSerials(Buffer.from(createCrl(pki.pems.ca, [])))).toEqual(new Set());
    const ext = createCrl(pki.pems.ca, [pki.pems.client.certPem], { extensions: true });
    expect(revokedSerials(crlToDer(ext))).toEqual(new Set([client]));
    expect(revokedSerials(crlToDer(createCrl(pki.pems.ca, [], { extensions: true, omitNextUpdate: true })))).toEqual(new Set());
  });

  it("reads serials as Go's big.Int Bytes() sees them: a leading zero octet dropped, a negative number's magnitude", () => {
    const { asn1 } = forge;
    const seq = (...v: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, v);
    const int = (bytes: number[]): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(...bytes));
    const time = (): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(new Date()));
    const alg = seq(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer("1.2.840.113549.1.1.11").getBytes()));
    const tbs = seq(alg, seq(), time(), seq(seq(int([0x00, 0xff, 0x01]), time()), seq(int([0xff, 0x01]), time())));
    const list = seq(tbs, alg, asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, "\u0000"));
    expect(revokedSerials(Buffer.from(asn1.toDer(list).getBytes(), "binary"))).toEqual(new Set([0xff01n, 0xffn]));
  });

  it("refuses what Go's x509.ParseCRL refuses: garbage, text before the PEM block, trailing bytes, truncation", () => {
    const pem = createCrl(pki.pems.ca, [pki.pems.client.certPem]);
    const der = crlToDer(pem);
    expect(() => revokedSerials(Buffer.from("not a crl\n"))).toThrow(CrlError);
    expect(() => revokedSerials(Buffer.from(`Certificate Revocation List\n${pem}`))).toThrow(CrlError);
    expect(() => revokedSerials(Buffer.concat([der, Buffer.from([0])]))).toThrow("x509: trailing data after CRL");
    expect(() => revokedSerials(der.subarray(0, der.length - 10))).toThrow(CrlError);
    expect(() => revokedSerials(Buffer.from(pki.pems.client.certPem))).toThrow(CrlError);
    expect(() => revokedSerials(Buffer.alloc(0))).toThrow(CrlError);
  });
});

/** connectWith runs checkCrl on the server side of one TLS connection whose client presents `cert` (and its chain). */
async function connectWith(crlPath: string, client: { cert?: string; key?: string }): Promise<string | undefined> {
  let result: Promise<string | undefined> | undefined;
  const server = createServer(
    { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem, ca: [pki.pems.ca.certPem], requestCert: true, rejectUnauthorized: false },
    (s: TLSSocket) => {
      result = checkCrl(crlPath, s);
      s.end();
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    await new Promise<void>((resolve, reject) => {
      const c = connect({ host: "127.0.0.1", port, ca: pki.pems.ca.certPem, servername: "localhost", ...client });
      c.on("error", reject);
      c.on("end", () => {
        c.destroy();
        resolve();
      });
      c.resume();
    });
    return await (result as Promise<string | undefined>);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe("checkCrl", () => {
  it("refuses a revoked client certificate with etcd's message, with the CRL in PEM or DER form", async () => {
    const pem = createCrl(pki.pems.ca, [pki.pems.client.certPem]);
    const pemFile = join(pki.dir, "revokes.pem.crl");
    const derFile = join(pki.dir, "revokes.der.crl");
    writeFileSync(pemFile, pem);
    writeFileSync(derFile, crlToDer(pem));
    const hex = serialOf(pki.pems.client.certPem).toString(16);
    const want = `transport: certificate serial ${hex.length % 2 === 0 ? hex : `0${hex}`} revoked`;
    const client = { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem };
    expect(await connectWith(pemFile, client)).toBe(want);
    expect(await connectWith(derFile, client)).toBe(want);
    const other = { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem };
    expect(await connectWith(pemFile, other)).toBeUndefined();
    expect(await connectWith(derFile, other)).toBeUndefined();
  });

  it("checks only serials, as etcd: a CRL from another CA revokes a matching serial", async () => {
    const stranger = await createCertificate({ commonName: "stranger CA", isCa: true, validForMs: 3600_000 });
    const file = join(pki.dir, "stranger.crl");
    writeFileSync(file, crlToDer(createCrl(stranger, [pki.pems.client.certPem])));
    expect(await connectWith(file, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem })).toMatch(/^transport: certificate serial [0-9a-f]+ revoked$/);
  });

  it("checks the intermediates a client sends, not the root from the trust store", async () => {
    const chain = { cert: leafOfIntermediate.certPem + intermediate.certPem, key: leafOfIntermediate.keyPem };
    const revokesIntermediate = join(pki.dir, "intermediate.crl");
    writeFileSync(revokesIntermediate, createCrl(pki.pems.ca, [intermediate.certPem]));
    expect(await connectWith(revokesIntermediate, chain)).toMatch(/revoked$/);
    const revokesRoot = join(pki.dir, "root.crl");
    writeFileSync(revokesRoot, createCrl(pki.pems.ca, [pki.pems.ca.certPem]));
    expect(await connectWith(revokesRoot, chain)).toBeUndefined();
  });

  it("reads the file at each connection: a missing or unparsable CRL refuses certificates, not certificate-less clients", async () => {
    const file = join(pki.dir, "changing.crl");
    const client = { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem };
    expect(await connectWith(file, client)).toBe(`open ${file}: no such file or directory`);
    expect(await connectWith(file, {})).toBeUndefined();
    writeFileSync(file, "garbage");
    expect(await connectWith(file, client)).toMatch(/^x509: /);
    writeFileSync(file, crlToDer(createCrl(pki.pems.ca, [])));
    expect(await connectWith(file, client)).toBeUndefined();
    writeFileSync(file, createCrl(pki.pems.ca, [pki.pems.client.certPem]));
    expect(await connectWith(file, client)).toMatch(/revoked$/);
  });
});
