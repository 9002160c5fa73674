/**
 * access.ts reads --cors and --host-whitelist the way etcd 3.4 does (etcdmain/config.go:
 * flags.NewUniqueURLsWithExceptions("*", "*") and flags.NewUniqueStringsValue("*")). The HTTP
 * handler applies the result (see http/handler.ts).
 */

/**
 * parseCors returns the origins --cors allows: exactly "*" allows every origin; anything
 * else is a comma-separated list of URLs checked like etcd's types.NewURLs (each trimmed;
 * scheme http, https, unix or unixs; host:port; no path), kept as Go's url.String() prints
 * them (the scheme in lower case, the rest as written), which is what a request's Origin
 * header must equal. It throws an Error with etcd's reason for a bad value.
 */
export function parseCors(text: string): ReadonlySet<string> {
  if (text === "*") return new Set(["*"]);
  const out = new Set<string>();
  for (const part of text.split(",")) out.add(checkUrl(part.trim()));
  return out;
}

/**
 * parseHostWhitelist returns the host names --host-whitelist allows; as in etcd the list is
 * split on commas without trimming, and "*" among them allows every host.
 */
export function parseHostWhitelist(text: string): ReadonlySet<string> {
  return new Set(text.split(","));
}

/** checkUrl is types.NewURLs's check of one URL; it returns the URL as Go prints it. */
export function checkUrl(u: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(u);
  const scheme = m === null ? "" : (m[1] as string).toLowerCase();
  if (scheme !== "http" && scheme !== "https" && scheme !== "unix" && scheme !== "unixs") {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${u}`);
  }
  const rest = (m as RegExpExecArray)[2] as string;
  let host = "";
  let path = "";
  if (rest.startsWith("//")) {
    const afterSlashes = rest.slice(2);
    const end = afterSlashes.search(/[/?#]/);
    const authority = end < 0 ? afterSlashes : afterSlashes.slice(0, end);
    host = authority.slice(authority.lastIndexOf("@") + 1);
    if (end >= 0 && afterSlashes[end] === "/") path = afterSlashes.slice(end).replace(/[?#].*$/s, "");
  } else {
    path = rest.replace(/[?#].*$/s, "");
  }
  if (splitHostPort(host) === undefined) throw new Error(`URL address does not have the form "host:port": ${u}`);
  if (path !== "") throw new Error(`URL must not contain a path: ${u}`);
  return `${scheme}${u.slice(scheme.length)}`;
}

/**
 * splitHostPort is Go's net.SplitHostPort: "host:port", "[v6]:port"; undefined where Go
 * returns an error (no port, too many colons, misplaced brackets).
 */
export function splitHostPort(hostport: string): { host: string; port: string } | undefined {
  const i = hostport.lastIndexOf(":");
  if (i < 0) return undefined;
  let host: string;
  let j = 0;
  let k = 0;
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    if (end < 0) return undefined;
    if (end + 1 !== i) return undefined; // "[v6]" without port, or junk between "]" and ":"
    host = hostport.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.slice(0, i);
    if (host.includes(":")) return undefined;
  }
  if (hostport.slice(j).includes("[")) return undefined;
  if (hostport.slice(k).includes("]")) return undefined;
  return { host, port: hostport.slice(i + 1) };
}

/**
 * requestHostname is etcd's httputil.GetHostname: the Host header's host part, or the whole
 * header when it is not host:port (e.g. "localhost", "[::1]").
 */
export function requestHostname(hostHeader: string): string {
  return splitHostPort(hostHeader)?.host ?? hostHeader;
}
