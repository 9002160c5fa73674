import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  cpuProfileArgv,
  isNodeCommand,
  mainThreadProfile,
  parseCpuProfile,
  readProfileSummary,
  shortenPath,
  sourceLocator,
  summarizeProfile,
  waitCpuProfile,
  type CpuProfile,
  type CpuProfileNode,
} from "./profile.js";

function node(id: number, functionName: string, url = "", lineNumber = -1, children?: number[]): CpuProfileNode {
  const n: CpuProfileNode = { id, callFrame: { functionName, url, lineNumber, columnNumber: lineNumber < 0 ? -1 : 2 } };
  if (children !== undefined) n.children = children;
  return n;
}

/**
 * PROFILE is a small profile: encode is called from handle and from flush (two nodes, one
 * function); samples take 100, 150, 50, 100, 200, 100, 100, 50, 50 and 100 us.
 */
const PROFILE: CpuProfile = {
  nodes: [
    node(1, "(root)", "", -1, [2, 3, 4, 7, 8]),
    node(2, "(program)"),
    node(3, "(idle)"),
    node(4, "(garbage collector)"),
    node(7, "handle", "file:///repo/src/h.js", 9, [5]),
    node(5, "encode", "file:///repo/src/e.js", 3),
    node(8, "", "file:///repo/src/f.js", 0, [6]),
    node(6, "encode", "file:///repo/src/e.js", 3),
  ],
  startTime: 1000,
  endTime: 2010,
  samples: [7, 5, 5, 6, 3, 3, 3, 2, 4, 7],
  timeDeltas: [10, 100, 150, 50, 100, 200, 100, 100, 50, 50],
};

describe("summarizeProfile", () => {
  it("sums each function's self time over its call paths, in percent of the sampled time", () => {
    const s = summarizeProfile(PROFILE, 25);
    expect(s).toMatchObject({ durationMs: 1.01, sampledMs: 1, samples: 10 });
    // The pseudo-functions are totals, not in the list; they weigh by time, not by count.
    expect(s.idle).toEqual({ selfMs: 0.4, percent: 40, samples: 3 });
    expect(s.program).toEqual({ selfMs: 0.05, percent: 5, samples: 1 });
    expect(s.garbageCollector).toEqual({ selfMs: 0.05, percent: 5, samples: 1 });
    expect(s.top).toEqual([
      // 150 + 50 (under handle) + 100 (under the anonymous flush) of the 1000 us.
      { name: "encode", location: "file:///repo/src/e.js:4", selfMs: 0.3, percent: 30, busyPercent: 50, samples: 3 },
      // The first sample and the last, which lasts until endTime.
      { name: "handle", location: "file:///repo/src/h.js:10", selfMs: 0.2, percent: 20, busyPercent: expect.closeTo(100 / 3, 9), samples: 2 },
    ]);
    expect(summarizeProfile(PROFILE, 1).top.map((f) => f.name)).toEqual(["encode"]);
  });

  it("gives a function without a name as (anonymous), renders locations with locate, and counts a negative delta 0", () => {
    const p: CpuProfile = { ...PROFILE, samples: [8, 5], timeDeltas: [10, 100], endTime: 1110 + 300 };
    const s = summarizeProfile(p, 25, (url, line, col) => `${url.slice(-4)}@${line},${col}`);
    expect(s.top).toEqual([
      { name: "encode", location: "e.js@3,2", selfMs: 0.3, percent: 75, busyPercent: 75, samples: 1 },
      { name: "(anonymous)", location: "f.js@0,2", selfMs: 0.1, percent: 25, busyPercent: 25, samples: 1 },
    ]);
    const backwards = summarizeProfile({ ...PROFILE, samples: [7, 5], timeDeltas: [10, -5], endTime: 1100 }, 25);
    expect(backwards.top.find((f) => f.name === "handle")?.selfMs).toBe(0);
    expect(backwards.sampledMs).toBeCloseTo(0.095, 12);
    const empty = summarizeProfile({ ...PROFILE, samples: [], timeDeltas: [] }, 25);
    expect(empty).toMatchObject({ samples: 0, sampledMs: 0, top: [], idle: { selfMs: 0, percent: 0, samples: 0 } });
  });

  it("refuses a sample naming a node that is not in the profile", () => {
    expect(() => summarizeProfile({ ...PROFILE, samples: [99], timeDeltas: [1] }, 25)).toThrow("bench: malformed .cpuprofile: sample 0 names node 99");
  });
});

describe("parseCpuProfile", () => {
  it("takes a .cpuprofile and refuses anything else", () => {
    expect(parseCpuProfile(JSON.stringify(PROFILE))).toEqual(PROFILE);
    expect(() => parseCpuProfile("{")).toThrow(/^bench: malformed \.cpuprofile: /);
    expect(() => parseCpuProfile("null")).toThrow(/want nodes, samples, timeDeltas/);
    expect(() => parseCpuProfile(JSON.stringify({ ...PROFILE, timeDeltas: undefined }))).toThrow(/want nodes, samples, timeDeltas/);
    expect(() => parseCpuProfile(JSON.stringify({ ...PROFILE, timeDeltas: [1] }))).toThrow("10 samples but 1 timeDeltas");
  });
});

describe("locations", () => {
  it("shortenPath makes repository paths relative, starts at node_modules, and cuts long paths at a component", () => {
    expect(shortenPath("file:///repo/apps/server/src/main.ts", "/repo")).toBe("apps/server/src/main.ts");
    expect(shortenPath("/elsewhere/x.js", "/repo")).toBe("/elsewhere/x.js");
    expect(shortenPath("/repo/node_modules/.pnpm/a/node_modules/@grpc/grpc-js/build/src/call.js", "/repo")).toBe(
      "node_modules/@grpc/grpc-js/build/src/call.js",
    );
    expect(shortenPath("node:internal/streams/writable", "/repo")).toBe("node:internal/streams/writable");
    const long = "/repo/packages/some-rather-long-package-name/src/deeply/nested/folder/file_name.ts";
    expect(shortenPath(long, "/repo", 40)).toBe(".../deeply/nested/folder/file_name.ts");
    expect(shortenPath(long, "/repo", 40).length).toBeLessThanOrEqual(40);
    expect(shortenPath("/a/averyveryverylongfilename.ts", "/repo", 10)).toBe(".../averyveryverylongfilename.ts");
  });

  describe("sourceLocator", () => {
    let dir = "";
    afterEach(() => {
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
      dir = "";
    });

    it("maps a bundled script to its source's file and line through the source map; other scripts keep theirs", () => {
      dir = mkdtempSync(join(tmpdir(), "bench-profile-test-"));
      mkdirSync(join(dir, "dist"));
      // Line 0 of a.js comes from line 4 of ../src/a.ts, line 1 from line 5.
      writeFileSync(join(dir, "dist", "a.js"), "function f() {}\nfunction g() {}\n//# sourceMappingURL=a.js.map\n");
      writeFileSync(join(dir, "dist", "a.js.map"), JSON.stringify({ version: 3, sources: ["../src/a.ts"], names: [], mappings: "AAIA;AACA" }));
      writeFileSync(join(dir, "dist", "b.js"), "function h() {}\n");
      const locate = sourceLocator(dir);
      expect(locate(pathToFileURL(join(dir, "dist", "a.js")).href, 1, 9)).toBe("src/a.ts:6");
      expect(locate(pathToFileURL(join(dir, "dist", "a.js")).href, 0, 0)).toBe("src/a.ts:5");
      expect(locate(pathToFileURL(join(dir, "dist", "b.js")).href, 0, 9)).toBe("dist/b.js:1");
      expect(locate("node:internal/timers", 511, 3)).toBe("node:internal/timers:512");
    });
  });
});

describe("--cpu-prof", () => {
  it("inserts node's profiler flags after node and refuses another program", () => {
    expect(cpuProfileArgv(["node", "--max-old-space-size=4096", "x.js"], "/tmp/p")).toEqual([
      "node",
      "--cpu-prof",
      "--cpu-prof-dir=/tmp/p",
      "--max-old-space-size=4096",
      "x.js",
    ]);
    expect(cpuProfileArgv([process.execPath, "x.js"], "/d")[0]).toBe(process.execPath);
    for (const ok of [["node"], ["/usr/local/bin/node20", "x.js"], ["C:/node/node.exe"], [process.execPath]]) expect(isNodeCommand(ok)).toBe(true);
    for (const bad of [[], ["/usr/bin/etcd"], ["npx", "etcd-ts"], ["nodemon", "x.js"], ["/opt/node/bin/run.sh"]]) expect(isNodeCommand(bad)).toBe(false);
    expect(() => cpuProfileArgv(["/opt/run.sh", "x"], "/d")).toThrow('bench: --profile runs etcd-ts under node --cpu-prof, but its command "/opt/run.sh x" does not start with node');
  });

  it("picks the main thread's file among the workers' ones", () => {
    expect(mainThreadProfile(["CPU.20261203.074301.19102.1.002.cpuprofile", "CPU.20261203.074301.19102.0.001.cpuprofile"])).toBe(
      "CPU.20261203.074301.19102.0.001.cpuprofile",
    );
    expect(mainThreadProfile(["other.cpuprofile"])).toBe("other.cpuprofile");
    // A worker's profile alone: the main thread's is not written yet.
    expect(mainThreadProfile(["CPU.20261203.074301.19102.1.002.cpuprofile"])).toBeUndefined();
    expect(mainThreadProfile(["a.cpuprofile", "b.cpuprofile", "x.log"])).toBeUndefined();
    expect(mainThreadProfile([])).toBeUndefined();
  });

  it("summarises the profile a real node process writes at exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-profile-test-"));
    try {
      const script = join(dir, "spin.js");
      writeFileSync(script, "function spin(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }\nspin(300);\n");
      const profDir = join(dir, "prof");
      const r = spawnSync(process.execPath, cpuProfileArgv([process.execPath, script], profDir).slice(1), { timeout: 20_000 });
      expect(r.status).toBe(0);
      const path = await waitCpuProfile(profDir, 5000);
      expect(path).toBeDefined();
      expect(readdirSync(profDir)).toHaveLength(1);
      const s = readProfileSummary(path!, 5, dir);
      expect(s.samples).toBeGreaterThan(10);
      expect(s.sampledMs).toBeGreaterThan(250);
      expect(s.top.length).toBeGreaterThan(0);
      expect(s.top.length).toBeLessThanOrEqual(5);
      expect(s.top.some((f) => f.name === "spin")).toBe(true);
      const spin = s.top.find((f) => f.name === "spin")!;
      expect(spin.percent).toBeGreaterThan(30);
      expect(spin.location).toBe("spin.js:1");
      expect(await waitCpuProfile(join(dir, "missing"), 200)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
