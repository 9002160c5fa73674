import { lookup } from "node:dns/promises";
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from "node:tls";
import { checkCrl } from "./crl.js";
import type { TlsInfo } from "./tls_info.js";

/**
 * checkClientCertificate runs etcd's checks on a client certificate that the handshake
 * already verified against the trusted CA, and returns why the connection must be refused,
 * or undefined to accept it:
 *  - allowedCn (--peer-cert-allowed-cn): the certificate's CN must equal it;
 *  - allowedHostname (--peer-cert-allowed-hostname, --client-cert-allowed-hostname): the
 *    certificate must be valid for that host;
 *  - checkSan (peer listeners, unless --experimental-peer-skip-client-san-verification): a
 *    certificate naming IPs or DNS names must name the connection's remote address;
 *  - crlFile (--client-crl-file, --peer-crl-file): no certificate the client presented may
 *    be revoked by it (checkCrl).
 * A connection without a verified certificate fails the CN and hostname checks, as in etcd.
 */
export async function checkClientCertificate(info: TlsInfo, socket: TLSSocket, checkSan: boolean): Promise<string | undefined> {
  const cn = info.allowedCn ?? "";
  const hostname = info.allowedHostname ?? "";
  const crl = info.crlFile ?? "";
  if (cn === "" && hostname === "" && !checkSan && crl === "") return undefined;
  const cert = socket.getPeerCertificate();
  const present = cert !== null && typeof cert === "object" && cert.raw !== undefined;
  if (cn !== "" || hostname !== "") {
    if (!present || !socket.authorized) return "client certificate authentication failed";
    if (cn !== "" && !commonNames(cert).includes(cn)) return "client certificate authentication failed";
    if (hostname !== "" && checkServerIdentity(hostname, cert) !== undefined) return "client certificate authentication failed";
  }
  if (checkSan && present) {
    const why = await checkCertSan(cert, socket.remoteAddress ?? "");
    if (why !== undefined) return why;
  }
  if (crl !== "") return checkCrl(crl, socket);
  return undefined;
}

/** needsClientCheck reports whether checkClientCertificate has anything to check for `info`. */
export function needsClientCheck(info: TlsInfo, checkSan: boolean): boolean {
  return checkSan || (info.allowedCn ?? "") !== "" || (info.allowedHostname ?? "") !== "" || (info.crlFile ?? "") !== "";
}

function commonNames(cert: PeerCertificate): string[] {
  const cn = (cert.subject as unknown as Record<string, string | string[] | undefined> | undefined)?.CN;
  if (cn === undefined) return [];
  return Array.isArray(cn) ? cn : [cn];
}

/** sanEntries splits Node's subjectaltname text ("DNS:a, IP Address:1.2.3.4") into IPs and DNS names. */
export function sanEntries(cert: PeerCertificate): { ips: string[]; dns: string[] } {
  const ips: string[] = [];
  const dns: string[] = [];
  for (const part of (cert.subjectaltname ?? "").split(", ")) {
    if (part.startsWith("IP Address:")) ips.push(part.slice(11).toLowerCase());
    else if (part.startsWith("DNS:")) dns.push(part.slice(4));
  }
  return { ips, dns };
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
    if (ips.some((ip) => plainIp(ip) === host)) return undefined;
    if (dns.length === 0) return `x509: certificate is valid for ${ips.join(", ")}, not ${host}`;
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
