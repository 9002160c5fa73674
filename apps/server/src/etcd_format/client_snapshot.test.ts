import { createHash } from "node:crypto";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_CLIENT_SNAPSHOTS } from "../etcd_server.js";
import { openMember, removeDataDirs, tmpDataDir } from "../testing/member.js";

const b = (s: string): Buffer => Buffer.from(s);

/** drain reads an image's messages to their end and returns the image. */
async function drain(messages: AsyncIterable<Buffer>): Promise<Buffer> {
  const blobs: Buffer[] = [];
  for await (const m of messages) blobs.push(Buffer.from(etcdserverpb.SnapshotResponse.decode(m).blob));
  return Buffer.concat(blobs);
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
      await expect(s.clientSnapshot()).rejects.toThrow("etcdserver: too many requests");
      await held[0]!.release();
      await held[0]!.release(); // twice is once
      const again = await s.clientSnapshot();
      await expect(s.clientSnapshot()).rejects.toThrow("etcdserver: too many requests");
      // A released image that was read only in part, and ones never read, let go of everything.
      const first = held[1]!.messages;
      await first.next();
      for (const h of [...held.slice(1), again]) await h.release();
      const last = await s.clientSnapshot();
      expect(last.sizeBytes).toBe(again.sizeBytes);
      await last.release();
    } finally {
      await s.stop();
    }
  });

  it("stop when the client goes away, taking no place; an image read whole is as large as planned", async () => {
    const dataDir = tmpDataDir();
    const s = await openMember(dataDir);
    try {
      for (let i = 0; i < 200; i++) await s.put(etcdserverpb.PutRequest.fromPartial({ key: b(`k${i}`), value: b("v".repeat(100)) }));
      const gone = new AbortController();
      gone.abort(new Error("client went away"));
      await expect(s.clientSnapshot(gone.signal)).rejects.toThrow("client went away");
      const held = [];
      for (let i = 0; i < MAX_CLIENT_SNAPSHOTS; i++) held.push(await s.clientSnapshot());
      for (const h of held) {
        const image = await drain(h.messages);
        expect(image.length).toBe(h.sizeBytes);
        expect((await h.sha256()).equals(createHash("sha256").update(image).digest())).toBe(true);
        await h.release();
      }
    } finally {
      await s.stop();
    }
  });
});
