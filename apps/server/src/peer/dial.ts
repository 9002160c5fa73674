import { connect, type ClientHttp2Session, type ClientSessionOptions } from "node:http2";
import { connect as netConnect, isIP } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";

/**
 * connectPeer opens an HTTP/2 session to a peer URL. http:// and https:// are dialed as
 * they are; unix:// and unixs:// reach the unix socket file named by the URL's host:port
 * (relative to the working directory, as etcd's unix transport dials u.Host), unixs:// with
 * TLS verified for the URL's host name. `tls` holds the peer TLS settings (certificate,
 * trusted CA) for https:// and unixs://; `options` are more HTTP/2 session options (settings).
 */
export function connectPeer(url: string, tls: ConnectionOptions | undefined, options: ClientSessionOptions = {}): ClientHttp2Session {
  const u = new URL(url);
  if (u.protocol === "unix:") {
    const path = u.host;
    return connect(`http://${u.hostname || "localhost"}`, { ...options, createConnection: () => netConnect(path) });
  }
  if (u.protocol === "unixs:") {
    const path = u.host;
    const host = u.hostname.replace(/^\[|\]$/g, "") || "localhost";
    const opts: ConnectionOptions = { ...tls, path, host, ALPNProtocols: ["h2"] };
    if (isIP(host) === 0) opts.servername = host;
    return connect(`https://${u.host}`, { ...options, createConnection: () => tlsConnect(opts) });
  }
  if (u.protocol === "http:") {
    // Raft messages are small and latency-bound: no Nagle (Go, and so etcd, sets TCP_NODELAY too).
    const host = u.hostname.replace(/^\[|\]$/g, "");
    return connect(url, { ...options, createConnection: () => netConnect({ host, port: Number(u.port || 80), noDelay: true }) });
  }
  return connect(url, { ...tls, ...options });
}
