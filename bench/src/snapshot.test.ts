import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { openConnection, waitReady } from "./grpc-caller.js";
import {
  fmtDuration,
  MIB,
  snapshotCall,
  snapshotCallTimeoutMs,
  snapshotKeys,
  snapshotNote,
  snapshotPrepBudgetMs,
  snapshotRun,
  SnapshotScan,
  type SnapshotDetail,
} from "./snapshot.js";
import { ToyEtcd } from "./testing/toy-etcd.js";

/** resp encodes one SnapshotResponse as a server sends it (header included). */
function resp(remaining: number, blobBytes: number): Buffer {
  const header = { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n };
  return Buffer.from(
    etcdserverpb.SnapshotResponse.encode({ header, remainingBytes: BigInt(remaining), blob: Buffer.alloc(blobBytes, 7) }).finish(),
  );
}

/** stream returns the messages of a whole snapshot of `size` bytes in `chunk`-byte blobs, then the SHA-256 trailer. */
function stream(size: number, chunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let sent = 0; sent < size; ) {
    const n = Math.min(chunk, size - sent);
    sent += n;
    out.push(resp(size - sent, n));
  }
  out.push(resp(0, 32));
  return out;
}

function scanOf(msgs: Buffer[]): SnapshotScan {
  const s = new SnapshotScan();
  for (const m of msgs) s.feed(m);
  return s;
}

describe("SnapshotScan", () => {
  it("counts blob bytes and accepts a whole stream: the announced file, then a 32-byte SHA-256", () => {
    const s = scanOf(stream(100_000, 32 * 1024));
    expect(s.problem()).toBeUndefined();
    expect(s).toMatchObject({ messages: 5, bytes: 100_032, announced: 100_000, fileBytes: 100_000, trailerBytes: 32 });
    // one blob holding the whole file (etcd-ts sends 1 MiB blobs)
    expect(scanOf(stream(1000, MIB)).problem()).toBeUndefined();
  });

  it("reports a stream that ends early, lacks or overruns the trailer, or whose remaining_bytes do not add up", () => {
    const whole = stream(100_000, 32 * 1024);
    expect(new SnapshotScan().problem()).toBe("the stream ended without a SnapshotResponse");
    expect(scanOf(whole.slice(0, 2)).problem()).toBe("the stream ended after 65536 of the 100000 bytes announced");
    expect(scanOf(whole.slice(0, -1)).problem()).toBe("after the 100000 bytes announced came 0 bytes, not a 32-byte SHA-256");
    expect(scanOf([...whole, resp(0, 32)]).problem()).toMatch(/came 64 bytes/);
    // the second blob is 100 bytes short of what the first one announced would remain
    expect(scanOf([resp(100, 50), resp(0, 50), resp(0, 32)]).problem()).toBe("message 2 says 0 bytes remain after 100 received of the 150 announced");
  });

  it("throws on a malformed message", () => {
    expect(() => new SnapshotScan().feed(Buffer.from([0x1a, 0x05, 0x01]))).toThrow(/pb: truncated/);
  });
});

describe("snapshot sizes, run and note", () => {
  it("snapshotKeys writes megabytes/valueSize distinct keys; budgets grow with the size", () => {
    expect(snapshotKeys(1024, 1024)).toBe(1048576);
    expect(snapshotKeys(32, 1024)).toBe(32768);
    expect(snapshotKeys(1, 2 * MIB)).toBe(1);
    expect(snapshotPrepBudgetMs(1024)).toBeGreaterThan(snapshotPrepBudgetMs(32));
    expect(snapshotCallTimeoutMs(1024)).toBe(572_000);
  });

  it("snapshotRun reports MiB/s as the throughput and the call's duration as its latency", () => {
    const prep = { keys: 32768, valueSize: 1024, fillMs: 3200 };
    const call = { firstByteMs: 12.5, durationMs: 2000, bytes: 64 * MIB, snapshotBytes: 64 * MIB - 32, messages: 2049 };
    const r = snapshotRun(prep, 60 * MIB, call, { server: 0.9, generator: 0.4, other: 0.1 });
    expect(r).toMatchObject({ requests: 1, errors: 0, seconds: 2, throughput: 32, p50Ms: 2000, p99Ms: 2000, serverCpuCores: 0.9, generatorCpuCores: 0.4 });
    expect(r.snapshot).toEqual({ ...prep, ...call, dbSize: 60 * MIB, mibPerSec: 32 });
    // 0.9 cores for 2 s is 1.8 CPU seconds for 64 MiB: 28.125 s per 1,000 MiB.
    expect(r.serverCpuSecondsPer1k).toBeCloseTo(28.125, 9);
  });

  it("snapshotNote gives bytes, duration, MiB/s, time to the first message and the fill", () => {
    const d: SnapshotDetail = {
      keys: 32768,
      valueSize: 1024,
      fillMs: 3210,
      dbSize: 40 * MIB,
      firstByteMs: 8.25,
      durationMs: 1234.5,
      bytes: 41943072,
      snapshotBytes: 41943040,
      messages: 1281,
      mibPerSec: 32.4,
    };
    expect(snapshotNote("snapshot", "etcd", d)).toBe(
      "snapshot etcd: 40.0 MiB (41943072 B in 1281 messages) in 1.23 s, 32.4 MiB/s; first message after 8.3 ms; " +
        "db 40.0 MiB (Status); before it: 32768 keys of 1024 B written in 3.2 s",
    );
    expect([fmtDuration(5), fmtDuration(250.4), fmtDuration(4210)]).toEqual(["5.0 ms", "250 ms", "4.21 s"]);
  });
});

describe("snapshotCall against a toy server", () => {
  const toys: ToyEtcd[] = [];
  afterEach(() => {
    for (const t of toys.splice(0)) t.stop();
  });

  async function call(setup: (t: ToyEtcd) => void, token?: string) {
    const toy = new ToyEtcd();
    setup(toy);
    await toy.start();
    toys.push(toy);
    const c = openConnection(`127.0.0.1:${toy.port}`);
    try {
      await waitReady(c, 5000);
      return { toy, result: await snapshotCall(c, 5000, token) };
    } finally {
      c.close();
    }
  }

  it("reads the whole stream, 1 MiB blobs included, and sends the token", async () => {
    const { toy, result } = await call((t) => {
      t.snapshotSize = 3 * MIB + 5;
      t.snapshotChunk = MIB;
    }, "tok");
    expect(result).toMatchObject({ bytes: 3 * MIB + 5 + 32, snapshotBytes: 3 * MIB + 5, messages: 5 });
    expect(result.firstByteMs).toBeGreaterThanOrEqual(0);
    expect(result.durationMs).toBeGreaterThanOrEqual(result.firstByteMs);
    expect(toy.calls).toEqual([{ method: "Snapshot", token: "tok" }]);
  });

  it("fails a truncated stream, and a failed one with the server's status text", async () => {
    await expect(call((t) => (t.snapshotFault = "truncate"))).rejects.toThrow(
      "bench: Snapshot stream incomplete: the stream ended after 32768 of the 100000 bytes announced (1 messages, 32768 bytes received)",
    );
    await expect(call((t) => (t.snapshotFault = "fail"))).rejects.toThrow(/^bench: Snapshot failed: 14 UNAVAILABLE: etcdserver: toy snapshot failed/);
  });
});
