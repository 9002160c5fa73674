import type { OutgoingHttpHeaders } from "node:http2";
import type { ConnectionOptions } from "node:tls";
import { connectPeer, destroySoon } from "./dial.js";

/** PeerResponse is a peer's answer to one request: the HTTP status and the whole body. */
export interface PeerResponse {
  status: number;
  body: Buffer;
}

/** MAX_PEER_RESPONSE_BYTES bounds the body of a peer request's answer (member lists, hashes). */
const MAX_PEER_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * peerRequest sends one request on its own HTTP/2 session to a peer URL (any scheme
 * connectPeer dials) and resolves with the status and body, or rejects when the peer cannot
 * be reached, answers more than 4 MiB, or does not answer within timeoutMs.
 */
export function peerRequest(
  url: string,
  req: { method: "GET" | "POST"; path: string; headers?: OutgoingHttpHeaders; body?: Buffer },
  tls: ConnectionOptions | undefined,
  timeoutMs: number,
): Promise<PeerResponse> {
  return new Promise((resolve, reject) => {
    const s = connectPeer(url, tls);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      destroySoon(s);
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`peer ${url} did not answer ${req.path} within ${timeoutMs}ms`)), timeoutMs);
    s.on("error", fail);
    // A peer listener that refuses this member (its certificate) says why in a GOAWAY.
    s.on("goaway", (code: number, _last: number, data?: Buffer) => {
      if (code !== 0 && data !== undefined && data.length > 0) fail(new Error(`peer ${url} refused the connection: ${data.toString()}`));
    });
    const stream = s.request({ ":method": req.method, ":path": req.path, ...req.headers });
    let status = 0;
    let size = 0;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_PEER_RESPONSE_BYTES) fail(new Error(`peer ${url} answered ${req.path} with more than ${MAX_PEER_RESPONSE_BYTES} bytes`));
      else chunks.push(c);
    });
    stream.on("end", () => {
      clearTimeout(timer);
      s.close();
      resolve({ status, body: Buffer.concat(chunks) });
    });
    stream.on("error", fail);
    stream.end(req.body);
  });
}
