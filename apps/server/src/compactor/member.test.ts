import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { openServer } from "../bootstrap.js";
import { Errors } from "../errors.js";
import type { EtcdServer } from "../etcd_server.js";
import { runConfig } from "../testing/config.js";
import { CapturingLogger, HOUR, MIN } from "../testing/compactor_fakes.js";
import { FakeClock } from "../testing/fake_clock.js";
import { removeDataDirs, tmpDataDir } from "../testing/member.js";
import type { CompactorOptions } from "./auto_compactor.js";

/**
 * A real single member (raft, WAL, backend, apply loop) started with the auto-compaction
 * flags: the compactor proposes its compactions through the member's Compact path and old
 * revisions become unreadable with etcd's error.
 */

afterEach(removeDataDirs);

const b = (s: string) => Buffer.from(s);

/** start opens a member on a fresh data dir with `flags`, as openMember does, with compactor test options. */
async function start(flags: string[], options: CompactorOptions, logger: CapturingLogger): Promise<EtcdServer> {
  const cfg = runConfig(["--data-dir", tmpDataDir(), "--log-level", "error", ...flags]);
  const s = await openServer(cfg, logger, (err) => {
    throw err;
  });
  s.start(options);
  await s.waitReady();
  return s;
}

const put = (s: EtcdServer, key: string) => s.put(etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b("v") }));
const getAt = (s: EtcdServer, revision: bigint) =>
  s.range(etcdserverpb.RangeRequest.fromPartial({ key: b("k"), rangeEnd: b("l"), revision }));

/** until polls cond every 20 ms for up to 5 s. */
async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const completed = (logger: CapturingLogger, msg: string) => logger.lines.filter((l) => l.msg === msg).map((l) => l.fields["revision"]);

describe("auto-compaction on a real member", () => {
  it('--auto-compaction-mode revision: keeps the last --auto-compaction-retention revisions, older reads fail "required revision has been compacted"', async () => {
    const logger = new CapturingLogger();
    // etcd looks every 5 minutes; the test shortens that through the code API only.
    const s = await start(["--auto-compaction-mode", "revision", "--auto-compaction-retention", "10"], { revisionIntervalMs: 100 }, logger);
    try {
      for (let i = 0; i < 30; i++) await put(s, `k${i}`);
      expect(s.kv.currentRevision).toBe(31n);
      await until("compaction to 21", () => s.kv.compactRevision === 21n);
      await expect(getAt(s, 20n)).rejects.toBe(Errors.compacted);
      await expect(getAt(s, 20n)).rejects.toThrow("etcdserver: mvcc: required revision has been compacted");
      expect((await getAt(s, 21n)).count).toBe(20n);
      expect((await getAt(s, 31n)).count).toBe(30n);
      expect(completed(logger, "completed auto revision compaction").at(-1)).toBe(21n);
      // Nothing new written: the same revision is not compacted again.
      const n = completed(logger, "starting auto revision compaction").length;
      await new Promise((r) => setTimeout(r, 300));
      expect(completed(logger, "starting auto revision compaction").length).toBe(n);
    } finally {
      await s.stop();
    }
  });

  it("--auto-compaction-mode periodic on a fake clock: compacts to the revision of one retention before; stop leaves no timer", async () => {
    const logger = new CapturingLogger();
    const clock = new FakeClock();
    const s = await start(["--auto-compaction-retention", "1h"], { clock }, logger);
    try {
      // Samples every 6 minutes: revision 1 at 0, then 11 at 6m, 21 at 12m, ...
      for (let round = 0; round < 10; round++) {
        for (let i = 0; i < 10; i++) await put(s, `k${round}/${i}`);
        await clock.advance(6 * MIN);
      }
      // The first compaction, at 1h, goes to the sample taken at 0.
      await until("the first compaction", () => completed(logger, "completed auto periodic compaction").length === 1);
      expect(completed(logger, "completed auto periodic compaction")).toEqual([1n]);
      expect(s.kv.currentRevision).toBe(101n);
      // The next, at 2h, to the sample taken at 54m (revision 91).
      await clock.advance(HOUR);
      await until("the second compaction", () => completed(logger, "completed auto periodic compaction").length === 2);
      expect(completed(logger, "completed auto periodic compaction")).toEqual([1n, 91n]);
      expect(s.kv.compactRevision).toBe(91n);
      await expect(getAt(s, 90n)).rejects.toThrow("etcdserver: mvcc: required revision has been compacted");
      expect((await getAt(s, 91n)).count).toBe(90n);
      expect(clock.pending).toBe(1);
    } finally {
      await s.stop();
    }
    expect(clock.pending).toBe(0);
  });

  it("starts no compactor with the default retention 0", async () => {
    const logger = new CapturingLogger();
    const clock = new FakeClock();
    const s = await start([], { clock }, logger);
    try {
      expect(clock.pending).toBe(0);
    } finally {
      await s.stop();
    }
  });
});
