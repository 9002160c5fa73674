import forge from "node-forge";
import type { PemPair } from "../self_signed.js";

/** CrlShape varies the optional parts of a CRL createCrl builds. */
export interface CrlShape {
  /** omitNextUpdate leaves out the optional nextUpdate time. */
  omitNextUpdate?: boolean;
  /** extensions adds a reason code to each entry and a CRL number to the list. */
  extensions?: boolean;
}

/**
 * createCrl builds a v2 X.509 CRL signed by `issuer` (an RSA CA) that revokes the given
 * certificates, PEM encoded; valid from an hour ago for a day. For tests of --client-crl-file.
 */
export function createCrl(issuer: PemPair, revokedCertPems: readonly string[], shape: CrlShape = {}): string {
  const { asn1 } = forge;
  const caCert = forge.pki.certificateFromPem(issuer.certPem);
  const caKey = forge.pki.privateKeyFromPem(issuer.keyPem) as forge.pki.rsa.PrivateKey;
  const sha256WithRsa = (): forge.asn1.Asn1 =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(forge.pki.oids.sha256WithRSAEncryption as string).getBytes()),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ""),
    ]);
  const time = (d: Date): forge.asn1.Asn1 => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d));
  const now = Date.now();
  const revoked = revokedCertPems.map((pem) => {
    const serialHex = forge.pki.certificateFromPem(pem).serialNumber;
    const entry = [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(serialHex.length % 2 === 0 ? serialHex : `0${serialHex}`)),
      time(new Date(now - 60_000)),
    ];
    // reasonCode (2.5.29.21) keyCompromise
    if (shape.extensions === true) entry.push(extensions([extension("2.5.29.21", asn1.create(asn1.Class.UNIVERSAL, asn1.Type.ENUMERATED, false, String.fromCharCode(1)))]));
    return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, entry);
  });
  const tbsParts = [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(1)),
    sha256WithRsa(),
    forge.pki.distinguishedNameToAsn1(caCert.subject),
    time(new Date(now - 3600_000)),
  ];
  if (shape.omitNextUpdate !== true) tbsParts.push(time(new Date(now + 24 * 3600_000)));
  if (revoked.length > 0) tbsParts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, revoked));
  // crlNumber (2.5.29.20) 7, in the [0] EXPLICIT crlExtensions
  if (shape.extensions === true) {
    const crlNumber = extension("2.5.29.20", asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(7)));
    tbsParts.push(asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [extensions([crlNumber])]));
  }
  const tbs = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, tbsParts);
  const md = forge.md.sha256.create();
  md.update(asn1.toDer(tbs).getBytes());
  const signature = caKey.sign(md);
  const crl = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    sha256WithRsa(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(0) + signature),
  ]);
  return forge.pem.encode({ type: "X509 CRL", body: asn1.toDer(crl).getBytes() });
}

/** extension is one X.509 Extension: the OID and the DER of `value` as its OCTET STRING. */
function extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  const { asn1 } = forge;
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

/** extensions is a SEQUENCE OF Extension. */
function extensions(list: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, list);
}

/** crlToDer turns a PEM CRL (as createCrl makes) into its DER bytes. */
export function crlToDer(pem: string): Buffer {
  const block = forge.pem.decode(pem)[0];
  if (block === undefined) throw new Error("crlToDer: no PEM block");
  return Buffer.from(block.body, "binary");
}
