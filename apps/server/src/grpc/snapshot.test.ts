import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "@etcd-ts/backend";
import { BboltReader } from "@etcd-ts/bbolt";
import { etcdserverpb } from "@etcd-ts/proto";
import type { ServerStream } from "@etcd-ts/grpc-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeClientSnapshot, openClientSnapshotScan, removeStaleClientSnapshots } from "../etcd_format/client_snapshot.js";
import { ETCD_BUCKETS } from "../etcd_format/layout.js";
import type { EtcdServer } from "../etcd_server.js";
import { Logger } from "../log.js";
import { Membership } from "../membership.js";
import { MEMBERSHIP_KEY } from "../membership_store.js";
import { sendSnapshot } from "./snapshot.js";
import { SNAPSHOT_SEND_BYTES, snapshotResponseBuffer } from "./snapshot_messages.js";

/**
 * Maintenance.Snapshot as the API layer sends it: the etcd-format image of the backend in
 * 1 MiB blobs with the bytes still to come, then the SHA-256 of all of them; its temporary
 * file is gone once the call ends, however it ends.
 */

const KEYS = 12_000;
let dir: string;
let backend: Backend;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "etcd-ts-client-snapshot-"));
  backend = await Backend.open(join(dir, "db"));
  const ms = new Membership(1n, new Map());
  ms.add({ id: 0xan, name: "m", peerUrls: ["http://127.0.0.1:1"], clientUrls: [], isLearner: false });
  const ops = [{ type: "put" as const, key: MEMBERSHIP_KEY, value: ms.encode() }];
  const ci = Buffer.alloc(8);
  ci.writeBigUInt64BE(77n);
  ops.push({ type: "put", key: Buffer.from("meta/consistent_index"), value: ci });
  for (let i = 1; i <= KEYS; i++) {
    const k = Buffer.alloc(20);
    k.write("key/");
    k.writeBigUInt64BE(BigInt(i), 4);
    ops.push({ type: "put", key: k, value: Buffer.alloc(200, i % 251) });
  }
  await backend.write(ops);
});

afterAll(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

/** fakeServer is what sendSnapshot needs of the member. */
function fakeServer(): EtcdServer {
  const clientSnapshot = async (signal?: AbortSignal) => {
    const scan = await openClientSnapshotScan(backend);
    if (scan === undefined) throw new Error("the backend cannot be scanned");
    return makeClientSnapshot(scan, dir, signal);
  };
  return { clientSnapshot, logger: new Logger("error") } as unknown as EtcdServer;
}

/** recorder keeps what was sent, decoded (blobs come already encoded, the trailer as a message). */
function recorder(failAfter = Infinity): { call: ServerStream<etcdserverpb.SnapshotResponse | Buffer>; sent: etcdserverpb.SnapshotResponse[] } {
  const sent: etcdserverpb.SnapshotResponse[] = [];
  const call = {
    send: async (r: etcdserverpb.SnapshotResponse | Buffer) => {
      if (sent.length >= failAfter) throw new Error("client went away");
      sent.push(Buffer.isBuffer(r) ? etcdserverpb.SnapshotResponse.decode(r) : r);
    },
    bufferedBytes: 0,
  } as unknown as ServerStream<etcdserverpb.SnapshotResponse | Buffer>;
  return { call, sent };
}

describe("Maintenance.Snapshot", () => {
  it("sends the etcd-format image in 1 MiB blobs, then its SHA-256", async () => {
    const { call, sent } = recorder();
    await sendSnapshot(fakeServer(), call);
    const last = sent.pop() as etcdserverpb.SnapshotResponse;
    const image = Buffer.concat(sent.map((r) => r.blob));
    expect(image.length % 4096).toBe(0);
    expect(sent.length).toBe(Math.ceil(image.length / SNAPSHOT_SEND_BYTES));
    expect(sent.length).toBeGreaterThan(2);
    let left = image.length;
    for (const r of sent) {
      expect(r.blob.length).toBeLessThanOrEqual(SNAPSHOT_SEND_BYTES);
      left -= r.blob.length;
      expect(r.remainingBytes).toBe(BigInt(left));
    }
    expect(last.remainingBytes).toBe(0n);
    expect(last.blob.equals(createHash("sha256").update(image).digest())).toBe(true);

    // The image is etcd's layout of the backend.
    const reader = await BboltReader.fromBuffer(image);
    try {
      const names: string[] = [];
      for await (const b of reader.buckets()) names.push(b.toString());
      expect(names).toEqual([...ETCD_BUCKETS]);
      expect(await (await reader.bucket(Buffer.from("key")))?.count()).toBe(KEYS);
      expect((await (await reader.bucket(Buffer.from("meta")))?.get(Buffer.from("consistent_index")))?.readBigUInt64BE(0)).toBe(77n);
      const member = await (await reader.bucket(Buffer.from("members")))?.get(Buffer.from("a"));
      expect(member?.toString()).toBe('{"id":10,"peerURLs":["http://127.0.0.1:1"],"name":"m"}');
    } finally {
      await reader.close();
    }
  });

  it("serves snapshots side by side, each from a scan of its own", async () => {
    const a = recorder();
    const b = recorder();
    await Promise.all([sendSnapshot(fakeServer(), a.call), sendSnapshot(fakeServer(), b.call)]);
    expect(Buffer.concat(a.sent.map((r) => r.blob)).equals(Buffer.concat(b.sent.map((r) => r.blob)))).toBe(true);
  });

  it("stops when the client goes away in the middle", async () => {
    const { call, sent } = recorder(2);
    await expect(sendSnapshot(fakeServer(), call)).rejects.toThrow(/client went away/);
    expect(sent.length).toBe(2);
  });

  it("keeps the image file it reads from out of the directory, while it is sent and after", async () => {
    const images = (): string[] => readdirSync(dir).filter((n) => n.startsWith("client-snapshot-"));
    const seen: number[] = [];
    const call = {
      send: async () => {
        seen.push(images().length);
      },
      bufferedBytes: 0,
    } as unknown as ServerStream<etcdserverpb.SnapshotResponse | Buffer>;
    await sendSnapshot(fakeServer(), call);
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.every((n) => n === 0)).toBe(true);
    expect(images()).toEqual([]);
  });

  it("encodes a blob's message as the generated encoder does", () => {
    for (const [remaining, size] of [[0, 32], [5, 1], [127, 128], [128, 16384], [2 ** 40, SNAPSHOT_SEND_BYTES]] as const) {
      const { message, blob } = snapshotResponseBuffer(remaining, size);
      blob.fill(0xab);
      const want = etcdserverpb.SnapshotResponse.encode({ header: undefined, remainingBytes: BigInt(remaining), blob: Buffer.alloc(size, 0xab) }).finish();
      expect(message.equals(Buffer.from(want))).toBe(true);
    }
  });

  it("removes files a stopped member left, and nothing else", async () => {
    const snapDir = mkdtempSync(join(dir, "snap-"));
    writeFileSync(join(snapDir, "client-snapshot-0123456789ab.db.tmp"), "x");
    writeFileSync(join(snapDir, "0000000000000005.snap.db"), "keep");
    await removeStaleClientSnapshots(snapDir, new Logger("error"));
    expect(readdirSync(snapDir)).toEqual(["0000000000000005.snap.db"]);
    expect(readFileSync(join(snapDir, "0000000000000005.snap.db"), "utf8")).toBe("keep");
  });
});
