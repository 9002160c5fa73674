import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import {
  CompletionLog,
  countWithin,
  defragDetail,
  defragKeys,
  defragShape,
  loggingCaller,
  worstPause,
  type DefragPrep,
} from "./defrag.js";
import { encodeCompact, encodeDeleteFrom, encodeFillTxn, encodePrefixedRanges, prefixEnd } from "./requests.js";

describe("worstPause", () => {
  it("is the longest gap between completions inside the window, counting from its start", () => {
    expect(worstPause([101, 102, 110, 111, 200], 100, 200)).toBe(89);
    expect(worstPause([130, 140, 150, 199, 201], 100, 200)).toBe(49);
    // the first gap runs from the window's start
    expect(worstPause([160, 170, 180, 190, 205], 100, 200)).toBe(60);
  });

  it("ignores completions before the window and follows a pause past its end", () => {
    // writes held through the whole window complete just after it: the pause is start -> first completion
    expect(worstPause([10, 50, 99, 100, 1250, 1251], 100, 1200)).toBe(1150);
    // later completions after the first one past the end do not count
    expect(worstPause([150, 1300, 5000], 100, 1200)).toBe(1150);
  });

  it("ends the last gap at the window's end when nothing completed after it", () => {
    expect(worstPause([110, 120], 100, 500)).toBe(380);
    expect(worstPause([], 100, 500)).toBe(400);
    expect(worstPause(new Float64Array([50]), 100, 500)).toBe(400);
  });

  it("countWithin counts completions inside the closed window", () => {
    expect(countWithin([99, 100, 150, 200, 201], 100, 200)).toBe(3);
  });
});

describe("CompletionLog", () => {
  it("records only while on, grows past its first buffer and hands back a copy", () => {
    const log = new CompletionLog();
    log.add(1);
    expect(log.count).toBe(0);
    log.on = true;
    for (let i = 0; i < 40000; i++) log.add(i);
    log.on = false;
    log.add(-1);
    const t = log.times();
    expect(t.length).toBe(40000);
    expect(t[0]).toBe(0);
    expect(t[39999]).toBe(39999);
    log.on = true;
    log.add(7);
    expect(t.length).toBe(40000);
    expect(log.count).toBe(40001);
  });

  it("loggingCaller logs each success at its completion, before done runs, and no failure", async () => {
    const log = new CompletionLog();
    log.on = true;
    let clock = 0;
    const seenAtDone: number[] = [];
    const caller = loggingCaller(
      (req, done) =>
        setImmediate(() => {
          clock += 10;
          done(req[0] === 1 ? new Error("boom") : null);
        }),
      log,
      () => clock,
    );
    for (const b of [0, 1, 0]) {
      await new Promise<void>((resolve) =>
        caller(Buffer.from([b]), () => {
          seenAtDone.push(log.count);
          resolve();
        }),
      );
    }
    expect(Array.from(log.times())).toEqual([10, 30]);
    expect(seenAtDone).toEqual([1, 1, 2]);
  });
});

describe("defrag sizes and requests", () => {
  it("defragKeys writes megabytes/valueSize keys and keeps the lower half", () => {
    expect(defragKeys(256, 1024)).toEqual({ keys: 262144, kept: 131072 });
    expect(defragKeys(1, 1024 * 1024)).toEqual({ keys: 2, kept: 1 });
    expect(defragShape(1, 1024, 8)).toEqual({ keySpace: 512, keySize: 8, valueSize: 1024 });
  });

  it("encodeFillTxn puts `count` consecutive prefixed keys with the value in one Txn", () => {
    const t = etcdserverpb.TxnRequest.decode(encodeFillTxn("d", 128, 64, 8, 1024));
    expect(t.compare).toEqual([]);
    expect(t.failure).toEqual([]);
    expect(t.success.length).toBe(64);
    expect(t.success[0]!.requestPut!.key.toString()).toBe("d0000128");
    expect(t.success[63]!.requestPut!.key.toString()).toBe("d0000191");
    expect(t.success[5]!.requestPut!.value.length).toBe(1024);
  });

  it("encodeDeleteFrom deletes from key `first` to the end of the prefix; encodeCompact sets physical", () => {
    const d = etcdserverpb.DeleteRangeRequest.decode(encodeDeleteFrom("d", 131072, 8));
    expect(d.key.toString()).toBe("d0131072");
    expect(Buffer.compare(d.rangeEnd, prefixEnd(Buffer.from("d")))).toBe(0);
    expect(etcdserverpb.CompactionRequest.decode(encodeCompact(12345, true))).toEqual({ revision: 12345n, physical: true });
  });

  it("encodePrefixedRanges reads one prefixed key, linearizably", () => {
    const rs = encodePrefixedRanges("d", { keySpace: 3, keySize: 8, valueSize: 1 });
    expect(rs.length).toBe(3);
    const r = etcdserverpb.RangeRequest.decode(rs[2]!);
    expect(r.key.toString()).toBe("d0000002");
    expect(r.serializable).toBe(false);
    expect(r.rangeEnd.length).toBe(0);
  });
});

describe("defragDetail", () => {
  it("takes the duration and worst pause from the window and the put completions", () => {
    const prep: DefragPrep = { keys: 10, keptKeys: 5, valueSize: 1024, fillMs: 1, deleteMs: 2, compactMs: 3, dbSizeBefore: 100 };
    const d = defragDetail(
      { prep, startMs: 1000, endMs: 3000, dbSizeAfter: 50 },
      [900, 1100, 1200, 2900, 3001],
      { throughput: 10, p99Ms: 5 },
      { throughput: 20, p99Ms: 6 },
    );
    expect(d).toMatchObject({
      keys: 10,
      keptKeys: 5,
      dbSizeBefore: 100,
      dbSizeAfter: 50,
      defragMs: 2000,
      worstWritePauseMs: 1700,
      putsDuringDefrag: 3,
      putThroughput: 10,
      putP99Ms: 5,
      rangeThroughput: 20,
      rangeP99Ms: 6,
    });
  });
});
