import type { Http2Session } from "node:http2";

/**
 * sentSincePing holds the sessions on which the server has sent headers or data since the
 * client's last ping. grpc-go's keepalive enforcement does not count a ping against the
 * client when the server has written to the connection since the previous one (its
 * resetPingStrikes): a client that pings every second while calls are answered is never sent
 * GOAWAY too_many_pings; only pings on an otherwise silent connection are.
 */
const sentSincePing = new WeakSet<Http2Session>();

/** noteSent records that the server wrote headers or data on session. */
export function noteSent(session: Http2Session | undefined): void {
  if (session !== undefined) sentSincePing.add(session);
}

/** takeSent tells whether the server wrote on session since the last call, and forgets it. */
export function takeSent(session: Http2Session): boolean {
  return sentSincePing.delete(session);
}
