import { lookup } from "node:dns/promises";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { CERT_NOT_ALLOWED, certificateAllowed, formatIp, hasAllowedNames, parseIp, subjectAltNames } from "./allowed_names.js";
import { checkCrl } from "./crl.js";
import { requiresClientCert } from "./server_options.js";
import type { TlsInfo } from "./tls_info.js";

/**
 * checkClientCertificate runs etcd's checks on a client certificate that the handshake
 * already verified against the trusted CA, and returns why the connection must be refused,
 * or undefined to accept it:
 *  - allowedCn (--peer-cert-allowed-cn): the certificate's CN must equal it;
 *  - allowedHostname (--peer-cert-allowed-hostname, --client-cert-allowed-hostname): the
 *    certificate must be valid for that host (Go's VerifyHostname, see allowed_names.ts);
 *    both fail with CERT_NOT_ALLOWED, etcd's "client certificate authentication failed";
 *  - checkSan (peer listeners, unless --experimental-peer-skip-client-san-verification): a
 *    certificate naming IPs or DNS names must name the connection's remote address;
 *  - crlFile (--client-crl-file, --peer-crl-file): no certificate the client presented may
 *    be revoked by it (checkCrl).
 * In etcd the CN and hostname are checked by the handshake's VerifyPeerCertificate, which Go
 * runs only when the server asks for a client certificate (a trusted CA or client cert auth,
 * requiresClientCert): without that they check nothing on the listener, here as in etcd.
 */
export async function checkClientCertificate(info: TlsInfo, socket: TLSSocket, checkSan: boolean): Promise<string | undefined> {
  const names = checksAllowedNames(info);
  const crl = info.crlFile ?? "";
  if (!names && !checkSan && crl === "") return undefined;
  const cert = socket.getPeerCertificate();
  const present = cert !== null && typeof cert === "object" && cert.raw !== undefined;
  if (names && (!present || !socket.authorized || !certificateAllowed(info, cert))) return CERT_NOT_ALLOWED;
  if (checkSan && present) {
    const why = await checkCertSan(cert, socket.remoteAddress ?? "");
    if (why !== undefined) return why;
  }
  if (crl !== "") return checkCrl(crl, socket);
  return undefined;
}

/** needsClientCheck reports whether checkClientCertificate has anything to check for `info`. */
export function needsClientCheck(info: TlsInfo, checkSan: boolean): boolean {
  return checkSan || checksAllowedNames(info) || (info.crlFile ?? "") !== "";
}

/** checksAllowedNames reports whether a listener with `info` checks an allowed CN or hostname (only when it asks for client certificates, as Go). */
function checksAllowedNames(info: TlsInfo): boolean {
  return hasAllowedNames(info) && requiresClientCert(info);
}

/** sanEntries splits Node's subjectaltname text ("DNS:a, IP Address:1.2.3.4") into IPs (lower case) and DNS names. */
export function sanEntries(cert: PeerCertificate): { ips: string[]; dns: string[] } {
  const { ips, dns } = subjectAltNames(cert);
  return { ips: ips.map((ip) => ip.toLowerCase()), dns };
}

/** plainIp drops the IPv4-mapped IPv6 prefix Node gives IPv4 peers of a dual-stack socket. */
function plainIp(addr: string): string {
  return addr.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
}

/**
 * checkCertSan is etcd's checkCertSAN: when the certificate names IPs, the remote address
 * must be one of them; otherwise, when it names DNS names, one of them must resolve to the
 * remote address. A certificate naming neither passes; one naming either fails on a unix
 * socket, whose peer has no address (`remoteAddress` "" or "@"), as in etcd.
 */
export async function checkCertSan(cert: PeerCertificate, remoteAddress: string): Promise<string | undefined> {
  const { ips, dns } = sanEntries(cert);
  if (ips.length === 0 && dns.length === 0) return undefined;
  // A unix socket peer has no host and port: Go's net.SplitHostPort("@") fails, and so does the check.
  if (remoteAddress === "" || remoteAddress === "@") return "address @: missing port in address";
  const host = plainIp(remoteAddress);
  if (ips.length > 0) {
    // Go's VerifyHostname on the remote IP: IPs compare as addresses ("::1" is "0:0:0:0:0:0:0:1").
    const remote = parseIp(host);
    const valid = ips.map((ip) => ({ text: ip, addr: parseIp(ip) }));
    if (remote !== undefined && valid.some((v) => v.addr !== undefined && formatIp(v.addr) === formatIp(remote))) return undefined;
    if (dns.length === 0) return `x509: certificate is valid for ${valid.map((v) => (v.addr === undefined ? v.text : formatIp(v.addr))).join(", ")}, not ${host}`;
  }
  for (const name of dns) {
    try {
      const addrs = await lookup(name, { all: true });
      if (addrs.some((a) => plainIp(a.address) === host)) return undefined;
    } catch {
      // an unresolvable name simply does not match
    }
  }
  return `tls: ${JSON.stringify(host)} does not match any of DNSNames [${dns.map((d) => JSON.stringify(d)).join(" ")}]`;
}
