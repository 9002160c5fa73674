/**
 * EndpointScheme is the scheme an endpoint was given with; "" for a bare "host:port".
 */
export type EndpointScheme = "" | "http" | "https";

/**
 * Endpoint is one etcd client URL as the client dials it. `address` is "host:port" for
 * grpc-js; `raw` is the string the caller gave (kept for messages and per-endpoint calls).
 */
export interface Endpoint {
  readonly raw: string;
  readonly address: string;
  readonly scheme: EndpointScheme;
}

/**
 * parseEndpoint accepts "host:port", "http://host:port" and "https://host:port" (an IPv6
 * host in brackets). As in etcd's Go client, "http://" always dials in plain text,
 * "https://" always uses TLS, and a bare "host:port" uses TLS when the client has TLS
 * settings.
 */
export function parseEndpoint(raw: string): Endpoint {
  const s = raw.trim();
  let rest = s;
  let scheme: EndpointScheme = "";
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(s);
  if (m) {
    const name = (m[1] ?? "").toLowerCase();
    if (name !== "http" && name !== "https") {
      throw new Error(`client: endpoint ${JSON.stringify(raw)}: unsupported scheme ${JSON.stringify(name)}`);
    }
    scheme = name;
    rest = s.slice(m[0].length);
    const slash = rest.indexOf("/");
    if (slash >= 0) rest = rest.slice(0, slash);
  }
  if (rest === "") throw new Error(`client: endpoint ${JSON.stringify(raw)}: missing host`);
  if (!hasPort(rest)) {
    throw new Error(`client: endpoint ${JSON.stringify(raw)}: missing port`);
  }
  return { raw, address: rest, scheme };
}

function hasPort(hostPort: string): boolean {
  if (hostPort.startsWith("[")) return /^\[[^\]]+\]:\d+$/.test(hostPort);
  return /^[^:]+:\d+$/.test(hostPort);
}
