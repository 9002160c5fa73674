import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_CLIENT_SNAPSHOTS } from "../etcd_server.js";
import { openMember, removeDataDirs, tmpDataDir } from "../testing/member.js";

const b = (s: string): Buffer => Buffer.from(s);

function tempImages(dataDir: string): string[] {
  return readdirSync(join(dataDir, "member", "snap")).filter((n) => n.startsWith("client-snapshot-"));
}

describe("client snapshots (Maintenance.Snapshot images)", () => {
  afterEach(removeDataDirs);

  it("are bounded: past MAX_CLIENT_SNAPSHOTS at once a call gets 'too many requests', and a released one frees its place", async () => {
    const dataDir = tmpDataDir();
    const s = await openMember(dataDir);
    try {
      await s.put(etcdserverpb.PutRequest.fromPartial({ key: b("k"), value: b("v") }));
      const held = [];
      for (let i = 0; i < MAX_CLIENT_SNAPSHOTS; i++) held.push(await s.clientSnapshot());
      expect(tempImages(dataDir)).toHaveLength(MAX_CLIENT_SNAPSHOTS);
      await expect(s.clientSnapshot()).rejects.toThrow("etcdserver: too many requests");
      await held[0]!.release();
      await held[0]!.release(); // twice is once
      const again = await s.clientSnapshot();
      await expect(s.clientSnapshot()).rejects.toThrow("etcdserver: too many requests");
      for (const h of [...held.slice(1), again]) await h.release();
      expect(tempImages(dataDir)).toEqual([]);
    } finally {
      await s.stop();
    }
  });

  it("stop being written when the client goes away, leaving no file and no place taken", async () => {
    const dataDir = tmpDataDir();
    const s = await openMember(dataDir);
    try {
      for (let i = 0; i < 200; i++) await s.put(etcdserverpb.PutRequest.fromPartial({ key: b(`k${i}`), value: b("v".repeat(100)) }));
      const gone = new AbortController();
      gone.abort(new Error("client went away"));
      await expect(s.clientSnapshot(gone.signal)).rejects.toThrow("client went away");
      expect(tempImages(dataDir)).toEqual([]);
      const held = [];
      for (let i = 0; i < MAX_CLIENT_SNAPSHOTS; i++) held.push(await s.clientSnapshot());
      for (const h of held) {
        expect(existsSync(h.path)).toBe(true);
        await h.release();
      }
    } finally {
      await s.stop();
    }
  });
});
