import { connect, type ClientHttp2Session, type ClientSessionOptions, type Http2Session } from "node:http2";
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

/**
 * destroySoon destroys an HTTP/2 session on the next turn of the event loop, never at once.
 * Node 20 (seen on 20.20.2; its http2 runs JavaScript callbacks, and the ticks after them,
 * while nghttp2 is still inside its receive call) can spin forever, its memory growing
 * without bound, when a session that still has other open streams is destroyed from such a
 * callback: the destroy resets each stream, and the reset flushes mid-receive. A member whose
 * stream was reset while a probe rode on the same session hung that way. Every session the
 * peer layer drops in reaction to one of its own events goes through here.
 */
export function destroySoon(s: Http2Session): void {
  if (s.destroyed) return;
  setImmediate(() => {
    if (!s.destroyed) s.destroy();
  });
}
