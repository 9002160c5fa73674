import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memberIds } from "./harness/ids.js";
import { Member } from "./harness/member.js";
import { normalize } from "./harness/normalize.js";
import { REAL_ETCDCTL, run } from "@etcd-ts/test-kit";

/**
 * The differential test: one script of real-etcdctl commands, run against the real etcd
 * 3.4 and against etcd-ts. Every command must print the same stdout and stderr and exit
 * with the same code, except for member and cluster IDs (and the db size / raft index of
 * endpoint status, which depend on the storage engine and the log's housekeeping entries).
 */
const TXN_SUCCESS = 'value("foo") = "bar"\n\nput foo baz\nget foo\ndel gone\n\nget nothing\n\n';
const TXN_FAILURE = 'mod("foo") < "1"\nversion("foo") > "5"\n\nput never x\n\nput other y\nget foo --prefix\n\n';

const SCRIPT: { args: string[]; input?: string }[] = [
  { args: ["put", "foo", "bar"] },
  { args: ["put", "foo1", "bar1", "--prev-kv"] },
  { args: ["put", "foo1", "bar2", "--prev-kv"] },
  { args: ["put", "foo2", "bar2", "-w", "json"] },
  { args: ["put", "zoo", "animal"] },
  { args: ["get", "foo"] },
  { args: ["get", "foo", "-w", "json"] },
  { args: ["get", "foo", "-w", "fields"] },
  { args: ["get", "foo", "--prefix"] },
  { args: ["get", "foo", "--prefix", "-w", "json"] },
  { args: ["get", "foo", "--prefix", "--limit", "2", "-w", "json"] },
  { args: ["get", "foo", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"] },
  { args: ["get", "foo", "--prefix", "--sort-by", "VALUE", "--order", "ASCEND", "-w", "fields"] },
  { args: ["get", "foo", "--prefix", "--keys-only"] },
  { args: ["get", "foo", "--prefix", "--count-only", "-w", "json"] },
  { args: ["get", "foo", "--prefix", "--print-value-only"] },
  { args: ["get", "a", "--from-key"] },
  { args: ["get", "foo", "foo2"] },
  { args: ["get", "foo1", "--rev", "3"] },
  { args: ["get", "foo", "--prefix", "--min-mod-revision", "4", "-w", "json"] },
  { args: ["get", "foo", "--prefix", "--max-create-revision", "3"] },
  { args: ["get", "foo", "--hex"] },
  { args: ["get", "foo", "--consistency", "s"] },
  { args: ["get", "missing"] },
  { args: ["get", "missing", "-w", "json"] },
  { args: ["txn"], input: TXN_SUCCESS },
  { args: ["txn", "-w", "json"], input: TXN_FAILURE },
  { args: ["del", "foo2", "--prev-kv"] },
  { args: ["del", "nothing"] },
  { args: ["del", "foo", "--prefix", "-w", "json"] },
  { args: ["put", "foo", "again"] },
  { args: ["compaction", "4"] },
  { args: ["get", "foo1", "--rev", "3"] },
  { args: ["compaction", "2"] },
  { args: ["get", "foo", "--rev", "1000"] },
  { args: ["compaction", "1000"] },
  { args: ["put", "", "x"] },
  { args: ["put", "k", "--ignore-value", "v"] },
  { args: ["put", "neverwritten", "--ignore-value"] },
  { args: ["put", "k", "v", "--lease", "1234"] },
  { args: ["get", "", "--from-key", "-w", "json"] },
  { args: ["compaction", "--physical", "8"] },
  { args: ["get", "", "--from-key", "--rev", "8"] },
];

describe("differential: real etcdctl against etcd 3.4 and etcd-ts", () => {
  const members: Member[] = [];
  beforeAll(async () => {
    for (const kind of ["etcd", "etcd-ts"] as const) {
      const m = await Member.create({ kind });
      await m.start();
      members.push(m);
    }
  });
  afterAll(async () => {
    for (const m of members) await m.destroy();
  });

  it("prints the same for every command of the script", async () => {
    const [etcd, ts] = members as [Member, Member];
    const etcdIds = await memberIds(etcd.endpoint);
    const tsIds = await memberIds(ts.endpoint);
    for (const step of SCRIPT) {
      const opts = step.input === undefined ? {} : { input: step.input };
      const a = await run(REAL_ETCDCTL, ["--endpoints", etcd.endpoint, ...step.args], opts);
      const b = await run(REAL_ETCDCTL, ["--endpoints", ts.endpoint, ...step.args], opts);
      const label = `etcdctl ${step.args.join(" ")}`;
      expect({ cmd: label, out: normalize(b.stdout, tsIds), err: normalize(b.stderr, tsIds), code: b.code }).toEqual({
        cmd: label,
        out: normalize(a.stdout, etcdIds),
        err: normalize(a.stderr, etcdIds),
        code: a.code,
      });
    }
  });

  it("reports endpoint status with the same shape", async () => {
    const [etcd, ts] = members as [Member, Member];
    const a = await run(REAL_ETCDCTL, ["--endpoints", etcd.endpoint, "endpoint", "status", "-w", "json"]);
    const b = await run(REAL_ETCDCTL, ["--endpoints", ts.endpoint, "endpoint", "status", "-w", "json"]);
    const mask = (s: string) =>
      s
        .replace(/"(cluster_id|member_id|leader|dbSize|dbSizeInUse|raftIndex|raftAppliedIndex)":\d+/g, '"$1":N')
        .replace(/"Endpoint":"[^"]+"/, '"Endpoint":"E"');
    expect(b.code).toBe(0);
    expect(mask(b.stdout)).toBe(mask(a.stdout));
    const table = await run(REAL_ETCDCTL, ["--endpoints", ts.endpoint, "endpoint", "status", "-w", "table"]);
    expect(table.stdout).toContain("3.4.23");
    expect(table.stdout).toMatch(/\|\s+true\s+\|\s+false\s+\|\s+2\s+\|/); // leader, not learner, term 2
  });
});
