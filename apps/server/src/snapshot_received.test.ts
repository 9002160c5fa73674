import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { etcdserverpb, raftpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "./config/config.js";
import { Etcd } from "./embed.js";
import { Logger } from "./log.js";
import { saveStream, verifySnapshotFile, writeFrame } from "./peer/snapshot_stream.js";
import { freePort, memberArgs } from "./testing/cluster.js";

/**
 * Snapshot streams received from a leader (member/snap/incoming-*.snapstream, each a full copy
 * of the database) are kept only while raft may still install them: a MsgSnap raft ignores,
 * and one superseded by a later MsgSnap before a Ready installed it, lose their file at once.
 */

const b = (s: string): Buffer => Buffer.from(s);
/** LEADER is the (made-up) member the snapshots come from. */
const LEADER = 0x1234n;

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe("received snapshot files", { timeout: 60_000 }, () => {
  const base = mkdtempSync(join(tmpdir(), "etcd-snap-received-"));
  let peer = 0;
  let client = 0;
  /** streams[i] is a complete snapshot stream of member m0 holding s/0..s/(20(i+1)-1), metas[i] its metadata. */
  const streams: string[] = [];
  const metas: raftpb.SnapshotMetadata[] = [];

  const config = (dir: string) => {
    const args = memberArgs(dir, "m0", peer, client, `m0=http://127.0.0.1:${peer}`, ["--heartbeat-interval", "20", "--election-timeout", "200"]);
    const r = loadConfig(args, {});
    if (r.kind !== "run") throw new Error("config");
    return r.config;
  };
  const start = (dir: string) =>
    Etcd.start(config(dir), new Logger("error"), (err) => {
      throw err;
    });

  beforeAll(async () => {
    peer = await freePort();
    client = await freePort();
    const leaderDir = join(base, "leader");
    for (let round = 0; round < 2; round++) {
      const e = await start(leaderDir);
      for (let i = 20 * round; i < 20 * (round + 1); i++) await e.server.put(etcdserverpb.PutRequest.fromPartial({ key: b(`s/${i}`), value: b(`v${i}`) }));
      // Stopped and started again: the backend holds every put.
      await e.stop();
      const again = await start(leaderDir);
      try {
        const path = join(base, `received-${round}.snapstream`);
        const out = new PassThrough();
        const saved = saveStream(out, path);
        await writeFrame(out, Buffer.from(raftpb.Message.encode(raftpb.Message.fromPartial({ type: raftpb.MessageType.MSG_SNAP })).finish()));
        await again.server.writeSnapshot(out);
        out.end();
        await saved;
        streams.push(path);
        metas.push((await verifySnapshotFile(path)).metadata);
      } finally {
        await again.stop();
      }
    }
    expect(metas[1]?.index).toBeGreaterThan(metas[0]?.index ?? 0n);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("keeps only the snapshot raft installs: one superseded before its install, and ones raft refuses, are removed at once", async () => {
    // A new member (same ID, empty data) that the snapshots are sent to.
    const e = await start(join(base, "follower"));
    const snapDir = join(base, "follower", "m0", "member", "snap");
    const snapFiles = (): string[] => readdirSync(snapDir).filter((n) => n.endsWith(".snapstream"));
    let seq = 0;
    /** receive saves stream i as the listener does and steps its MsgSnap at `term`; it returns the file. */
    const receive = (i: number, term: bigint): string => {
      const file = join(snapDir, `incoming-test-${++seq}.snapstream`);
      copyFileSync(streams[i] as string, file);
      const m = raftpb.Message.fromPartial({ type: raftpb.MessageType.MSG_SNAP, from: LEADER, to: e.server.memberId, term, snapshot: { metadata: metas[i] } });
      e.server.stepSnapshot(m, file);
      return file;
    };
    try {
      const i0 = metas[0]?.index as bigint;
      const i1 = metas[1]?.index as bigint;
      // Two snapshots received before the Ready that installs one: raft takes the second in place of the first.
      const first = receive(0, 100n);
      const second = receive(1, 100n);
      await until(() => e.server.appliedIndex === i1);
      await until(() => snapFiles().length === 0, 3000);
      expect(existsSync(first)).toBe(false);
      expect(existsSync(second)).toBe(false);
      const r = await e.server.range(etcdserverpb.RangeRequest.fromPartial({ key: b("s/"), rangeEnd: b("s0"), serializable: true }));
      expect(r.count).toBe(40n);

      // Snapshots at or below the committed index are ignored by raft: the older one, and the
      // installed one again (a leader retrying); their files go at once.
      const older = receive(0, 1000n);
      const retried = receive(1, 1000n);
      await until(() => !existsSync(older) && !existsSync(retried), 3000);
      expect(snapFiles()).toEqual([]);
      expect(e.server.appliedIndex).toBeGreaterThanOrEqual(i1);
      expect(i0).toBeLessThan(i1);
    } finally {
      await e.stop();
    }
  });
});
