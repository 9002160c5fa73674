import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  parseCpuTicks,
  parseHostBusyTicks,
  parseVmHwmBytes,
  parseVmRssBytes,
  processPeakRssBytes,
  processRssBytes,
  resetPeakRss,
} from "./procstat.js";
import { logTail, memberFlags, memberNames, missingPath, type MemberAddr } from "./servers.js";

describe("memberFlags", () => {
  it("gives a single member etcd's default name and loopback URLs", () => {
    const m: MemberAddr = { name: memberNames(1)[0]!, clientPort: 2379, peerPort: 2380, dataDir: "/d/default.etcd" };
    expect(memberFlags(m, [m])).toEqual([
      "--name",
      "default",
      "--data-dir",
      "/d/default.etcd",
      "--listen-client-urls",
      "http://127.0.0.1:2379",
      "--advertise-client-urls",
      "http://127.0.0.1:2379",
      "--listen-peer-urls",
      "http://127.0.0.1:2380",
      "--initial-advertise-peer-urls",
      "http://127.0.0.1:2380",
      "--initial-cluster",
      "default=http://127.0.0.1:2380",
    ]);
  });

  it("lists every member in --initial-cluster", () => {
    const names = memberNames(3);
    expect(names).toEqual(["infra1", "infra2", "infra3"]);
    const all = names.map((name, i) => ({ name, clientPort: 1000 + i, peerPort: 2000 + i, dataDir: `/d/${name}` }));
    const f = memberFlags(all[1]!, all);
    expect(f[f.indexOf("--name") + 1]).toBe("infra2");
    expect(f[f.indexOf("--listen-peer-urls") + 1]).toBe("http://127.0.0.1:2001");
    expect(f[f.indexOf("--initial-cluster") + 1]).toBe(
      "infra1=http://127.0.0.1:2000,infra2=http://127.0.0.1:2001,infra3=http://127.0.0.1:2002",
    );
  });
});

describe("missingPath", () => {
  it("finds a missing binary or script and accepts bare command names", () => {
    expect(missingPath(["/nonexistent/etcd"])).toBe("/nonexistent/etcd");
    expect(missingPath([process.execPath, "/nonexistent/etcd-ts.js"])).toBe("/nonexistent/etcd-ts.js");
    expect(missingPath([process.execPath, "--flag"])).toBeUndefined();
    expect(missingPath(["node", "relative.js"])).toBeUndefined();
    expect(missingPath([])).toBe("(empty command)");
  });
});

describe("logTail", () => {
  it("returns the last non-empty lines, shortened", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-test-"));
    try {
      const p = join(dir, "x.log");
      writeFileSync(p, "one\ntwo\n\nthree\nfour\n\n");
      expect(logTail(p)).toBe("two | three | four");
      expect(logTail(p, 1)).toBe("four");
      writeFileSync(
        p,
        "node:internal/x:1\n    throw new E(\n\nError [ERR_MODULE_NOT_FOUND]: Cannot find module '/a.js'\n    at f (x:1)\n}\n\nNode.js v20\n",
      );
      expect(logTail(p)).toBe("Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/a.js'");
      writeFileSync(p, '{"level":"info","msg":"a"}\n{"level":"fatal","msg":"listen failed"}\n{"level":"info","msg":"b"}\n');
      expect(logTail(p)).toBe('{"level":"fatal","msg":"listen failed"}');
      writeFileSync(p, "x".repeat(1000));
      expect(logTail(p, 3, 10)).toBe(`...${"x".repeat(10)}`);
      expect(logTail(join(dir, "missing.log"))).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("procstat", () => {
  it("reads utime + stime even when the command name has spaces and parentheses", () => {
    const stat = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0";
    expect(parseCpuTicks(stat)).toBe(300);
    expect(() => parseCpuTicks("garbage")).toThrow(/malformed/);
  });

  it("sums the busy fields of /proc/stat's cpu line", () => {
    const stat = "cpu  100 5 50 1000 30 1 2 3 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n";
    expect(parseHostBusyTicks(stat)).toBe(100 + 5 + 50 + 1 + 2 + 3);
    expect(() => parseHostBusyTicks("intr 1 2")).toThrow(/no cpu line/);
  });

  it("reads VmRSS (kB) from /proc/<pid>/status as bytes; a missing line or process is undefined", () => {
    const status = [
      "Name:\tnode",
      "Umask:\t0022",
      "State:\tS (sleeping)",
      "Pid:\t4242",
      "VmPeak:\t 1234567 kB",
      "VmSize:\t 1200000 kB",
      "VmHWM:\t  210000 kB",
      "VmRSS:\t  183456 kB",
      "RssAnon:\t  150000 kB",
      "Threads:\t11",
      "",
    ].join("\n");
    expect(parseVmRssBytes(status)).toBe(183456 * 1024);
    // A zombie has no memory lines.
    expect(parseVmRssBytes("Name:\tetcd\nState:\tZ (zombie)\nPid:\t7\n")).toBeUndefined();
    expect(processRssBytes(2 ** 31 - 1)).toBeUndefined();
  });

  it("reads VmHWM (kB) from /proc/<pid>/status as bytes, not VmPeak or VmRSS; a missing line or process is undefined", () => {
    const status = ["Name:\tetcd", "VmPeak:\t 1234567 kB", "VmSize:\t 1200000 kB", "VmHWM:\t  210000 kB", "VmRSS:\t  183456 kB", ""].join("\n");
    expect(parseVmHwmBytes(status)).toBe(210000 * 1024);
    expect(parseVmHwmBytes("VmHWM:\t0 kB\n")).toBe(0);
    expect(parseVmHwmBytes("Name:\tetcd\nState:\tZ (zombie)\nPid:\t7\n")).toBeUndefined();
    expect(parseVmHwmBytes("VmHWM:\t12 MB\n")).toBeUndefined();
    expect(processPeakRssBytes(2 ** 31 - 1)).toBeUndefined();
    expect(resetPeakRss(2 ** 31 - 1)).toBe(false);
  });

  it.skipIf(!existsSync("/proc/self/clear_refs"))("resets this process's peak RSS to its RSS, and the peak then follows new memory", () => {
    expect(resetPeakRss(process.pid)).toBe(true);
    const rss0 = processRssBytes(process.pid)!;
    const peak0 = processPeakRssBytes(process.pid)!;
    // Right after the reset the peak is the RSS of the moment (a little more may have been touched since).
    expect(Math.abs(peak0 - rss0)).toBeLessThan(16 * 1024 * 1024);
    const big = Buffer.alloc(64 * 1024 * 1024, 1); // touched: 64 MiB more resident
    expect(processPeakRssBytes(process.pid)!).toBeGreaterThan(rss0 + 60 * 1024 * 1024);
    expect(big[big.length - 1]).toBe(1);
  });

  it.skipIf(!existsSync("/proc/self/status"))("reads this process's RSS", () => {
    const rss = processRssBytes(process.pid);
    expect(rss).toBeGreaterThan(1e6);
    expect(rss).toBe(Math.round(rss! / 1024) * 1024);
  });
});
