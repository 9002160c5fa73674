/**
 * Endpoint is one etcd client URL as the client dials it. `address` is "host:port" for
 * grpc-js; `raw` is the string the caller gave (kept for messages and per-endpoint calls).
 */
export interface Endpoint {
  readonly raw: string;
  readonly address: string;
  readonly secure: boolean;
}

/**
 * parseEndpoint accepts "host:port", "http://host:port" and "https://host:port" (an IPv6
 * host in brackets). https endpoints are rejected for now: TLS is not implemented yet, and
 * dialing them in plain text would pretend otherwise.
 */
export function parseEndpoint(raw: string): Endpoint {
  const s = raw.trim();
  let rest = s;
  let secure = false;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(s);
  if (scheme) {
    const name = (scheme[1] ?? "").toLowerCase();
    if (name === "https") {
      secure = true;
    } else if (name !== "http") {
      throw new Error(`client: endpoint ${JSON.stringify(raw)}: unsupported scheme ${JSON.stringify(name)}`);
    }
    rest = s.slice(scheme[0].length);
    const slash = rest.indexOf("/");
    if (slash >= 0) rest = rest.slice(0, slash);
  }
  if (secure) {
    throw new Error(`client: endpoint ${JSON.stringify(raw)}: https (TLS) endpoints are not supported yet`);
  }
  if (rest === "") throw new Error(`client: endpoint ${JSON.stringify(raw)}: missing host`);
  if (!hasPort(rest)) {
    throw new Error(`client: endpoint ${JSON.stringify(raw)}: missing port`);
  }
  return { raw, address: rest, secure };
}

function hasPort(hostPort: string): boolean {
  if (hostPort.startsWith("[")) return /^\[[^\]]+\]:\d+$/.test(hostPort);
  return /^[^:]+:\d+$/.test(hostPort);
}
