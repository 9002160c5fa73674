import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configFails, runConfig } from "../testing/config.js";
import { checkCompactionMode, parseCompactionRetention, readAutoCompaction } from "./retention.js";

const S = 1_000_000_000n;
const H = 3600n * S;

describe("parseCompactionRetention (etcd's embed.parseCompactionRetention)", () => {
  it.each([
    // mode, text, retention (ns in periodic mode, revisions in revision mode)
    ["periodic", "1h", H],
    ["periodic", "30m", 1800n * S],
    ["periodic", "72h", 72n * H],
    ["periodic", "1h30m", 90n * 60n * S],
    ["periodic", "5m", 300n * S],
    ["periodic", "1", H], // a plain number is hours in periodic mode
    ["periodic", "72", 72n * H],
    ["periodic", "+2", 2n * H], // strconv.Atoi takes a sign
    ["periodic", "007", 7n * H],
    ["periodic", "0", 0n],
    ["periodic", "", 0n], // etcd reads an empty retention as "0"
    ["periodic", "0s", 0n],
    ["periodic", "-0", 0n],
    ["revision", "1000", 1000n], // a plain number is revisions in revision mode
    ["revision", "0", 0n],
    ["revision", "1h", 3_600_000_000_000n], // etcd takes a duration's nanoseconds as revisions
    ["", "5", 0n], // neither mode: a number is 0
    ["", "1h", H],
    ["periodic", "-1h", -H], // parsed; readAutoCompaction refuses it
  ])("mode %j, retention %j: %d", (mode, text, want) => {
    expect(parseCompactionRetention(mode, text)).toBe(want);
  });

  it("wraps hours * time.Hour around int64 as Go does", () => {
    expect(parseCompactionRetention("periodic", "9223372036854775807")).toBe(BigInt.asIntN(64, 9223372036854775807n * H));
    expect(parseCompactionRetention("revision", "9223372036854775807")).toBe(9223372036854775807n);
  });

  it.each([
    ["abc", 'error parsing CompactionRetention: time: invalid duration "abc"'],
    ["-5", 'error parsing CompactionRetention: time: missing unit in duration "-5"'],
    ["1.5", 'error parsing CompactionRetention: time: missing unit in duration "1.5"'],
    ["1d", 'error parsing CompactionRetention: time: unknown unit "d" in duration "1d"'],
    ["h", 'error parsing CompactionRetention: time: invalid duration "h"'],
    ["99999999999999999999", 'error parsing CompactionRetention: time: invalid duration "99999999999999999999"'],
  ])("refuses %j with etcd's message", (text, message) => {
    expect(() => parseCompactionRetention("periodic", text)).toThrow(message);
    expect(() => parseCompactionRetention("revision", text)).toThrow(message);
  });
});

describe("checkCompactionMode and readAutoCompaction", () => {
  it("takes periodic, revision and (with a zero retention) the empty mode", () => {
    for (const m of ["periodic", "revision", ""]) expect(() => checkCompactionMode(m)).not.toThrow();
    expect(() => checkCompactionMode("Periodic")).toThrow('unknown auto-compaction-mode "Periodic"');
    expect(readAutoCompaction("", "0")).toBe(0n);
    expect(readAutoCompaction("", "12")).toBe(0n);
  });

  it("refuses what etcd refuses, with etcd's messages", () => {
    expect(() => readAutoCompaction("foo", "1")).toThrow('unknown auto-compaction-mode "foo"');
    // etcd's v3compactor.New: a duration with an empty mode.
    expect(() => readAutoCompaction("", "1h")).toThrow(/^unsupported compaction mode $/);
  });

  it("refuses what etcd accepts but cannot run: a negative retention, a periodic one under 10ns", () => {
    expect(() => readAutoCompaction("periodic", "-1h")).toThrow('auto-compaction: retention "-1h" is negative');
    expect(() => readAutoCompaction("revision", "-1m")).toThrow('auto-compaction: retention "-1m" is negative');
    expect(() => readAutoCompaction("periodic", "9ns")).toThrow('auto-compaction: periodic retention "9ns" is under 10ns');
    expect(readAutoCompaction("periodic", "10ns")).toBe(10n);
    expect(readAutoCompaction("revision", "1")).toBe(1n);
  });
});

describe("the flags, ETCD_* variables and config file keys", () => {
  it("default to periodic mode with auto-compaction off", () => {
    const c = runConfig([]);
    expect(c.autoCompactionMode).toBe("periodic");
    expect(c.autoCompactionRetention).toBe(0n);
  });

  it("are read from the command line", () => {
    const c = runConfig(["--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"]);
    expect([c.autoCompactionMode, c.autoCompactionRetention]).toEqual(["revision", 1000n]);
    expect(runConfig(["--auto-compaction-retention=72"]).autoCompactionRetention).toBe(72n * H);
    expect(runConfig(["--auto-compaction-retention=30m"]).autoCompactionRetention).toBe(1800n * S);
  });

  it("are read from ETCD_AUTO_COMPACTION_MODE and ETCD_AUTO_COMPACTION_RETENTION", () => {
    const c = runConfig([], { ETCD_AUTO_COMPACTION_MODE: "revision", ETCD_AUTO_COMPACTION_RETENTION: "5" });
    expect([c.autoCompactionMode, c.autoCompactionRetention]).toEqual(["revision", 5n]);
  });

  it("are read from the config file's auto-compaction-mode and auto-compaction-retention", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcd-ts-compactor-"));
    const number = join(dir, "number.yaml");
    writeFileSync(number, "auto-compaction-mode: periodic\nauto-compaction-retention: 1\n");
    expect(runConfig(["--config-file", number]).autoCompactionRetention).toBe(H);
    const text = join(dir, "text.yaml");
    writeFileSync(text, "auto-compaction-mode: revision\nauto-compaction-retention: '300'\n");
    const c = runConfig(["--config-file", text]);
    expect([c.autoCompactionMode, c.autoCompactionRetention]).toEqual(["revision", 300n]);
  });

  it("stop the start with etcd's messages (exit code 1)", () => {
    const mode = configFails(["--auto-compaction-mode", "foo"]);
    expect([mode.message, mode.exitCode]).toEqual(['unknown auto-compaction-mode "foo"', 1]);
    const ret = configFails([], { ETCD_AUTO_COMPACTION_RETENTION: "abc" });
    expect([ret.message, ret.exitCode]).toEqual(['error parsing CompactionRetention: time: invalid duration "abc"', 1]);
    expect(configFails(["--auto-compaction-mode=", "--auto-compaction-retention=1h"]).message).toBe("unsupported compaction mode ");
  });
});
