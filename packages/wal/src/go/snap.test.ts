import { crc32c } from "@node-rs/crc32";
import { etcdraftpb, etcdsnappb } from "@etcd-ts/proto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GoSnapError, encodeGoSnapFile, readGoSnap, readGoSnapFile, writeGoSnap } from "../index.js";

function snap(term: number, index: number, data = `{"v2":"store at ${index}"}`): etcdraftpb.Snapshot {
  return {
    data: Buffer.from(data),
    metadata: { confState: { voters: [0x8e9e05c52164694dn], learners: [], votersOutgoing: [], learnersNext: [] }, index: BigInt(index), term: BigInt(term) },
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "go-snap-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("Go .snap files", () => {
  it("writes term-index.snap holding snappb.snapshot {crc32c(data), data} and reads it back", async () => {
    const path = await writeGoSnap(dir, snap(2, 0x33));
    expect(path).toBe(join(dir, "0000000000000002-0000000000000033.snap"));
    const body = etcdsnappb.snapshot.decode(readFileSync(path!));
    expect(body.crc).toBe(crc32c(body.data!));
    // Go marshals metadata, conf_state, index, term and auto_leave even when zero.
    const inner = etcdraftpb.Snapshot.decode(body.data!);
    expect(inner.metadata?.confState?.autoLeave).toBe(false);
    const back = await readGoSnapFile(path!);
    expect(back).toEqual({ ...snap(2, 0x33), metadata: { ...snap(2, 0x33).metadata!, confState: { ...snap(2, 0x33).metadata!.confState!, autoLeave: false } } });
  });

  it("marshals an empty ConfState and absent data as Go does", () => {
    const bytes = encodeGoSnapFile({ metadata: { index: 1n, term: 1n } });
    const body = etcdsnappb.snapshot.decode(bytes);
    // raftpb.Snapshot{Metadata: {Index: 1, Term: 1}}: 12 08 (0a 02 28 00) 10 01 18 01
    expect(body.data!.toString("hex")).toBe("12080a022800100118" + "01");
  });

  it("writes nothing for an empty snapshot, as Go's SaveSnap", async () => {
    expect(await writeGoSnap(dir, { metadata: { index: 0n, term: 3n } })).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("loads the newest valid file, skipping broken ones (renamed .broken only when asked)", async () => {
    await writeGoSnap(dir, snap(1, 10));
    await writeGoSnap(dir, snap(1, 20));
    const newest = (await writeGoSnap(dir, snap(2, 30)))!;
    const b = readFileSync(newest);
    b[b.length - 3]! ^= 0xff;
    writeFileSync(newest, b);
    writeFileSync(join(dir, "db"), "not a snapshot");
    writeFileSync(join(dir, "0000000000000003-0000000000000040.snap"), "");

    await expect(readGoSnapFile(newest)).rejects.toMatchObject({ code: "crc-mismatch" });
    const l = await readGoSnap(dir);
    expect(l.file).toBe("0000000000000001-0000000000000014.snap");
    expect(l.snapshot?.metadata?.index).toBe(20n);
    expect(l.broken.map((x) => x.file)).toEqual(["0000000000000003-0000000000000040.snap", "0000000000000002-000000000000001e.snap"]);
    expect(l.broken[0]!.reason).toMatch(/^snap: empty snapshot/);
    expect(l.broken[1]!.reason).toMatch(/^snap: crc mismatch/);
    expect(existsSync(newest)).toBe(true);

    const renamed = await readGoSnap(dir, { renameBroken: true });
    expect(renamed.file).toBe("0000000000000001-0000000000000014.snap");
    expect(existsSync(newest)).toBe(false);
    expect(existsSync(`${newest}.broken`)).toBe(true);
  });

  it("loads the newest file matching the WAL's snapshot records when asked", async () => {
    await writeGoSnap(dir, snap(1, 10));
    await writeGoSnap(dir, snap(1, 20));
    const l = await readGoSnap(dir, { matching: [{ index: 10n, term: 1n }, { index: 20n, term: 2n }] });
    expect(l.file).toBe("0000000000000001-000000000000000a.snap");
    const none = await readGoSnap(dir, { matching: [] });
    expect(none).toEqual({ file: undefined, snapshot: undefined, broken: [] });
  });

  it("refuses a file whose crc is zero as empty", async () => {
    const data = Buffer.from(etcdraftpb.Snapshot.encode({ metadata: { index: 1n, term: 1n } }).finish());
    const p = join(dir, "0000000000000001-0000000000000001.snap");
    writeFileSync(p, etcdsnappb.snapshot.encode({ crc: 0, data }).finish());
    const err = await readGoSnapFile(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoSnapError);
    expect(err).toMatchObject({ code: "empty" });
  });
});
