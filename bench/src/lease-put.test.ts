import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import type { Channel, ResponseCallback, StreamCall } from "./channel.js";
import { grantedLease, LeaseIdLog, leasePutCaller } from "./lease-put.js";
import { ClosedLoop, SequentialSource } from "./loop.js";
import { encodeLeaseGrant, encodePrefixedPuts, LEASE_GRANT_PATH, LEASE_PREFIX, PUT_PATH } from "./requests.js";

const bytes = (m: Uint8Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength);

function idVarint(id: bigint): Buffer {
  return bytes(etcdserverpb.LeaseRevokeRequest.encode({ ID: id }).finish()).subarray(1);
}

/**
 * FakeLeaseServer answers LeaseGrant with increasing 63-bit IDs and records every Put's
 * lease, as bare (unframed) messages.
 */
class FakeLeaseServer implements Channel {
  readonly framed = false;
  readonly target = "fake:0";
  nextId = 0x7000000000000000n;
  puts: { key: string; lease: bigint }[] = [];
  grants = 0;
  failGrant: string | undefined;
  grantError = "";

  call(method: string, request: Buffer, done: ResponseCallback): void {
    setImmediate(() => {
      if (method !== LEASE_GRANT_PATH) return done(new Error(`unexpected ${method}`), undefined);
      if (this.failGrant !== undefined) return done(new Error(this.failGrant), undefined);
      expect(etcdserverpb.LeaseGrantRequest.decode(request).TTL).toBe(60n);
      this.grants++;
      const ID = this.nextId++;
      done(null, bytes(etcdserverpb.LeaseGrantResponse.encode({ header: undefined, ID, TTL: 60n, error: this.grantError }).finish()));
    });
  }

  unary(method: string, request: Buffer, done: (err: Error | null) => void): void {
    setImmediate(() => {
      if (method !== PUT_PATH) return done(new Error(`unexpected ${method}`));
      const p = etcdserverpb.PutRequest.decode(request);
      this.puts.push({ key: p.key.toString(), lease: p.lease });
      done(null);
    });
  }

  stream(): StreamCall {
    throw new Error("no streams");
  }

  close(): void {}
}

describe("LeaseIdLog", () => {
  it("keeps every ID exactly and hands out one revoke request per ID, in order", () => {
    const log = new LeaseIdLog();
    const ids = Array.from({ length: 2000 }, (_, i) => (BigInt(i) * 0x1234567890abcn) % 0x7fffffffffffffffn + 1n);
    for (const id of ids) {
      const v = idVarint(id);
      log.add(v, 0, v.length);
    }
    expect(log.count).toBe(2000);
    for (const framed of [false, true]) {
      const src = log.revokeRequests(framed);
      const got: bigint[] = [];
      for (let r = src.next(); r !== undefined; r = src.next()) {
        got.push(etcdserverpb.LeaseRevokeRequest.decode(framed ? r.subarray(5) : r).ID);
      }
      expect(got).toEqual(ids);
    }
  });

  it("refuses an empty or oversized varint", () => {
    const log = new LeaseIdLog();
    expect(() => log.add(Buffer.alloc(0), 0, 0)).toThrow(/varint/);
    expect(() => log.add(Buffer.alloc(11), 0, 11)).toThrow(/varint/);
  });
});

describe("grantedLease", () => {
  it("finds the ID and refuses an answer with an error text or without an ID", () => {
    const ok = bytes(etcdserverpb.LeaseGrantResponse.encode({ header: undefined, ID: 5n, TTL: 60n, error: "" }).finish());
    const [s, e] = grantedLease(ok);
    expect([...ok.subarray(s, e)]).toEqual([5]);
    const refused = bytes(etcdserverpb.LeaseGrantResponse.encode({ header: undefined, ID: 5n, TTL: 60n, error: "no space" }).finish());
    expect(() => grantedLease(refused)).toThrow(/no space/);
    const none = bytes(etcdserverpb.LeaseGrantResponse.encode({ header: undefined, ID: 0n, TTL: 60n, error: "" }).finish());
    expect(() => grantedLease(none)).toThrow(/no lease ID/);
  });
});

describe("leasePutCaller", () => {
  it("attaches each put to the lease granted just before it, and logs every lease", async () => {
    const srv = new FakeLeaseServer();
    const log = new LeaseIdLog();
    const puts = encodePrefixedPuts(LEASE_PREFIX, { keySpace: 50, keySize: 8, valueSize: 16 });
    const loop = new ClosedLoop({
      callers: [leasePutCaller(srv, encodeLeaseGrant(60), log)],
      clients: 7,
      source: new SequentialSource(puts),
      now: () => 0,
      maxRequests: 1e6,
      errorBackoffMs: 1,
    });
    loop.start();
    const r = await loop.done;
    expect([r.totalOk, r.totalErrors, srv.grants, log.count]).toEqual([50, 0, 50, 50]);
    const leases = srv.puts.map((p) => p.lease);
    expect(new Set(leases).size).toBe(50);
    expect(leases.every((l) => l >= 0x7000000000000000n && l < 0x7000000000000000n + 50n)).toBe(true);
    expect(srv.puts.map((p) => p.key).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `l${String(i).padStart(7, "0")}`));
  });

  it("fails the operation, without a put, when the grant fails or is refused", async () => {
    const srv = new FakeLeaseServer();
    const log = new LeaseIdLog();
    const call = leasePutCaller(srv, encodeLeaseGrant(60), log);
    const put = encodePrefixedPuts(LEASE_PREFIX, { keySpace: 1, keySize: 8, valueSize: 16 })[0]!;
    srv.failGrant = "12 UNIMPLEMENTED: unknown service etcdserverpb.Lease";
    expect((await new Promise<Error | null>((res) => call(put, res)))?.message).toMatch(/UNIMPLEMENTED/);
    srv.failGrant = undefined;
    srv.grantError = "etcdserver: too many requests";
    expect((await new Promise<Error | null>((res) => call(put, res)))?.message).toMatch(/too many requests/);
    expect([srv.puts.length, log.count]).toEqual([0, 0]);
  });
});
