import { isIP } from "node:net";
import type { PeerCertificate } from "node:tls";
import type { TlsInfo } from "./tls_info.js";

/**
 * allowed_names.ts holds etcd's certificate name checks of --peer-cert-allowed-cn,
 * --peer-cert-allowed-hostname and --client-cert-allowed-hostname (transport.TLSInfo's
 * AllowedCN and AllowedHostname), with Go's x509 semantics: the CN is the subject's
 * CommonName (its last CN attribute, as Go's pkix.Name keeps it); a hostname matches as
 * Go 1.19's Certificate.VerifyHostname matches it (IP SANs for an IP, DNS SANs with a
 * left-most wildcard for a name, never the CN).
 */

/** CERT_NOT_ALLOWED is etcd's error for a certificate whose CN or hostname is not the allowed one. */
export const CERT_NOT_ALLOWED = "client certificate authentication failed";

/** hasAllowedNames reports whether `info` restricts the certificate's CN or hostname. */
export function hasAllowedNames(info: TlsInfo): boolean {
  return (info.allowedCn ?? "") !== "" || (info.allowedHostname ?? "") !== "";
}

/**
 * checkAllowedNamesExclusive throws etcd's error when both an allowed CN and an allowed
 * hostname are set: etcd refuses to build a TLS configuration (server or client side) with
 * both, which stops its start.
 */
export function checkAllowedNamesExclusive(info: TlsInfo): void {
  const cn = info.allowedCn ?? "";
  const hostname = info.allowedHostname ?? "";
  if (cn !== "" && hostname !== "") {
    throw new Error(`AllowedCN and AllowedHostname are mutually exclusive (cn=${JSON.stringify(cn)}, hostname=${JSON.stringify(hostname)})`);
  }
}

/**
 * certificateAllowed runs etcd's check of a verified leaf certificate: valid for the allowed
 * hostname when one is set, else carrying the allowed CN when one is set; true with neither.
 */
export function certificateAllowed(info: TlsInfo, cert: PeerCertificate): boolean {
  const hostname = info.allowedHostname ?? "";
  if (hostname !== "") return verifyHostname(cert, hostname);
  const cn = info.allowedCn ?? "";
  if (cn !== "") return commonName(cert) === cn;
  return true;
}

/** commonName is the certificate's subject CN as Go reads it: the last CN attribute, "" without one. */
export function commonName(cert: PeerCertificate): string {
  const cn = (cert.subject as unknown as Record<string, string | string[] | undefined> | undefined)?.CN;
  if (cn === undefined) return "";
  return Array.isArray(cn) ? (cn[cn.length - 1] ?? "") : cn;
}

/**
 * subjectAltNames reads the DNS names and IP addresses of Node's subjectaltname text
 * ("DNS:a, IP Address:1.2.3.4"; a value with special characters is a JSON string, as Node
 * quotes it). Other kinds (URI, email, ...) are skipped.
 */
export function subjectAltNames(cert: PeerCertificate): { dns: string[]; ips: string[] } {
  const dns: string[] = [];
  const ips: string[] = [];
  const text = cert.subjectaltname ?? "";
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const kind = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      // A JSON string: find its closing quote, skipping escaped characters.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        value = text.slice(colon + 2, j);
      }
      next = text.indexOf(", ", j + 1);
    } else {
      next = text.indexOf(", ", colon + 1);
      value = text.slice(colon + 1, next < 0 ? undefined : next);
    }
    if (kind === "DNS") dns.push(value);
    else if (kind === "IP Address") ips.push(value);
    if (next < 0) break;
    i = next + 2;
  }
  return { dns, ips };
}

/**
 * certificateNames are a certificate's SAN IP addresses (written as Go writes a net.IP) and
 * DNS names, as etcd logs them with a rejected connection ("ip-addresses", "dns-names").
 */
export function certificateNames(cert: PeerCertificate): { ips: string[]; dns: string[] } {
  const { dns, ips } = subjectAltNames(cert);
  return { ips: ips.map((ip) => { const b = parseIp(ip); return b === undefined ? ip : formatIp(b); }), dns };
}

/**
 * verifyHostname is Go's x509 Certificate.VerifyHostname (Go 1.19, which the Debian etcd
 * 3.4 is built with): an IP (optionally in brackets) matches only an equal IP SAN (IPv4 and
 * IPv4-mapped IPv6 are equal); a name matches a DNS SAN case-insensitively, a trailing dot
 * and a left-most "*" label allowed when both are valid host names, else only exactly. The
 * subject CN is never used.
 */
export function verifyHostname(cert: PeerCertificate, host: string): boolean {
  const { dns, ips } = subjectAltNames(cert);
  const candidateIp = host.length >= 3 && host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const ip = parseIp(candidateIp);
  if (ip !== undefined) return ips.some((s) => sameIp(parseIp(s), ip));
  const candidate = lowerAscii(host);
  const validCandidate = validHostname(candidate, false);
  for (const match of dns) {
    if (validCandidate && validHostname(match, true)) {
      if (matchHostnames(match, candidate)) return true;
    } else if (matchExactly(match, candidate)) {
      return true;
    }
  }
  return false;
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function matchExactly(a: string, b: string): boolean {
  if (a === "" || a === "." || b === "" || b === ".") return false;
  return lowerAscii(a) === lowerAscii(b);
}

function matchHostnames(pattern: string, host: string): boolean {
  const p = lowerAscii(pattern);
  const h = lowerAscii(host.endsWith(".") ? host.slice(0, -1) : host);
  if (p === "" || h === "") return false;
  const pParts = p.split(".");
  const hParts = h.split(".");
  if (pParts.length !== hParts.length) return false;
  return pParts.every((part, i) => (i === 0 && part === "*") || part === hParts[i]);
}

/** validHostname is Go's RFC 6125 leniency check; a pattern may start with a "*" label. */
function validHostname(name: string, isPattern: boolean): boolean {
  const host = !isPattern && name.endsWith(".") ? name.slice(0, -1) : name;
  if (host === "" || host === "*") return false;
  const parts = host.split(".");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === "") return false;
    if (isPattern && i === 0 && part === "*") continue;
    for (let j = 0; j < part.length; j++) {
      const c = part[j] as string;
      if (/[a-zA-Z0-9_]/.test(c)) continue;
      if (c === "-" && j !== 0) continue;
      return false;
    }
  }
  return true;
}

/**
 * parseIp reads an IPv4 or IPv6 address as Go's net.ParseIP does (no zone, no leading zeros
 * in IPv4 parts) into its 16-byte form (IPv4 as IPv4-mapped IPv6); undefined for anything else.
 */
export function parseIp(text: string): Uint8Array | undefined {
  if (text.includes("%")) return undefined;
  const kind = isIP(text);
  if (kind === 4) return v4Mapped(text);
  if (kind !== 6) return undefined;
  const out = new Uint8Array(16);
  let tail = text;
  let v4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    v4 = v4Mapped(text.slice(lastColon + 1));
    // Keep the colon before an embedded IPv4 so that a "::" just ahead of it stays whole.
    tail = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = tail.split("::");
  const groups = (s: string): number[] => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const head = groups(halves[0] ?? "");
  const rest = halves.length > 1 ? groups(halves[1] ?? "") : [];
  const all = halves.length > 1 ? [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest] : head;
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (v4 !== undefined) out.set(v4.subarray(12), 12);
  return out;
}

function v4Mapped(text: string): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  text.split(".").forEach((p, i) => (out[12 + i] = Number(p)));
  return out;
}

function sameIp(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.every((x, i) => x === b[i]);
}

/** formatIp writes a 16-byte IP as Go's net.IP.String(): dotted IPv4 for IPv4-mapped, else RFC 5952 IPv6. */
export function formatIp(b: Uint8Array): string {
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return Array.from(b.subarray(12)).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] as number) << 8) | (b[i + 1] as number));
  // The longest run of at least two zero groups (the first such) becomes "::".
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}
