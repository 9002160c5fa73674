/**
 * lease-put.ts is the lease-put workload's operation: LeaseGrant, then a Put attached to
 * the lease just granted, on the same connection; the ClosedLoop times and counts the pair
 * as one operation. The granted IDs are logged compactly so the leases can be revoked
 * after the measured window (unmeasured), instead of expiring later under another
 * workload or the other server's turn.
 */
import type { Channel } from "./channel.js";
import type { RequestSource, UnaryCaller } from "./loop.js";
import { PbReader, rawVarintField, WIRE_LEN } from "./pb.js";
import { encodeLeaseRevoke, LEASE_GRANT_PATH, PUT_PATH, withLease } from "./requests.js";

/**
 * LEASE_REVOKE_BUDGET_MS bounds revoking a lease-put run's leases after it; leases left
 * then expire after their TTL.
 */
export const LEASE_REVOKE_BUDGET_MS = 60_000;

/**
 * LeaseIdLog records lease IDs as their raw varint bytes (1 length byte + up to 10 bytes
 * each) in one growing buffer, so 100,000 leases take about 1 MB.
 */
export class LeaseIdLog {
  private buf = Buffer.allocUnsafe(4096);
  private used = 0;
  /** count is the number of IDs recorded. */
  count = 0;

  /** add records the ID whose varint is b[start, end). */
  add(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n < 1 || n > 10) throw new Error(`bench: lease ID varint of ${n} bytes`);
    if (this.used + 1 + n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
    this.buf[this.used] = n;
    this.buf.set(b.subarray(start, end), this.used + 1);
    this.used += 1 + n;
    this.count++;
  }

  /** revokeRequests returns a source of one LeaseRevokeRequest per recorded ID, in order. */
  revokeRequests(framed: boolean): RequestSource {
    let pos = 0;
    const log = this;
    return {
      next(): Buffer | undefined {
        if (pos >= log.used) return undefined;
        const n = log.buf[pos]!;
        const req = encodeLeaseRevoke(log.buf, pos + 1, pos + 1 + n, framed);
        pos += 1 + n;
        return req;
      },
    };
  }
}

/**
 * grantedLease returns the ID varint's bounds in a LeaseGrantResponse (field 2), or
 * throws when the answer carries an error text (field 4) or no ID.
 */
export function grantedLease(res: Buffer): [number, number] {
  const r = new PbReader(res, 0, res.length);
  while (r.next()) {
    if (r.field === 4 && r.wire === WIRE_LEN) {
      const e = r.len();
      if (e > r.lenStart) throw new Error(`bench: LeaseGrant answered error "${res.toString("utf8", r.lenStart, e)}"`);
    }
  }
  const id = rawVarintField(res, 0, res.length, 2);
  if (id === undefined || (id[1] - id[0] === 1 && res[id[0]] === 0)) throw new Error("bench: LeaseGrant answered no lease ID");
  return id;
}

/**
 * leasePutCaller returns a caller for a ClosedLoop whose requests are encoded PutRequests
 * without a lease: each call grants a lease with grantRequest (in the channel's format),
 * records its ID in log, then sends the put attached to it; done gets the first error.
 */
export function leasePutCaller(ch: Channel, grantRequest: Buffer, log: LeaseIdLog): UnaryCaller {
  return (put, done) => {
    ch.call(LEASE_GRANT_PATH, grantRequest, (err, res) => {
      if (err !== null || res === undefined) return done(err ?? new Error("bench: LeaseGrant: empty answer"));
      let id: [number, number];
      try {
        id = grantedLease(res);
      } catch (e) {
        return done(e instanceof Error ? e : new Error(String(e)));
      }
      log.add(res, id[0], id[1]);
      ch.unary(PUT_PATH, withLease(put, res, id[0], id[1], ch.framed), done);
    });
  };
}

/** LeaseCounts is what a lease-put run adds to its LoopResult. */
export interface LeaseCounts {
  /** granted counts the leases granted over the run (warm-up included). */
  granted: number;
  /** revoked and revokeErrors count the revocations after the run. */
  revoked: number;
  revokeErrors: number;
  /** revokeMs is how long revoking took (bounded; what is left expires after its TTL). */
  revokeMs: number;
}
