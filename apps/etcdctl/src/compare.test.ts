import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropWarnings, ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { freePort } from "@etcd-ts/test-kit";
import { serverFromEnv, startTwins, type RunningServer } from "./testing/server.js";

/**
 * Differential suite: every case runs through the Go etcdctl and through etcdctl-ts, which
 * must print the same bytes and exit with the same code. Writes go to twin servers (same IDs,
 * same history) so revisions match; endpoint commands both go to twin A.
 */
interface Case {
  args: string[];
  stdin?: string | Buffer;
  /** env replaces the default ETCDCTL_ENDPOINTS={EP}. "{EP}" becomes the endpoint. */
  env?: Record<string, string>;
  /** same: both CLIs talk to twin A (read-only endpoint commands). */
  same?: boolean;
  /** stderr: "warn" drops retry warnings; "debug" keeps the ETCDCTL_* lines only; "first" keeps the first line (a Go panic's message, not its stack). */
  stderr?: "warn" | "debug" | "first";
  /** stdout "health": the measured durations are masked. */
  health?: boolean;
}

const txnIn = [
  'mod("foo") > "0"',
  'val("foo2") = "hello world"',
  "",
  "put txnkey txnval",
  "get foo",
  "get key/ --prefix",
  "del nothing",
  "",
  "get foo",
  "",
  "",
].join("\n");
const txnFail = ['ver("foo") = "1000"', "", "put a b", "", 'put k "v v"', "get k", "", ""].join("\n");

const CASES: Case[] = [
  // version, help and command lookup
  { args: ["version"] },
  { args: ["version", "extra"] },
  { args: [] },
  { args: ["--help"] },
  { args: ["help"] },
  { args: ["help", "get"] },
  { args: ["help", "nosuch"] },
  { args: ["get", "--help"] },
  { args: ["put", "-h"] },
  { args: ["endpoint"] },
  { args: ["endpoint", "nosuch"] },
  { args: ["endpoint", "status", "--help"] },
  { args: ["gett", "foo"] },
  { args: ["a"] },
  { args: ["--foo", "get", "a"] },
  { args: ["get", "--foo", "a"] },
  { args: ["get", "-x", "a"] },
  { args: ["get", "--limit"] },
  { args: ["get", "--limit", "abc", "a"] },
  { args: ["get", "--prefix=maybe", "a"] },
  { args: ["get", "--count-only", "a"] },
  { args: ["get", "--dial-timeout", "3", "a"] },
  { args: ["get", "--dial-timeout", "3x", "a"] },
  { args: ["get", "-w"] },
  { args: ["get", "--=x"] },
  // put
  { args: ["put", "foo", "bar"] },
  { args: ["put", "foo2", "hello world", "--prev-kv"] },
  { args: ["put", "foo", "baz", "--prev-kv", "-w", "json"] },
  { args: ["put", "foo", "qux", "--prev-kv", "-w", "fields"] },
  { args: ["put", "--prev-kv", "-wprotobuf", "foo", "quux"] },
  { args: ["put", "--prev-kv", "--hex", "foo", "quuz"] },
  { args: ["put", "bin"], stdin: Buffer.from([0, 0xff, 0x62, 0x0a, 0x22, 0x3c]) },
  { args: ["put", "foo", "--ignore-value", "--prev-kv", "-w", "json"] },
  { args: ["put", "key/a", "1"] },
  { args: ["put", "key/b", "2"] },
  { args: ["put", "key/c", "3"] },
  { args: ["put", "--", "dash", "-v"] },
  { args: ["put", "x", "y", "--lease", "0"] },
  { args: ["put", "x", "y", "--lease", "zz"] },
  { args: ["put", "x", "y", "--lease", "1a"] },
  { args: ["put"] },
  { args: ["put", "k"] },
  { args: ["put", "k", "v", "--ignore-value"] },
  { args: ["put", "", "v"] },
  { args: ["pu", "pfx", "prefix-matched"] },
  // get
  { args: ["get", "foo"] },
  { args: ["get", "foo", "-w", "json"] },
  { args: ["get", "foo", "-w", "fields"] },
  { args: ["get", "foo", "-w", "protobuf"] },
  { args: ["get", "foo", "--write-out=table"] },
  { args: ["get", "bin", "-w", "fields"] },
  { args: ["get", "bin", "--hex"] },
  { args: ["get", "nothing", "-w", "json"] },
  { args: ["get", "--prefix", "key/"] },
  { args: ["get", "--prefix", "key/", "--limit", "2", "-w", "json"] },
  { args: ["get", "--prefix", ""] },
  { args: ["get", "--from-key", "key/b", "--keys-only"] },
  { args: ["get", "--from-key", ""] },
  { args: ["get", "key/a", "key/c"] },
  { args: ["get", "--prefix", "key/", "--sort-by", "value", "--order", "descend"] },
  { args: ["get", "--prefix", "key/", "--sort-by=CREATE", "--order=ASCEND", "-w", "json"] },
  { args: ["get", "--prefix", "key/", "--sort-by", "modify"] },
  { args: ["get", "--prefix", "key/", "--sort-by", "version", "--order", "DESCEND"] },
  { args: ["get", "--prefix", "key/", "--sort-by", "key", "--order", "ascend"] },
  { args: ["get", "foo", "--print-value-only"] },
  { args: ["get", "foo", "--print-value-only", "-w", "json"] },
  { args: ["get", "foo", "--consistency", "s"] },
  { args: ["get", "foo", "--rev", "2", "-w", "json"] },
  { args: ["get", "foo", "--rev", "0x3"] },
  { args: ["get", "foo", "--rev", "99999"] },
  { args: ["get", "--prefix", "--from-key", "a"] },
  { args: ["get", "a", "b", "--prefix"] },
  { args: ["get"] },
  { args: ["get", "foo", "--consistency", "x"] },
  { args: ["get", "foo", "--order", "x"] },
  { args: ["get", "foo", "--sort-by", "x"] },
  { args: ["get", "foo", "-w", "bogus"] },
  // environment
  { args: ["get", "foo"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_WRITE_OUT: "json" } },
  { args: ["get", "foo", "-w", "fields"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_HEX: "true" } },
  { args: ["get", "foo"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_FOO: "bar", ETCDCTL_DIAL_TIMEOUT: "abc" } },
  { args: ["get", "foo", "--endpoints", "{EP}"], env: { ETCDCTL_ENDPOINTS: "{EP}" } },
  { args: ["--endpoints={EP}", "get", "foo", "--command-timeout", "1m30s"], env: {} },
  { args: ["get", "foo", "--debug"], stderr: "debug" },
  { args: ["version"], env: { ETCDCTL_FOO: "1" } },
  // del
  { args: ["del", "key/a", "--prev-kv"] },
  { args: ["del", "nothing"] },
  { args: ["del", "--prefix", "key/", "-w", "json", "--prev-kv"] },
  { args: ["del", "x", "-w", "fields"] },
  { args: ["del", "dash", "-w", "protobuf"] },
  { args: ["del"] },
  { args: ["del", "a", "b", "c"] },
  { args: ["del", "a", "b", "--from-key"] },
  // txn
  { args: ["txn"], stdin: txnIn },
  { args: ["txn", "-w", "json"], stdin: txnIn },
  { args: ["txn", "-w", "fields"], stdin: txnIn },
  { args: ["txn", "-w", "protobuf"], stdin: txnIn },
  { args: ["txn", "--hex"], stdin: txnIn },
  { args: ["txn", "-i"], stdin: txnFail },
  { args: ["txn", "--interactive=true", "-w", "json"], stdin: txnFail },
  { args: ["txn"], stdin: 'c("foo") = "2"\nversion("foo") != "1"\nm("foo") < "100"\nvalue("k") = "v v"\n\nget k\n\n\n' },
  { args: ["txn"], stdin: 'mod("foo") > "0"\n' },
  { args: ["txn"], stdin: 'mod("foo") > "0"\n\nget foo\n\n' },
  { args: ["txn"], stdin: "bad\n\n\n\n" },
  { args: ["txn"], stdin: 'mod(foo) > "0"\n\n\n\n' },
  { args: ["txn"], stdin: 'nope("foo") = "0"\n\n\n\n' },
  { args: ["txn"], stdin: 'mod("foo") = "x"\n\n\n\n' },
  { args: ["txn"], stdin: 'val("foo")="x"\n\n\n\n' },
  { args: ["txn"], stdin: "\nget\n\n\n" },
  { args: ["txn"], stdin: "\nwatch foo\n\n\n" },
  { args: ["txn"], stdin: "\nget foo --bogus\n\n\n" },
  { args: ["txn"], stdin: "\nput onlykey\n\n\n" },
  { args: ["txn"], stdin: "\nput a b --lease zz\n\n\n" },
  { args: ["txn"], stdin: "\np q1 v1\ng q1\nd q1\n\n\n" },
  { args: ["txn"], stdin: "\nput \"quoted key\" \"v\\tx\"\nget \"quoted key\"\nget 'single quoted' x\n\n\n" },
  { args: ["txn"], stdin: "\nput foo bar\nput foo baz\n\n\n" },
  { args: ["txn", "extra"] },
  // compaction
  { args: ["compaction"] },
  { args: ["compaction", "abc"] },
  { args: ["compaction", "99999"] },
  { args: ["compaction", "3"] },
  { args: ["compaction", "3"] },
  { args: ["compaction", "--physical", "4"] },
  { args: ["get", "foo", "--rev", "2"] },
  // endpoints (both CLIs against twin A)
  { args: ["endpoint", "status"], same: true },
  { args: ["endpoint", "status", "-w", "json"], same: true },
  { args: ["endpoint", "status", "-w", "fields"], same: true },
  { args: ["endpoint", "status", "-w", "table"], same: true },
  { args: ["endpoint", "status", "-w", "protobuf"], same: true },
  { args: ["endpoint", "status", "--cluster"], same: true },
  { args: ["endpoint", "hashkv", "-w", "json"], same: true },
  { args: ["endpoint", "hashkv", "--rev", "5"], same: true },
  { args: ["endpoint", "hashkv", "-w", "table"], same: true },
  { args: ["endpoint", "health"], same: true },
  { args: ["endpoint", "health", "-w", "json"], same: true, health: true },
  { args: ["endpoint", "health", "-w", "fields"], same: true, health: true },
  // alarms (none raised) and defragmentation
  { args: ["alarm"] },
  { args: ["alarm", "--help"] },
  { args: ["alarm", "list"] },
  { args: ["alarm", "list", "extra"] },
  { args: ["alarm", "list", "-w", "json"] },
  { args: ["alarm", "list", "-w", "fields"], stderr: "first" },
  { args: ["alarm", "disarm", "-w", "fields"], stderr: "first" },
  { args: ["alarm", "list", "-w", "table"] },
  { args: ["alarm", "list", "-w", "protobuf"] },
  { args: ["alarm", "disarm"] },
  { args: ["alarm", "disarm", "-w", "json"] },
  { args: ["defrag", "--help"] },
  { args: ["defrag"], same: true },
  { args: ["defrag", "--cluster"], same: true },
  { args: ["defrag", "--endpoints", "{DEAD},{EP}", "--command-timeout", "300ms"], env: {}, same: true, stderr: "warn" },
  // check perf / datascale: help, bad load, a prefix that holds keys (the runs themselves: check_perf.test.ts)
  { args: ["check", "perf", "--help"] },
  { args: ["check", "datascale", "--help"] },
  { args: ["check", "perf", "--load", "bogus"] },
  { args: ["check", "datascale", "--load", "huge"] },
  { args: ["put", "/etcdctl-check-perf/x", "1"] },
  { args: ["check", "perf", "--load", "small"] },
  { args: ["put", "/check/x", "1"] },
  { args: ["check", "datascale", "--prefix", "/check/"] },
  { args: ["del", "--prefix", "/check"] },
  { args: ["del", "--prefix", "/etcdctl-check-perf/"] },
  // unreachable endpoints
  { args: ["get", "foo", "--endpoints", "{DEAD},{EP}"], env: {} },
  { args: ["get", "foo", "--endpoints", "{DEAD}", "--command-timeout", "300ms"], env: {}, stderr: "warn" },
  { args: ["put", "k", "v", "--endpoints", "{DEAD}", "--command-timeout=300ms"], env: {}, stderr: "warn" },
  {
    args: ["endpoint", "status", "--endpoints", "{DEAD}", "--command-timeout", "300ms"],
    env: {}, same: true, stderr: "warn",
  },
];

/** maskHealth hides measured durations in `endpoint health` output. */
function maskHealth(s: string): string {
  return s.replace(/"took":"[^"]*"/g, '"took":"T"').replace(/"Took" : \S+/g, '"Took" : T');
}

describe("etcdctl-ts prints what etcdctl 3.4 prints", () => {
  let a: RunningServer;
  let b: RunningServer;
  let dead: string;
  beforeAll(async () => {
    [a, b] = await startTwins(serverFromEnv());
    dead = `127.0.0.1:${await freePort()}`;
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  const expand = (s: string, ep: string): string => s.split("{EP}").join(ep).split("{DEAD}").join(dead);
  const run = (cli: string[], c: Case, ep: string): Promise<CtlResult> => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.env ?? { ETCDCTL_ENDPOINTS: "{EP}" })) env[k] = expand(v, ep);
    return runCtl(cli, c.args.map((x) => expand(x, ep)), env, c.stdin);
  };

  for (const c of CASES) {
    const title = `${c.args.join(" ") || "(no args)"}${c.env ? ` env=${JSON.stringify(c.env)}` : ""}${
      c.stdin !== undefined ? ` stdin=${JSON.stringify(c.stdin.toString())}` : ""
    }`;
    it(title, async () => {
      const real = await run(REAL_ETCDCTL, c, a.endpoint);
      const ours = await run(ETCDCTL_TS, c, c.same === true ? a.endpoint : b.endpoint);
      const eps = [a.endpoint, b.endpoint, dead];
      let realErr = normalizeStderr(real.stderr.toString("latin1"), eps);
      let oursErr = normalizeStderr(ours.stderr.toString("latin1"), eps);
      if (c.stderr === "warn") {
        realErr = dropWarnings(realErr);
        oursErr = dropWarnings(oursErr);
      } else if (c.stderr === "first") {
        realErr = realErr.split("\n")[0] ?? "";
        oursErr = oursErr.split("\n")[0] ?? "";
      } else if (c.stderr === "debug") {
        const keep = (s: string): string => s.split("\n").filter((l) => l.startsWith("ETCDCTL_")).join("\n");
        realErr = keep(realErr);
        oursErr = keep(oursErr);
      }
      let realOut = real.stdout.toString("latin1");
      let oursOut = ours.stdout.toString("latin1");
      if (c.health === true) {
        realOut = maskHealth(realOut);
        oursOut = maskHealth(oursOut);
      }
      expect({ code: ours.code, stdout: oursOut, stderr: oursErr }).toEqual({
        code: real.code,
        stdout: realOut,
        stderr: realErr,
      });
    });
  }
});
