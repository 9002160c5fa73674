/**
 * checkPeerURLs validates member peer URLs the way etcd's Go client does before sending
 * MemberAdd or MemberUpdate (pkg/types.NewURLs over net/url.Parse): it returns the error
 * text for the first bad URL, or undefined when all are acceptable. Each URL is trimmed.
 */
export function checkPeerURLs(urls: readonly string[]): string | undefined {
  if (urls.length === 0) return "no valid URLs given";
  for (const raw of urls) {
    const s = raw.trim();
    const u = parseURL(s);
    if (typeof u === "string") return `parse ${goQuoted(s)}: ${u}`;
    if (u.scheme !== "http" && u.scheme !== "https" && u.scheme !== "unix" && u.scheme !== "unixs") {
      return `URL scheme must be http, https, unix, or unixs: ${s}`;
    }
    if (!isHostPort(u.host)) return `URL address does not have the form "host:port": ${s}`;
    if (u.path !== "") return `URL must not contain a path: ${s}`;
  }
  return undefined;
}

interface ParsedURL {
  scheme: string;
  host: string;
  path: string;
}

/** parseURL is the part of Go's url.Parse that peer URLs exercise; a string is an error. */
function parseURL(s: string): ParsedURL | string {
  const hash = s.indexOf("#");
  let rest = hash >= 0 ? s.slice(0, hash) : s;
  for (const ch of rest) {
    const c = ch.codePointAt(0) as number;
    if (c < 0x20 || c === 0x7f) return "net/url: invalid control character in URL";
  }
  let scheme = "";
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i] as string;
    if (/[a-zA-Z]/.test(c)) continue;
    if (/[0-9+.-]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ":") {
      if (i === 0) return "missing protocol scheme";
      scheme = rest.slice(0, i).toLowerCase();
      rest = rest.slice(i + 1);
    }
    break;
  }
  const q = rest.indexOf("?");
  if (q >= 0) rest = rest.slice(0, q);
  if (scheme !== "" && !rest.startsWith("/")) return { scheme, host: "", path: "" };
  if (scheme === "" && !rest.startsWith("/")) {
    const slash = rest.indexOf("/");
    const seg = slash >= 0 ? rest.slice(0, slash) : rest;
    if (seg.includes(":")) return "first path segment in URL cannot contain colon";
  }
  if (!rest.startsWith("//")) return { scheme, host: "", path: rest };
  const auth = rest.slice(2);
  const slash = auth.indexOf("/");
  let host = slash >= 0 ? auth.slice(0, slash) : auth;
  const path = slash >= 0 ? auth.slice(slash) : "";
  const at = host.lastIndexOf("@");
  if (at >= 0) host = host.slice(at + 1);
  const err = checkHost(host);
  if (err !== undefined) return err;
  return { scheme, host, path };
}

function checkHost(host: string): string | undefined {
  let portPart = "";
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end < 0) return "missing ']' in host";
    portPart = host.slice(end + 1);
    if (portPart !== "" && !portPart.startsWith(":")) return `invalid port ${goQuoted(portPart)} after host`;
  } else {
    const colon = host.lastIndexOf(":");
    if (colon >= 0) portPart = host.slice(colon);
    for (const ch of colon >= 0 ? host.slice(0, colon) : host) {
      if (" <>\"{}|\\^`".includes(ch)) return `invalid character ${goQuoted(ch)} in host name`;
    }
  }
  if (portPart !== "" && !/^:[0-9]*$/.test(portPart)) return `invalid port ${goQuoted(portPart)} after host`;
  return undefined;
}

/** isHostPort reports whether Go's net.SplitHostPort accepts hostPort. */
function isHostPort(hostPort: string): boolean {
  if (hostPort.startsWith("[")) return /^\[[^\]]*\]:[^:\]]*$/.test(hostPort);
  const first = hostPort.indexOf(":");
  return first >= 0 && first === hostPort.lastIndexOf(":") && !hostPort.includes("[") && !hostPort.includes("]");
}

function goQuoted(s: string): string {
  return JSON.stringify(s);
}
