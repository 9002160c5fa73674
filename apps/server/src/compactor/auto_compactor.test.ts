import type { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { CapturingLogger, HOUR, MIN } from "../testing/compactor_fakes.js";
import { FakeClock } from "../testing/fake_clock.js";
import { newCompactor, startAutoCompactor, type CompactorHost } from "./auto_compactor.js";
import { Periodic } from "./periodic.js";
import { Revision } from "./revision.js";

/** FakeHost is a member whose leadership the test changes (as raft would, calling the listeners). */
class FakeHost implements CompactorHost {
  readonly kv = { currentRevision: 100n };
  isLeader = false;
  readonly compacted: bigint[] = [];
  private readonly listeners: ((lead: bigint) => void)[] = [];

  async compact(req: etcdserverpb.CompactionRequest): Promise<unknown> {
    this.compacted.push(req.revision);
    return {};
  }

  onLeaderChange(cb: (lead: bigint) => void): void {
    this.listeners.push(cb);
  }

  /** lead makes this member the leader (true) or a follower (false) and tells the listeners. */
  lead(leading: boolean): void {
    this.isLeader = leading;
    for (const l of this.listeners) l(leading ? 1n : 2n);
  }
}

describe("newCompactor (etcd's v3compactor.New)", () => {
  it("makes the compactor of the mode, and refuses any other mode with etcd's message", () => {
    const clock = new FakeClock();
    const host = new FakeHost();
    const rg = { rev: () => 1n };
    expect(newCompactor(new CapturingLogger(), "periodic", 3_600_000_000_000n, rg, host, { clock })).toBeInstanceOf(Periodic);
    expect(newCompactor(new CapturingLogger(), "revision", 10n, rg, host, { clock })).toBeInstanceOf(Revision);
    expect(() => newCompactor(new CapturingLogger(), "", 10n, rg, host, { clock })).toThrow(/^unsupported compaction mode $/);
  });
});

describe("startAutoCompactor", () => {
  it("starts nothing when the retention is 0 (or nothing is configured)", () => {
    const clock = new FakeClock();
    expect(startAutoCompactor(new FakeHost(), { mode: "periodic", retention: 0n }, new CapturingLogger(), { clock })).toBeUndefined();
    expect(startAutoCompactor(new FakeHost(), undefined, new CapturingLogger(), { clock })).toBeUndefined();
    expect(clock.pending).toBe(0);
  });

  it("compacts only while the member is the leader (paused on followers, resumed on the leader)", async () => {
    const clock = new FakeClock();
    const host = new FakeHost();
    const c = startAutoCompactor(host, { mode: "revision", retention: 10n }, new CapturingLogger(), { clock });
    expect(c).toBeDefined();
    // Not the leader yet: nothing.
    await clock.advance(10 * MIN);
    expect(host.compacted).toEqual([]);
    host.lead(true);
    await clock.advance(5 * MIN);
    expect(host.compacted).toEqual([90n]);
    host.lead(false);
    host.kv.currentRevision = 200n;
    await clock.advance(HOUR);
    expect(host.compacted).toEqual([90n]);
    host.lead(true);
    await clock.advance(5 * MIN);
    expect(host.compacted).toEqual([90n, 190n]);
    c?.stop();
    expect(clock.pending).toBe(0);
  });

  it("runs at once on a member that already leads, and reads the store's current revision", async () => {
    const clock = new FakeClock();
    const host = new FakeHost();
    host.isLeader = true;
    host.kv.currentRevision = 1000n;
    const c = startAutoCompactor(host, { mode: "periodic", retention: 3_600_000_000_000n }, new CapturingLogger(), { clock });
    await clock.advance(HOUR);
    expect(host.compacted).toEqual([1000n]);
    c?.stop();
  });
});
