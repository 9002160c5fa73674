import { describe, expect, it } from "vitest";
import { DEFAULTS, parseArgs, parseServer, QUICK_DURATION, QUICK_WARMUP, splitCommand, USAGE, wrapList } from "./args.js";

describe("parseArgs", () => {
  it("returns the defaults for no flags", () => {
    const o = parseArgs([]);
    expect(o).toEqual(DEFAULTS);
    expect(o.servers).toEqual([
      { kind: "etcd", auth: false },
      { kind: "etcd-ts", auth: false },
    ]);
    // The defaults are copied, not shared.
    o.servers[0]!.auth = true;
    expect(DEFAULTS.servers[0]!.auth).toBe(false);
    expect(o.transport).toBe("h2");
  });

  it("parses every flag in both spellings", () => {
    const o = parseArgs([
      "--servers=etcd,etcd",
      "--etcd-bin",
      "/opt/etcd",
      "--etcd-ts-cmd",
      "node /x/etcd-ts.js --foo",
      "--workloads",
      "put-1, range-serializable-50",
      "--duration=3.5",
      "--warmup",
      "0",
      "--cluster",
      "3",
      "--conns",
      "4",
      "--watch-writers",
      "25",
      "--workers=2",
      "--transport",
      "grpc-js",
      "--rounds",
      "3",
      "--order",
      "sequential",
      "--key-space",
      "100",
      "--key-size",
      "4",
      "--value-size",
      "10",
      "--data-root",
      "/d",
      "--out",
      "o.json",
      "--start-timeout",
      "5",
      "--request-timeout",
      "1",
      "--max-requests",
      "1000",
      "--seed",
      "9",
    ]);
    expect(o).toMatchObject({
      servers: [
        { kind: "etcd", auth: false },
        { kind: "etcd", auth: false },
      ],
      etcdBin: "/opt/etcd",
      etcdTsCmd: ["node", "/x/etcd-ts.js", "--foo"],
      workloads: ["put-1", "range-serializable-50"],
      duration: 3.5,
      warmup: 0,
      cluster: 3,
      conns: 4,
      watchWriters: 25,
      workers: 2,
      transport: "grpc-js",
      rounds: 3,
      order: "sequential",
      keySpace: 100,
      keySize: 4,
      valueSize: 10,
      dataRoot: "/d",
      out: "o.json",
      startTimeout: 5,
      requestTimeout: 1,
      maxRequests: 1000,
      seed: 9,
    });
  });

  it("--quick shortens duration and warm-up unless they are given", () => {
    expect(parseArgs(["--quick"])).toMatchObject({ quick: true, duration: QUICK_DURATION, warmup: QUICK_WARMUP });
    expect(parseArgs(["--quick", "--duration", "4"])).toMatchObject({ duration: 4, warmup: QUICK_WARMUP });
  });

  it("the help text names every op and the watch writers flag", () => {
    for (const op of ["put", "range", "range-serializable", "lease-put-N", "watch-N", "--watch-writers"]) expect(USAGE).toContain(op);
  });

  it("parses the defrag flags and documents the defrag workload", () => {
    expect(parseArgs([])).toMatchObject({ defragMb: 256, defragValueSize: 1024 });
    expect(parseArgs(["--defrag-mb", "64", "--defrag-value-size=512"])).toMatchObject({ defragMb: 64, defragValueSize: 512 });
    expect(() => parseArgs(["--defrag-mb", "0"])).toThrow(/--defrag-mb/);
    for (const s of ["defrag-N", "--defrag-mb", "--defrag-value-size"]) expect(USAGE).toContain(s);
  });

  it("parses the range-all flags and documents the range-all workload", () => {
    expect(parseArgs([])).toMatchObject({ rangeAllMb: 80, rangeAllValueSize: 1024 });
    expect(parseArgs(["--workloads", "range-all", "--range-all-mb", "16", "--range-all-value-size=4096"])).toMatchObject({
      workloads: ["range-all"],
      rangeAllMb: 16,
      rangeAllValueSize: 4096,
    });
    expect(parseArgs(["--range-all-mb=1024"]).rangeAllMb).toBe(1024);
    for (const bad of ["0", "1.5", "x", "1025"]) expect(() => parseArgs(["--range-all-mb", bad])).toThrow(/--range-all-mb wants an integer in 1\.\.1024/);
    for (const bad of ["0", "1048577"]) expect(() => parseArgs(["--range-all-value-size", bad])).toThrow(/--range-all-value-size wants an integer/);
    expect(() => parseArgs(["--range-all-mb"])).toThrow(/--range-all-mb needs a value/);
    // the snapshot flags are separate
    expect(parseArgs(["--range-all-mb", "16"]).snapshotMb).toBe(1024);
    expect(parseArgs([]).workloads).not.toContain("range-all");
    for (const s of ["range-all (or range-all-1)", "KV.Range", "clear_refs", "--range-all-mb", "--range-all-value-size", "(default 80)"]) {
      expect(USAGE).toContain(s);
    }
  });

  it("parses the snapshot flags and documents the snapshot workload", () => {
    expect(parseArgs([])).toMatchObject({ snapshotMb: 1024, snapshotValueSize: 1024 });
    expect(parseArgs(["--workloads", "snapshot", "--snapshot-mb", "32", "--snapshot-value-size=4096"])).toMatchObject({
      workloads: ["snapshot"],
      snapshotMb: 32,
      snapshotValueSize: 4096,
    });
    expect(parseArgs(["--snapshot-mb=2048"]).snapshotMb).toBe(2048);
    for (const bad of ["0", "1.5", "x", "20000"]) expect(() => parseArgs(["--snapshot-mb", bad])).toThrow(/--snapshot-mb wants an integer/);
    expect(() => parseArgs(["--snapshot-value-size", "0"])).toThrow(/--snapshot-value-size/);
    expect(() => parseArgs(["--snapshot-mb"])).toThrow(/--snapshot-mb needs a value/);
    expect(parseArgs([]).workloads).not.toContain("snapshot");
    for (const s of ["snapshot (or snapshot-1)", "Maintenance.Snapshot", "MiB/s", "--snapshot-mb", "--snapshot-value-size"]) expect(USAGE).toContain(s);
  });

  it("--profile is off by default, needs an etcd-ts server and a node command, and is documented", () => {
    expect(parseArgs([]).profile).toBe(false);
    expect(parseArgs(["--profile"]).profile).toBe(true);
    expect(parseArgs(["--profile", "--servers", "etcd-ts+auth"]).profile).toBe(true);
    expect(parseArgs(["--profile", "--etcd-ts-cmd", "node --max-old-space-size=4096 /x/etcd-ts.js"]).profile).toBe(true);
    expect(parseArgs(["--profile", "--etcd-ts-cmd", `${process.execPath} /x/etcd-ts.js`]).profile).toBe(true);
    expect(() => parseArgs(["--profile", "--servers", "etcd"])).toThrow("bench: --profile profiles etcd-ts, but --servers has no etcd-ts entry");
    expect(() => parseArgs(["--profile", "--etcd-ts-cmd", "/opt/etcd-ts/run.sh --x"])).toThrow(
      'bench: --profile runs etcd-ts under node --cpu-prof, so --etcd-ts-cmd must start with node (as "node <path>/etcd-ts.js ..."), not "/opt/etcd-ts/run.sh --x"',
    );
    for (const s of ["--profile", "--cpu-prof", "top 25 functions", "(garbage collector), (idle)", "not comparable", "bench/results/profiles/"]) {
      expect(USAGE).toContain(s);
    }
  });

  it("--auth turns authentication on (off by default) and is documented", () => {
    expect(parseArgs([]).auth).toBe(false);
    expect(parseArgs(["--auth", "--quick"])).toMatchObject({ auth: true, quick: true });
    expect(parseArgs(["--workloads", "put-100", "--auth"])).toMatchObject({ auth: true, workloads: ["put-100"] });
    for (const s of ["--auth", "UserAdd root", "AuthEnable", "Authenticate", 'header "token"', "skips"]) expect(USAGE).toContain(s);
  });

  it("--servers takes a +auth suffix per entry; --auth puts it on every entry", () => {
    expect(parseArgs(["--servers", "etcd,etcd+auth,etcd-ts, etcd-ts+auth"]).servers).toEqual([
      { kind: "etcd", auth: false },
      { kind: "etcd", auth: true },
      { kind: "etcd-ts", auth: false },
      { kind: "etcd-ts", auth: true },
    ]);
    expect(parseArgs(["--servers=etcd-ts+auth"])).toMatchObject({ auth: false, servers: [{ kind: "etcd-ts", auth: true }] });
    const all = [
      { kind: "etcd", auth: true },
      { kind: "etcd-ts", auth: true },
    ];
    expect(parseArgs(["--auth"])).toMatchObject({ auth: true, servers: all });
    expect(parseArgs(["--auth", "--servers", "etcd,etcd-ts+auth"]).servers).toEqual(all);
    expect(parseArgs(["--servers", "etcd+auth,etcd-ts", "--auth"]).servers).toEqual(all);
    expect(parseServer("etcd")).toEqual({ kind: "etcd", auth: false });
    expect(parseServer("etcd-ts+auth")).toEqual({ kind: "etcd-ts", auth: true });
    for (const s of ["+auth", "etcd,etcd+auth,etcd-ts,etcd-ts+auth", "auth cost"]) expect(USAGE).toContain(s);
  });

  it.each([
    ["etcd+foo", /^bench: unknown suffix "\+foo" in server "etcd\+foo" \(the only one is \+auth, as in etcd\+auth\)$/],
    ["etcd+", /unknown suffix "\+" in server "etcd\+"/],
    ["etcd-ts+auth+auth", /unknown suffix "\+auth\+auth"/],
    ["etcd+AUTH", /unknown suffix "\+AUTH"/],
    ["etcdauth", /unknown server "etcdauth"/],
    ["consul+auth", /^bench: unknown server "consul" in "consul\+auth" \(want etcd or etcd-ts\)$/],
    ["+auth", /unknown server "" in "\+auth"/],
  ])("refuses the server entry %j", (entry, msg) => {
    expect(() => parseServer(entry)).toThrow(msg);
    expect(() => parseArgs(["--servers", `etcd,${entry}`])).toThrow(msg);
  });

  it("recognises --help", () => {
    expect(parseArgs(["-h"]).help).toBe(true);
    expect(parseArgs(["--help"]).help).toBe(true);
  });

  it.each([
    [["--bogus", "1"], /unknown flag --bogus/],
    [["--servers", "etcd,consul"], /unknown server "consul"/],
    [["--servers", ","], /at least one server/],
    [["--cluster", "2"], /odd/],
    [["--cluster", "9"], /1\.\.7/],
    [["--duration", "abc"], /--duration/],
    [["--duration"], /needs a value/],
    [["--workers", "1.5"], /integer/],
    [["--watch-writers", "0"], /--watch-writers/],
    [["--transport", "udp"], /h2 or grpc-js/],
    [["--order", "random"], /interleaved or sequential/],
    [["--key-space", "100000", "--key-size", "4"], /too small/],
    [["stray"], /unexpected argument/],
    [["--etcd-ts-cmd", "  "], /empty/],
  ])("rejects %j", (argv, msg) => {
    expect(() => parseArgs(argv)).toThrow(msg);
  });
});

describe("wrapList", () => {
  it("wraps a comma list into indented lines", () => {
    expect(wrapList(["aaa", "bbb", "ccc"], 2, 8)).toBe("  aaa,bbb,\n  ccc");
    expect(wrapList([], 2, 8)).toBe("");
  });
});

describe("splitCommand", () => {
  it("splits on whitespace and keeps quoted spaces", () => {
    expect(splitCommand("  node  a.js --x  ")).toEqual(["node", "a.js", "--x"]);
    expect(splitCommand(`node "/my dir/a.js" '--name=a b' ""`)).toEqual(["node", "/my dir/a.js", "--name=a b", ""]);
    expect(splitCommand("")).toEqual([]);
  });

  it("rejects an unterminated quote", () => {
    expect(() => splitCommand(`node "a.js`)).toThrow(/unterminated/);
  });
});
