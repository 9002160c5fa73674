import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { Backend, consistentIndexKey } from "@etcd-ts/backend";
import { etcdserverpb, raftpb, walpb } from "@etcd-ts/proto";
import { WAL } from "@etcd-ts/wal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openServer } from "./bootstrap.js";
import { loadConfig } from "./config/config.js";
import { Etcd } from "./embed.js";
import { Logger, type Fields, type Level } from "./log.js";
import { saveStream, verifySnapshotFile, writeFrame } from "./peer/snapshot_stream.js";
import { installSnapshotBackend, pendingSnapshotName, planPendingSnapshot } from "./snapshot_install.js";
import { freePort, memberArgs } from "./testing/cluster.js";

/**
 * The start's decision about a snapshot from the leader whose install a crash interrupted
 * (planPendingSnapshot), and that decision carried out by openServer on real data dirs: a
 * backend behind the WAL's latest snapshot is rewritten from the kept stream, or the member
 * refuses to start when the stream is gone.
 */

class Captured extends Logger {
  lines: { level: Level; msg: string; fields: Fields | undefined }[] = [];
  constructor() {
    super("debug");
  }
  protected override write(level: Level, _caller: string, msg: string, fields?: Fields): void {
    this.lines.push({ level, msg, fields });
  }
}

const b = (s: string): Buffer => Buffer.from(s);
const ci = (n: bigint): Buffer => {
  const v = Buffer.alloc(8);
  v.writeBigUInt64BE(n);
  return v;
};

describe("planPendingSnapshot", () => {
  const at = (i: bigint): string => pendingSnapshotName(i);

  it("names a kept stream after its index in 16 hex digits", () => {
    expect(pendingSnapshotName(0x19bn)).toBe("000000000000019b.snapstream");
  });

  it("installs the kept stream of the WAL's latest snapshot, whatever the backend's consistent index", () => {
    // Backend behind (a crash between the WAL marker and the end of the rewrite: partly wiped, index gone).
    expect(planPendingSnapshot(["db", at(411n)], 411n, 0n)).toEqual({ remove: [], install: at(411n), refuse: undefined });
    expect(planPendingSnapshot(["db", at(411n)], 411n, 211n)).toEqual({ remove: [], install: at(411n), refuse: undefined });
    // Rewritten and synced, the file not yet removed: installing again is harmless.
    expect(planPendingSnapshot(["db", at(411n)], 411n, 411n).install).toBe(at(411n));
  });

  it("refuses to start when the backend is behind the WAL's latest snapshot and the stream is gone", () => {
    const p = planPendingSnapshot(["db"], 411n, 0n);
    expect(p.install).toBeUndefined();
    expect(p.refuse).toBe(
      "etcdserver: backend consistent index 0 is behind the WAL's latest snapshot index 411, and the snapshot it was being installed from " +
        "(000000000000019b.snapstream) is not in the snap directory: the backend (member/snap/db) is incomplete; the WAL is not at fault",
    );
    // A stream for another index does not help (and is stale).
    expect(planPendingSnapshot(["db", at(300n)], 411n, 211n)).toMatchObject({ remove: [at(300n)], install: undefined });
    expect(planPendingSnapshot(["db", at(300n)], 411n, 211n).refuse).toMatch(/behind the WAL's latest snapshot index 411/);
  });

  it("starts normally with a backend at or after the WAL's snapshot, removing stale streams", () => {
    const names = ["db", "incoming-123-1.snapstream", "incoming-99-7.snapstream", at(100n), at(500n), "notes.txt"];
    // 100: installed, then superseded by a later marker; 500: crashed before its WAL marker.
    expect(planPendingSnapshot(names, 411n, 420n)).toEqual({
      remove: ["incoming-123-1.snapstream", "incoming-99-7.snapstream", at(100n), at(500n)],
      install: undefined,
      refuse: undefined,
    });
    // No WAL (a new member): nothing is pending.
    expect(planPendingSnapshot(["db", at(7n)], 0n, 0n)).toEqual({ remove: [at(7n)], install: undefined, refuse: undefined });
    expect(planPendingSnapshot([], 0n, 0n)).toEqual({ remove: [], install: undefined, refuse: undefined });
  });
});

describe("a pending snapshot at start (openServer)", { timeout: 60_000 }, () => {
  const base = mkdtempSync(join(tmpdir(), "etcd-snap-pending-"));
  let peer = 0;
  let client = 0;
  /** stream is a complete snapshot stream of a member holding s/0..s/49, its metadata as verified. */
  let stream = "";
  let meta: raftpb.SnapshotMetadata;

  /** args are the flags of member m0 with its data dir under `dir` (same cluster and member IDs everywhere). */
  const args = (dir: string): string[] => memberArgs(dir, "m0", peer, client, `m0=http://127.0.0.1:${peer}`, ["--heartbeat-interval", "20", "--election-timeout", "200"]);
  const config = (dir: string) => {
    const r = loadConfig(args(dir), {});
    if (r.kind !== "run") throw new Error("config");
    return r.config;
  };

  beforeAll(async () => {
    peer = await freePort();
    client = await freePort();
    // The "leader": a member with data, streaming its backend as a follower would receive it.
    const leaderDir = join(base, "leader");
    const start = () =>
      Etcd.start(config(leaderDir), new Logger("error"), (err) => {
        throw err;
      });
    const first = await start();
    for (let i = 0; i < 50; i++) await first.server.put(etcdserverpb.PutRequest.fromPartial({ key: b(`s/${i}`), value: b(`v${i}`) }));
    // Stopped and started again: the backend holds every put (an applied batch may still be
    // on its way to the backend right after the put answers; the stream is of the backend).
    await first.stop();
    const e = await start();
    try {
      stream = join(base, "received.snapstream");
      const out = new PassThrough();
      const saved = saveStream(out, stream);
      await writeFrame(out, Buffer.from(raftpb.Message.encode(raftpb.Message.fromPartial({ type: raftpb.MessageType.MSG_SNAP })).finish()));
      await e.server.writeSnapshot(out);
      out.end();
      await saved;
    } finally {
      await e.stop();
    }
    meta = (await verifySnapshotFile(stream)).metadata;
    expect(meta.index).toBeGreaterThan(50n);
    expect(meta.confState?.voters.length).toBe(1);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /**
   * follower makes a data dir of the same member with no data (created, never started) whose
   * WAL holds the stream's snapshot marker: the state a crash leaves right after the marker.
   */
  async function follower(name: string): Promise<{ dir: string; snapDir: string }> {
    const dir = join(base, name);
    const s = await openServer(config(dir), new Logger("error"), (err) => {
      throw err;
    });
    await s.stop();
    const { wal } = await WAL.open(join(dir, "m0", "member", "wal"));
    await wal.saveSnapshot(walpb.SnapshotMarker.fromPartial({ index: meta.index, term: meta.term, confState: meta.confState }));
    await wal.close();
    return { dir, snapDir: join(dir, "m0", "member", "snap") };
  }

  it("rewrites a backend behind the WAL's snapshot from the kept stream before the stores load", async () => {
    const { dir, snapDir } = await follower("with-file");
    copyFileSync(stream, join(snapDir, pendingSnapshotName(meta.index)));
    writeFileSync(join(snapDir, "incoming-1-1.snapstream"), "partial");
    const log = new Captured();
    const s = await openServer(config(dir), log, (err) => {
      throw err;
    });
    try {
      const r = await s.range(etcdserverpb.RangeRequest.fromPartial({ key: b("s/"), rangeEnd: b("s0"), serializable: true }));
      expect(r.count).toBe(50n);
      expect(r.kvs.find((kv) => kv.key.toString() === "s/7")?.value.toString()).toBe("v7");
      expect(s.appliedIndex).toBe(meta.index);
      expect(s.members().length).toBe(1);
    } finally {
      await s.stop();
    }
    const install = log.lines.find((l) => l.msg === "installing pending snapshot");
    expect(install?.fields).toMatchObject({ index: meta.index, "backend-consistent-index": 0n });
    expect(log.lines.findIndex((l) => l.msg === "installing pending snapshot")).toBeLessThan(log.lines.findIndex((l) => l.msg === "opened backend db"));
    // The kept stream and the stale incoming one are gone; the next start has nothing to do.
    expect(readdirSync(snapDir).filter((n) => n.endsWith(".snapstream"))).toEqual([]);
    const again = new Captured();
    const s2 = await openServer(config(dir), again, (err) => {
      throw err;
    });
    await s2.stop();
    expect(again.lines.some((l) => l.msg === "installing pending snapshot")).toBe(false);
  });

  it("refuses to start when the backend is behind the WAL's snapshot and no stream is kept, and leaves nothing locked", async () => {
    const { dir } = await follower("without-file");
    const start = () =>
      openServer(config(dir), new Logger("error"), (err) => {
        throw err;
      });
    const refusal = /^etcdserver: backend consistent index 0 is behind the WAL's latest snapshot index \d+, and the snapshot it was being installed from \([0-9a-f]{16}\.snapstream\) is not in the snap directory: the backend \(member\/snap\/db\) is incomplete; the WAL is not at fault$/;
    await expect(start()).rejects.toThrow(refusal);
    // The same answer again: the refused start closed the backend and the WAL.
    await expect(start()).rejects.toThrow(refusal);
  });

  it("leaves the backend reading as behind (no consistent index) when the stream ends early", async () => {
    const dir = join(base, "truncated");
    const db = join(dir, "db");
    mkdirSync(dir, { recursive: true });
    const backend = await Backend.open(db);
    try {
      await backend.write([
        { type: "put", key: b("key/old"), value: b("x") },
        { type: "put", key: consistentIndexKey, value: ci(5n) },
      ]);
      const cut = (length: number): string => {
        const path = join(dir, `cut-${length}.snapstream`);
        copyFileSync(stream, path);
        truncateSync(path, length);
        return path;
      };
      // Cut in its first frames: refused before anything is touched.
      await expect(installSnapshotBackend(backend, cut(20), meta.index)).rejects.toThrow(/is truncated/);
      expect(await backend.get(consistentIndexKey)).toEqual(ci(5n));
      // Cut among the pairs: the old keys are gone, and so is the consistent index.
      await expect(installSnapshotBackend(backend, cut(Math.floor(statSync(stream).size / 2)), meta.index)).rejects.toThrow(/is truncated/);
      expect(await backend.get(b("key/old"))).toBeUndefined();
      expect(await backend.get(consistentIndexKey)).toBeUndefined();
      // A complete one fills it, the consistent index written last.
      const full = await installSnapshotBackend(backend, stream, meta.index);
      expect(full.metadata.index).toBe(meta.index);
      expect(await backend.get(consistentIndexKey)).toEqual(ci(meta.index));
      expect(await backend.get(b("key/old"))).toBeUndefined();
      // The stream must be the snapshot the WAL names.
      await expect(installSnapshotBackend(backend, stream, meta.index + 1n)).rejects.toThrow(/holds the snapshot at index \d+, want \d+/);
    } finally {
      await backend.close();
    }
    expect(existsSync(stream)).toBe(true);
  });
});
