import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hexId } from "../ids.js";
import { leaderOf, put, specs, startCluster, stopAll, until } from "../testing/cluster.js";
import { parseExposition, type Sample } from "../testing/exposition.js";

/**
 * The etcd monitoring mixin's alerts and dashboards (testdata/etcd_mixin_queries.tsv) must
 * find every series they query on an etcd-ts cluster scraped after a workload. `up` is not
 * checked: Prometheus makes it for each scrape target. The `job` matchers select scrape
 * targets, not series labels, and are dropped.
 */

/** Matcher is one PromQL label matcher. */
interface Matcher {
  label: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

/** Selector is one instant or range vector selector of a query: a metric name and its matchers. */
interface Selector {
  name: string;
  matchers: Matcher[];
}

const KEYWORDS = new Set(["bool", "or", "and", "unless", "offset"]);

/** selectors lists the vector selectors of a PromQL expression (names that are not functions or keywords). */
function selectors(expr: string): Selector[] {
  // Range and subquery durations, and the label lists of by/without, hold no selectors.
  const e = expr.replace(/\[[^\]]*\]/g, "").replace(/\b(?:by|without)\s*\([^)]*\)/g, "");
  const out: Selector[] = [];
  for (const m of e.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?/g)) {
    const [, name, braces, call] = m as unknown as [string, string, string | undefined, string | undefined];
    if ((braces === undefined && call !== undefined) || KEYWORDS.has(name)) continue;
    const matchers: Matcher[] = [];
    for (const l of (braces ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      matchers.push({ label: l[1] as string, op: l[2] as Matcher["op"], value: l[3] as string });
    }
    out.push({ name, matchers });
  }
  return out;
}

/** matches applies one matcher as Prometheus does: a missing label is the empty string, regexes are anchored. */
function matches(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.label] ?? "";
  switch (m.op) {
    case "=":
      return v === m.value;
    case "!=":
      return v !== m.value;
    case "=~":
      return new RegExp(`^(?:${m.value})$`).test(v);
    case "!~":
      return !new RegExp(`^(?:${m.value})$`).test(v);
  }
}

const QUERIES = readFileSync(new URL("./testdata/etcd_mixin_queries.tsv", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l !== "" && !l.startsWith("#"))
  .map((l) => {
    const [from, expr] = l.split("\t") as [string, string];
    return { from, expr };
  });

describe("the PromQL selector reader", () => {
  it("finds selectors with their matchers, not functions, keywords or by/without labels", () => {
    expect(selectors('100 * sum(rate(x_total{job=~".*etcd.*", grpc_code=~"A|B"}[5m])) without (grpc_type, grpc_code) / sum by (instance, le) (y) > bool 1')).toEqual([
      { name: "x_total", matchers: [{ label: "job", op: "=~", value: ".*etcd.*" }, { label: "grpc_code", op: "=~", value: "A|B" }] },
      { name: "y", matchers: [] },
    ]);
    expect(selectors("increase((max without (instance) (a) or 0*absent(a{j!=\"x\"}))[15m:1m]) >= 4").map((s) => s.name)).toEqual(["a", "a"]);
  });

  it("reads every mixin query, each with at least one selector", () => {
    expect(QUERIES.length).toBeGreaterThan(30);
    for (const q of QUERIES) expect([q.from, selectors(q.expr).length > 0]).toEqual([q.from, true]);
  });
});

describe("the etcd mixin against a 3-member etcd-ts cluster", () => {
  const samples: Sample[] = [];

  beforeAll(async () => {
    // --metrics extensive: the gRPC handling-time histograms the etcdGRPCRequestsSlow alert reads (as with etcd).
    const ms = await startCluster(3, ["--metrics", "extensive"]);
    const lead = leaderOf(ms);
    const kv = new etcdserverpb.KVClient((specs.get(lead)?.clientUrl ?? "").replace("http://", ""), credentials.createInsecure());
    await new Promise<void>((resolve, reject) =>
      kv.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from("a"), value: Buffer.from("1") }), (err) => (err === null ? resolve() : reject(err))),
    );
    kv.close();
    // The peer prober times a round trip to each peer every 4 s.
    const followers = ms.filter((m) => m !== lead);
    await until(async () => {
      const t = await lead.metrics.text();
      return followers.every((f) => t.includes(`etcd_network_peer_round_trip_time_seconds_count{To="${hexId(f.server.memberId)}"}`));
    }, 15_000);
    // A stopped follower: sends to it fail (etcdMembersDown reads the failures).
    const down = followers[0] as (typeof ms)[number];
    await down.stop();
    for (let i = 0; i < 10; i++) await put(lead, `k${i}`, "v");
    await until(async () => (await lead.metrics.text()).includes(`etcd_network_peer_sent_failures_total{To="${hexId(down.server.memberId)}"}`));
    for (const m of ms.filter((x) => x !== down)) samples.push(...parseExposition(await m.metrics.text()).samples);
  }, 40_000);

  afterAll(stopAll);

  it("finds a series for every selector of every alert and dashboard query", () => {
    const missing: string[] = [];
    for (const q of QUERIES) {
      for (const s of selectors(q.expr)) {
        if (s.name === "up") continue;
        const want = s.matchers.filter((m) => m.label !== "job");
        if (!samples.some((x) => x.name === s.name && want.every((m) => matches(m, x.labels)))) missing.push(`${q.from}: ${s.name}${JSON.stringify(want)}`);
      }
    }
    expect(missing).toEqual([]);
  });

});
