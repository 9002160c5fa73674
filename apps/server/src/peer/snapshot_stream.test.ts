import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { raftpb } from "@etcd-ts/proto";
import { afterAll, describe, expect, it } from "vitest";
import { readSnapshotFile, saveStream, SnapshotWriter, verifySnapshotFile, writeFrame } from "./snapshot_stream.js";

/**
 * The snapshot stream's trailer: a stream is accepted only with its end frame, metadata and
 * digest intact, so a stream cut anywhere (at a pair boundary too) or damaged is refused.
 */

const dir = mkdtempSync(join(tmpdir(), "etcd-snapstream-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const b = (s: string): Buffer => Buffer.from(s);
const META = raftpb.SnapshotMetadata.fromPartial({ index: 42n, term: 3n, confState: { voters: [1n, 2n, 3n] } });
const MSG = raftpb.Message.fromPartial({ type: raftpb.MessageType.MSG_SNAP, from: 1n, to: 2n, term: 3n, snapshot: { metadata: { index: 40n, term: 3n } } });

let n = 0;

/** writeStream saves a stream as the transport (frame 0) and EtcdServer.writeSnapshot (the rest) write it. */
async function writeStream(pairs: [string, string][], finish = true): Promise<{ path: string }> {
  const path = join(dir, `s${++n}.snapstream`);
  const out = new PassThrough();
  const saved = saveStream(out, path);
  await writeFrame(out, Buffer.from(raftpb.Message.encode(MSG).finish()));
  const w = new SnapshotWriter(out);
  await w.membership(b('{"members":[]}'));
  for (const [k, v] of pairs) await w.pair(b(k), b(v));
  if (finish) await w.finish(META);
  out.end();
  await saved;
  return { path };
}

/** frameOffsets lists the offset after each frame of a saved stream. */
function frameOffsets(path: string): number[] {
  const buf = readFileSync(path);
  const out: number[] = [];
  for (let at = 0; at < buf.length; ) {
    at += 4 + buf.readUInt32BE(at);
    out.push(at);
  }
  return out;
}

function cutCopy(path: string, length: number): string {
  const cut = join(dir, `cut${++n}.snapstream`);
  writeFileSync(cut, readFileSync(path));
  truncateSync(cut, length);
  return cut;
}

const PAIRS: [string, string][] = [
  ["key/a", "1"],
  ["key/b", "2"],
  ["meta/consistent_index", "x"],
];

describe("snapshot stream trailer", () => {
  it("accepts a complete stream: its pairs, then the metadata of the data", async () => {
    const { path } = await writeStream(PAIRS);
    const v = await verifySnapshotFile(path);
    expect(v.pairs).toBe(3);
    expect(v.metadata).toEqual(META);
    expect(v.message.snapshot?.metadata?.index).toBe(40n);
    const c = await readSnapshotFile(path);
    expect(() => c.metadata()).toThrow(/once every pair was read/);
    const got: string[] = [];
    for await (const [k, val] of c.pairs) got.push(`${k.toString()}=${val.toString()}`);
    expect(got).toEqual(["key/a=1", "key/b=2", "meta/consistent_index=x"]);
    expect(c.metadata()).toEqual(META);
    // An empty backend still has a trailer.
    expect((await verifySnapshotFile((await writeStream([])).path)).pairs).toBe(0);
  });

  it("refuses a stream cut at any frame boundary or inside a frame as truncated", async () => {
    const { path } = await writeStream(PAIRS);
    const offsets = frameOffsets(path);
    // message, membership, 3 pairs (6 frames), end, metadata, digest.
    expect(offsets.length).toBe(11);
    for (const end of offsets.slice(0, -1)) {
      await expect(verifySnapshotFile(cutCopy(path, end)), `cut at ${end}`).rejects.toThrow(/^peer: snapshot file .* is truncated$/);
      await expect(verifySnapshotFile(cutCopy(path, end + 2)), `cut at ${end + 2}`).rejects.toThrow(/^peer: snapshot file .* is truncated$/);
    }
    // The format before the trailer existed: the last pair, then the end of the file.
    const old = await writeStream(PAIRS, false);
    await expect(verifySnapshotFile(old.path)).rejects.toThrow(/is truncated/);
    // A reader consuming the pairs sees the error before it is done (an install writes nothing final).
    const c = await readSnapshotFile(old.path);
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const [k] of c.pairs) seen.push(k.toString());
      })(),
    ).rejects.toThrow(/is truncated/);
    expect(seen.length).toBe(3);
    await expect(verifySnapshotFile(join(dir, "nosuch.snapstream"))).rejects.toThrow(/ENOENT/);
  });

  it("refuses a damaged stream and one with data after its end", async () => {
    const { path } = await writeStream(PAIRS);
    const buf = readFileSync(path);
    const offsets = frameOffsets(path);
    // Flip a byte of the value of key/b (frame 5 ends at offsets[5]).
    const bad = Buffer.from(buf);
    const at = (offsets[5] as number) - 1;
    bad[at] = (bad[at] as number) ^ 0xff;
    const damaged = join(dir, "damaged.snapstream");
    writeFileSync(damaged, bad);
    await expect(verifySnapshotFile(damaged)).rejects.toThrow(/is corrupt \(its SHA-256 does not match\)/);
    const longer = join(dir, "longer.snapstream");
    writeFileSync(longer, Buffer.concat([buf, Buffer.from([0, 0, 0, 0])]));
    await expect(verifySnapshotFile(longer)).rejects.toThrow(/has data after its end/);
  });
});

describe("writeFrame", () => {
  it("writes the whole frame when the stream asks the writer to wait after the length prefix", async () => {
    // A tiny high-water mark: the 4-byte length prefix alone fills the buffer (write returns false).
    const out = new PassThrough({ highWaterMark: 4 });
    const path = join(dir, "backpressure.snapstream");
    const saved = saveStream(out, path);
    await writeFrame(out, Buffer.from(raftpb.Message.encode(MSG).finish()));
    const w = new SnapshotWriter(out);
    await w.membership(b("m"));
    for (let i = 0; i < 20; i++) await w.pair(b(`key/${i}`), b(`value ${i}`));
    await w.finish(META);
    out.end();
    await saved;
    const v = await verifySnapshotFile(path);
    expect(v.pairs).toBe(20);
    expect(v.metadata).toEqual(META);
  });
});

describe("writeFrame on a stream that goes away", () => {
  it("fails instead of waiting forever for a drain that cannot come (a destroyed, full stream)", async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    // Nobody reads `out`: the first frame fills it, the writer waits for "drain".
    const writing = writeFrame(out, Buffer.alloc(1024));
    let settled = false;
    void writing.catch(() => undefined).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    out.destroy(); // the snapshot request ended early: the transport destroys the body
    await expect(writing).rejects.toThrow(/closed/);
    await expect(writeFrame(out, Buffer.alloc(1))).rejects.toThrow(/closed/);
  });
});
