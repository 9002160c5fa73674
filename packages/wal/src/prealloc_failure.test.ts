import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FileHandle } from "node:fs/promises";
import { raftpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it, vi } from "vitest";

/** failFills makes the WAL's zero-fills (pooled writes of zeros only) fail as a full or broken disk would. */
let failFills = false;

vi.mock("./segment.js", async (importOriginal) => {
  const orig = await importOriginal<typeof import("./segment.js")>();
  return {
    ...orig,
    writeAll: async (fh: FileHandle, buf: Buffer, position: number): Promise<void> => {
      if (failFills && buf.length > 0 && buf.every((b) => b === 0)) throw new Error("EIO: i/o error, write");
      return orig.writeAll(fh, buf, position);
    },
  };
});

const { WAL } = await import("./wal.js");

const dirs: string[] = [];
afterEach(() => {
  failFills = false;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const ent = (index: number): raftpb.Entry => ({ term: 1n, index: BigInt(index), type: raftpb.EntryType.ENTRY_NORMAL, data: Buffer.from(`entry-${index}`) });

describe("WAL preallocation failure", () => {
  it("makes the WAL unusable once a zero-fill fails (the error may be an append's), as a failed write does", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wal-prealloc-fail-"));
    dirs.push(dir);
    failFills = true;
    const wal = await WAL.create(dir, Buffer.from("meta"), { preallocateBytes: 4096 });
    // The fill started by create fails in the pool; the next save waits for it or finds its failure.
    await wal.save(undefined, [ent(1)]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await expect(wal.save(undefined, [ent(2)])).rejects.toThrow(/preallocating \d+ bytes of the tail segment failed: EIO/);
    await wal.close();
  });

  it("goes on appending while fills succeed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wal-prealloc-ok-"));
    dirs.push(dir);
    const wal = await WAL.create(dir, Buffer.from("meta"), { preallocateBytes: 4096 });
    for (let i = 1; i <= 50; i++) await wal.save(undefined, [ent(i)]);
    await wal.close();
    const { wal: again, contents } = await WAL.open(dir);
    expect(contents.entries.map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    await again.close();
  });
});
