import { readFile } from "node:fs/promises";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";

/**
 * crl.ts checks client certificates against --client-crl-file / --peer-crl-file the way
 * etcd 3.4 does (pkg/transport/listener_tls.go, checkCRL): after the handshake, the file is
 * read again for every connection that presented a certificate, parsed as a PEM ("-----BEGIN
 * X509 CRL") or DER X.509 CRL, and the connection is refused when the serial number of a
 * certificate it presented is listed. Like etcd, only serial numbers are compared: the CRL's
 * issuer, signature and dates are not checked, and a CRL that cannot be read or parsed
 * refuses every connection that presents a certificate (the member still starts).
 */

/** PEM_CRL_PREFIX is what Go's x509.ParseCRL looks for at the very start of the data to take it as PEM. */
const PEM_CRL_PREFIX = "-----BEGIN X509 CRL";

/** CrlError is a CRL file that cannot be read or parsed; its message is what the rejection logs. */
export class CrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CrlError";
  }
}

/** Tlv is one DER element: its identifier octet and the bounds of its contents in the buffer. */
interface Tlv {
  tag: number;
  start: number;
  end: number;
}

const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_SEQUENCE = 0x30;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;

/** readTlv reads the DER element at `off`, which must end by `limit` (definite lengths only, as DER requires). */
function readTlv(buf: Buffer, off: number, limit: number, what: string): Tlv {
  if (off + 2 > limit) throw new CrlError(`x509: malformed crl: truncated ${what}`);
  const tag = buf[off] as number;
  if ((tag & 0x1f) === 0x1f) throw new CrlError(`x509: malformed crl: unexpected high tag number in ${what}`);
  let len = buf[off + 1] as number;
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new CrlError(`x509: malformed crl: bad length in ${what}`);
    if (start + n > limit) throw new CrlError(`x509: malformed crl: truncated ${what}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new CrlError(`x509: malformed crl: truncated ${what}`);
  return { tag, start, end };
}

/** expectTlv reads the element at `off`, checking its tag first (a wrong tag is reported as such, not as a bad length). */
function expectTlv(buf: Buffer, off: number, limit: number, tag: number, what: string): Tlv {
  const got = off < limit ? (buf[off] as number) : undefined;
  if (got !== undefined && got !== tag) throw new CrlError(`x509: malformed crl: ${what}: tag 0x${got.toString(16)}, want 0x${tag.toString(16)}`);
  return readTlv(buf, off, limit, what);
}

/** isTime reports whether a tag is one of the two ASN.1 Time forms. */
function isTime(tag: number): boolean {
  return tag === TAG_UTC_TIME || tag === TAG_GENERALIZED_TIME;
}

/** serialOf decodes a DER INTEGER's contents (two's complement) to its absolute value, as Go's big.Int Bytes() sees it. */
function serialOf(buf: Buffer, t: Tlv): bigint {
  if (t.end === t.start) throw new CrlError("x509: malformed crl: empty integer");
  const bytes = buf.subarray(t.start, t.end);
  let v = BigInt(`0x${bytes.toString("hex")}`);
  if (((bytes[0] as number) & 0x80) !== 0) v -= 1n << BigInt(bytes.length * 8);
  return v < 0n ? -v : v;
}

/**
 * revokedSerials parses a CRL (PEM or DER, as Go's x509.ParseCRL accepts them) and returns the
 * serial numbers it revokes. Throws CrlError on anything else.
 */
export function revokedSerials(data: Buffer): Set<bigint> {
  let der = data;
  if (data.subarray(0, PEM_CRL_PREFIX.length).toString("latin1") === PEM_CRL_PREFIX) {
    const block = firstPemBlock(data.toString("latin1"));
    if (block !== undefined && block.type === "X509 CRL") der = block.body;
  }
  const out = new Set<bigint>();
  const list = expectTlv(der, 0, der.length, TAG_SEQUENCE, "CertificateList");
  if (list.end !== der.length) throw new CrlError("x509: trailing data after CRL");
  const tbs = expectTlv(der, list.start, list.end, TAG_SEQUENCE, "TBSCertList");
  const alg = expectTlv(der, tbs.end, list.end, TAG_SEQUENCE, "signatureAlgorithm");
  const sig = expectTlv(der, alg.end, list.end, TAG_BIT_STRING, "signatureValue");
  if (sig.end !== list.end) throw new CrlError("x509: malformed crl: trailing data in CertificateList");

  let off = tbs.start;
  let t = readTlv(der, off, tbs.end, "TBSCertList");
  if (t.tag === TAG_INTEGER) {
    off = t.end;
    t = readTlv(der, off, tbs.end, "TBSCertList signature");
  }
  if (t.tag !== TAG_SEQUENCE) throw new CrlError("x509: malformed crl: TBSCertList signature is not a sequence");
  const issuer = expectTlv(der, t.end, tbs.end, TAG_SEQUENCE, "issuer");
  const thisUpdate = readTlv(der, issuer.end, tbs.end, "thisUpdate");
  if (!isTime(thisUpdate.tag)) throw new CrlError("x509: malformed crl: thisUpdate is not a time");
  off = thisUpdate.end;
  if (off < tbs.end) {
    t = readTlv(der, off, tbs.end, "TBSCertList");
    if (isTime(t.tag)) {
      off = t.end;
      t = off < tbs.end ? readTlv(der, off, tbs.end, "TBSCertList") : t;
    }
    if (off < tbs.end && t.tag === TAG_SEQUENCE) {
      for (let e = t.start; e < t.end; ) {
        const entry = expectTlv(der, e, t.end, TAG_SEQUENCE, "revokedCertificate");
        const serial = expectTlv(der, entry.start, entry.end, TAG_INTEGER, "userCertificate");
        out.add(serialOf(der, serial));
        const date = readTlv(der, serial.end, entry.end, "revocationDate");
        if (!isTime(date.tag)) throw new CrlError("x509: malformed crl: revocationDate is not a time");
        e = entry.end;
      }
    }
  }
  return out;
}

/** firstPemBlock decodes the first PEM block of `text` (type and base64 body), or undefined when there is none. */
function firstPemBlock(text: string): { type: string; body: Buffer } | undefined {
  const m = /-----BEGIN ([^\n-]*)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (m === null) return undefined;
  const lines = (m[2] as string).split(/\r?\n/).filter((l) => !/^[\w-]+:/.test(l));
  return { type: m[1] as string, body: Buffer.from(lines.join(""), "base64") };
}

/** readCrl reads and parses a CRL file; failures carry Go's wording for a missing file. */
export async function readCrl(path: string): Promise<Set<bigint>> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOENT" ? "no such file or directory" : e.code === "EACCES" ? "permission denied" : e.message;
    throw new CrlError(`open ${path}: ${why}`);
  }
  return revokedSerials(data);
}

/**
 * presentedSerials returns the serial numbers of the certificates the peer presented: its
 * own and the intermediates above it. The self-signed root at the end of the chain Node
 * builds comes from our trust store, not from the peer, and is left out (etcd checks what
 * the peer sent).
 */
export function presentedSerials(socket: TLSSocket): bigint[] {
  const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate | null;
  if (leaf === null || typeof leaf !== "object" || leaf.raw === undefined) return [];
  const out: bigint[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  for (let c: DetailedPeerCertificate | undefined = leaf; c !== undefined && c.raw !== undefined && !seen.has(c); c = c.issuerCertificate) {
    seen.add(c);
    const selfSigned = c.issuerCertificate === c || c.issuerCertificate === undefined;
    if (c !== leaf && selfSigned) break;
    out.push(BigInt(`0x${c.serialNumber}`));
  }
  return out;
}

/**
 * checkCrl is etcd's checkCRL for one connection: undefined when none of the presented
 * certificates is revoked by the CRL at `path`, else why the connection is refused
 * ("transport: certificate serial <hex> revoked", or why the CRL cannot be used). A
 * connection that presented no certificate passes.
 */
export async function checkCrl(path: string, socket: TLSSocket): Promise<string | undefined> {
  const serials = presentedSerials(socket);
  if (serials.length === 0) return undefined;
  let revoked: Set<bigint>;
  try {
    revoked = await readCrl(path);
  } catch (err) {
    return (err as Error).message;
  }
  for (const s of serials) {
    if (revoked.has(s)) {
      const hex = s.toString(16);
      return `transport: certificate serial ${hex.length % 2 === 0 ? hex : `0${hex}`} revoked`;
    }
  }
  return undefined;
}
