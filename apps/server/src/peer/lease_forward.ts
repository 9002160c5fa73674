import type { ClientHttp2Session } from "node:http2";
import type { ConnectionOptions } from "node:tls";
import { etcdserverpb, leasepb } from "@etcd-ts/proto";
import { Errors } from "../errors.js";
import { connectPeer, destroySoon } from "./dial.js";
import { PATH_LEASES, PATH_LEASES_INTERNAL } from "./headers.js";

/** MAX_LEASE_RESPONSE_BYTES bounds the leader's answer (a TimeToLive with keys can be large). */
const MAX_LEASE_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * LeaseForwarder sends a follower's keep-alives and TimeToLive requests to the leader over
 * the peer protocol (etcd's leasehttp), on one kept-open HTTP/2 session per peer URL, so a
 * stream of keep-alives costs no connection setup each. A 404 means the lease is not found;
 * any other failure rejects, and the caller retries (the leader may be changing).
 */
export class LeaseForwarder {
  private readonly sessions = new Map<string, ClientHttp2Session>();
  private closed = false;

  constructor(
    /** peerUrls are a member's peer URLs (none when unknown). */
    private readonly peerUrls: (id: bigint) => readonly string[],
    private readonly headers: () => Record<string, string>,
    private readonly tls: ConnectionOptions | undefined,
    private readonly timeoutMs: number,
  ) {}

  async renew(leader: bigint, id: bigint): Promise<bigint> {
    const body = Buffer.from(etcdserverpb.LeaseKeepAliveRequest.encode({ ID: id }).finish());
    const res = await this.post(leader, PATH_LEASES, body);
    return etcdserverpb.LeaseKeepAliveResponse.decode(res).TTL;
  }

  async timeToLive(leader: bigint, req: etcdserverpb.LeaseTimeToLiveRequest): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    const body = Buffer.from(leasepb.LeaseInternalRequest.encode({ LeaseTimeToLiveRequest: req }).finish());
    const res = await this.post(leader, PATH_LEASES_INTERNAL, body);
    const r = leasepb.LeaseInternalResponse.decode(res).LeaseTimeToLiveResponse;
    if (r === undefined) throw new Error("lease: leader answered TimeToLive without a response");
    return r;
  }

  /** close ends every kept session. */
  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  private session(url: string): ClientHttp2Session {
    const cached = this.sessions.get(url);
    if (cached !== undefined && !cached.closed && !cached.destroyed) return cached;
    const s = connectPeer(url, this.tls);
    s.on("error", () => undefined);
    s.on("close", () => {
      if (this.sessions.get(url) === s) this.sessions.delete(url);
    });
    s.unref();
    this.sessions.set(url, s);
    return s;
  }

  /**
   * post sends a request to the leader, trying its peer URLs in turn (as etcd does) until one
   * answers; "lease not found" ends the attempt at once.
   */
  private async post(leader: bigint, path: string, body: Buffer): Promise<Buffer> {
    if (this.closed) throw Errors.stopped;
    const urls = this.peerUrls(leader);
    if (urls.length === 0) throw Errors.noLeader;
    let last: unknown;
    for (const url of urls) {
      try {
        return await this.postTo(url, path, body);
      } catch (err) {
        if (err === Errors.leaseNotFound) throw err;
        last = err;
      }
    }
    throw last;
  }

  private postTo(url: string, path: string, body: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const s = this.session(url);
      const stream = s.request({ ":method": "POST", ":path": path, "content-type": "application/protobuf", ...this.headers() });
      let status = 0;
      let size = 0;
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        stream.close();
        // A peer that does not answer may hold a dead connection: start over next time (a new
        // session at once, since this one is only destroyed on the next event-loop turn).
        if (this.sessions.get(url) === s) this.sessions.delete(url);
        destroySoon(s);
        reject(new Error(`peer ${url} did not answer ${path} within ${this.timeoutMs}ms`));
      }, this.timeoutMs);
      stream.on("response", (h) => (status = Number(h[":status"])));
      stream.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_LEASE_RESPONSE_BYTES) {
          stream.close();
          return;
        }
        chunks.push(c);
      });
      stream.on("end", () => {
        clearTimeout(timer);
        if (size > MAX_LEASE_RESPONSE_BYTES) reject(new Error(`peer ${url} answered ${path} with more than ${MAX_LEASE_RESPONSE_BYTES} bytes`));
        else if (status === 200) resolve(Buffer.concat(chunks));
        else if (status === 404) reject(Errors.leaseNotFound);
        else reject(new Error(`peer ${url} answered ${path} with status ${status}`));
      });
      stream.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.end(body);
    });
  }
}
