import forge from "node-forge";
import type { PemPair } from "../self_signed.js";

/**
 * createCrl builds a v2 X.509 CRL signed by `issuer` (an RSA CA) that revokes the given
 * certificates, PEM encoded; valid from an hour ago for a day. For tests of --client-crl-file.
 */
export function createCrl(issuer: PemPair, revokedCertPems: readonly string[]): string {
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
    return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(serialHex.length % 2 === 0 ? serialHex : `0${serialHex}`)),
      time(new Date(now - 60_000)),
    ]);
  });
  const tbsParts = [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(1)),
    sha256WithRsa(),
    forge.pki.distinguishedNameToAsn1(caCert.subject),
    time(new Date(now - 3600_000)),
    time(new Date(now + 24 * 3600_000)),
  ];
  if (revoked.length > 0) tbsParts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, revoked));
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
