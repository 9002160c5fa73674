import { Etcd3, type IWatchResponse } from "etcd3";
import { REAL_ETCDCTL, run } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";
import { openRawWatch, prefixEnd, sleep, vmRssKb, type RawWatchStream } from "./harness/watch_lease.js";

/**
 * Bad and heavy input to the Watch and Lease services: etcd-ts answers as the real etcd 3.4
 * does (same responses, same gRPC codes and messages, compared side by side), and stays
 * within bounded memory under 10,000 watchers on one stream or a watch client that stops reading.
 */

/** RSS_GROWTH_LIMIT_KB is the generous bound on how much a heavy watch load may grow etcd-ts's RSS. */
const RSS_GROWTH_LIMIT_KB = 300 * 1024;

describe("watch and lease bad input, etcd-ts against etcd 3.4", () => {
  let etcd: Member;
  let ts: Member;
  const clients: Etcd3[] = [];
  /**
   * client is a new etcd3 client on its own HTTP/2 connection (grpc-js shares connections
   * between clients otherwise), without grpc-js's 4 MB receive limit (Go clients have none).
   */
  const client = (m: Member): Etcd3 => {
    const c = new Etcd3({ hosts: m.url, grpcOptions: { "grpc.use_local_subchannel_pool": 1, "grpc.max_receive_message_length": -1 } });
    clients.push(c);
    return c;
  };
  /** both runs the same steps against the real etcd and etcd-ts (one after the other) and returns [etcd, etcd-ts]. */
  const both = async <T>(f: (m: Member) => Promise<T>): Promise<[T, T]> => [await f(etcd), await f(ts)];
  /** outcome is a call's answer, or its error message. */
  const outcome = async (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      (r) => ({ ok: strip(r) }),
      (e: unknown) => ({ error: (e as Error).message }),
    );

  beforeAll(async () => {
    etcd = await Member.create({ kind: "etcd" });
    ts = await Member.create({ kind: "etcd-ts" });
    await Promise.all([etcd.start(), ts.start()]);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd.destroy();
    await ts.destroy();
  });

  it("cancels a watch on a compacted revision with compact_revision set, and serves one from the compact revision", async () => {
    const [a, b] = await both(async (m) => {
      const c = client(m);
      for (let i = 0; i < 5; i++) await c.put(`cw/${i}`).value(`v${i}`);
      const last = await c.put("cw/x").value("x").exec();
      const compactRev = Number(last.header.revision) - 2;
      await c.kv.compact({ revision: compactRev, physical: true });
      const s = await openRawWatch(c);
      s.stream.write({ create_request: { key: Buffer.from("cw/"), range_end: prefixEnd("cw/"), start_revision: 1 } });
      await s.until((rs) => rs.some((r) => r.canceled), 10_000, "the compacted watcher's cancel");
      s.stream.write({ create_request: { key: Buffer.from("cw/"), range_end: prefixEnd("cw/"), start_revision: compactRev } });
      await s.until((rs) => rs.filter((r) => r.events.length > 0).reduce((n, r) => n + r.events.length, 0) >= 3, 10_000, "the events from the compact revision");
      await sleep(300);
      s.stream.cancel();
      return { compactRev, byWatch: byWatch(s.responses) };
    });
    expect(b).toEqual(a);
    const first = b.byWatch["0"] as string[];
    expect(first).toEqual([`created rev=${b.compactRev + 2}`, `canceled rev=0 compact_revision=${b.compactRev}`]);
    expect(b.byWatch["1"]).toEqual([`created rev=${b.compactRev + 2}`, `events rev=${b.compactRev + 2} Put:cw/3=v3@${b.compactRev} Put:cw/4=v4@${b.compactRev + 1} Put:cw/x=x@${b.compactRev + 2}`]);
  });

  it("gives no answer to a cancel of an unknown watch ID (etcd 3.4), and the stream goes on", async () => {
    const [a, b] = await both(async (m) => {
      const c = client(m);
      const s = await openRawWatch(c);
      s.stream.write({ cancel_request: { watch_id: 4242 } });
      s.stream.write({ create_request: { key: Buffer.from("uc/k") } });
      await s.until((rs) => rs.some((r) => r.created), 10_000, "created");
      s.stream.write({ cancel_request: { watch_id: 999 } });
      await c.put("uc/k").value("1");
      await s.until((rs) => rs.some((r) => r.events.length > 0), 10_000, "the event");
      s.stream.write({ cancel_request: { watch_id: 0 } });
      await s.until((rs) => rs.some((r) => r.canceled), 10_000, "canceled");
      s.stream.write({ cancel_request: { watch_id: 0 } }); // a second cancel of the same ID: unknown now
      await c.put("uc/k").value("2");
      await sleep(500);
      s.stream.cancel();
      return s.responses.map((r) => shape(r, false));
    });
    expect(b).toEqual(a);
    expect(b).toEqual(["0 created", "0 events Put:uc/k=1", "0 canceled"]);
  });

  it("answers bad lease requests as etcd does", async () => {
    const [a, b] = await both(async (m) => {
      const c = client(m);
      const fresh = (): Etcd3 => client(m); // etcd3's circuit breaker would keep a client off the server after errors
      const out: Record<string, unknown> = {};
      out["negative TTL"] = await outcome(c.leaseClient.leaseGrant({ TTL: -5, ID: 101 }));
      out["zero TTL"] = await outcome(c.leaseClient.leaseGrant({ TTL: 0, ID: 102 }));
      out["time to live of the negative-TTL lease"] = await outcome(c.leaseClient.leaseTimeToLive({ ID: 101 }).then((r) => ({ grantedTTL: r.grantedTTL })));
      out["ID given"] = await outcome(c.leaseClient.leaseGrant({ TTL: 60, ID: 777 }));
      out["lease already exists"] = await outcome(fresh().leaseClient.leaseGrant({ TTL: 60, ID: 777 }));
      out["largest TTL"] = await outcome(c.leaseClient.leaseGrant({ TTL: 9_000_000_000, ID: 103 }));
      out["too large lease TTL"] = await outcome(fresh().leaseClient.leaseGrant({ TTL: 9_000_000_001 }));
      out["time to live of an unknown lease"] = await outcome(c.leaseClient.leaseTimeToLive({ ID: 4242, keys: true }));
      out["revoke of an unknown lease"] = await outcome(fresh().leaseClient.leaseRevoke({ ID: 4242 }));
      out["put with an unknown lease"] = await outcome(fresh().kv.put({ key: Buffer.from("lk"), value: Buffer.from("v"), lease: 4242 }));
      const ka = await c.leaseClient.leaseKeepAlive();
      const answers: unknown[] = [];
      const got = new Promise<void>((resolve) =>
        ka.on("data", (r) => {
          answers.push(strip(r));
          if (answers.length === 2) resolve();
        }),
      );
      ka.write({ ID: 4242 }); // unknown: TTL 0, not an error
      ka.write({ ID: 777 }); // known: its TTL
      await got;
      ka.end();
      out["keep-alives"] = answers;
      for (const id of [101, 102, 103, 777]) await c.leaseClient.leaseRevoke({ ID: id });
      return out;
    });
    expect(b).toEqual(a);
    expect(b).toEqual({
      "negative TTL": { ok: { ID: "101", TTL: "2", error: "" } },
      "zero TTL": { ok: { ID: "102", TTL: "2", error: "" } },
      "time to live of the negative-TTL lease": { ok: { grantedTTL: "2" } },
      "ID given": { ok: { ID: "777", TTL: "60", error: "" } },
      "lease already exists": { error: "9 FAILED_PRECONDITION: etcdserver: lease already exists" },
      "largest TTL": { ok: { ID: "103", TTL: "9000000000", error: "" } },
      "too large lease TTL": { error: "11 OUT_OF_RANGE: etcdserver: too large lease TTL" },
      "time to live of an unknown lease": { ok: { ID: "4242", TTL: "-1", grantedTTL: "0", keys: [] } },
      "revoke of an unknown lease": { error: expect.stringContaining("5 NOT_FOUND: etcdserver: requested lease not found") },
      "put with an unknown lease": { error: expect.stringContaining("5 NOT_FOUND: etcdserver: requested lease not found") },
      "keep-alives": [
        { ID: "4242", TTL: "0" },
        { ID: "777", TTL: "60" },
      ],
    });
  });

  it("prints the same through the real etcdctl for unknown and oversized leases", async () => {
    const cmds = [
      ["lease", "revoke", "1234"],
      ["lease", "timetolive", "1234"],
      ["lease", "timetolive", "1234", "--keys", "-w", "json"],
      ["lease", "keep-alive", "--once", "1234"],
      ["lease", "grant", "9000000001"],
    ];
    for (const args of cmds) {
      const [a, b] = await both(async (m) => {
        const r = await run(REAL_ETCDCTL, ["--endpoints", m.endpoint, ...args]);
        return { code: r.code, stdout: r.stdout.replace(/"(cluster_id|member_id|revision)":\d+/g, '"$1":N'), stderr: etcdctlErrors(r.stderr) };
      });
      expect(b, `etcdctl ${args.join(" ")}`).toEqual(a);
    }
    const r = await run(REAL_ETCDCTL, ["--endpoints", ts.endpoint, "lease", "revoke", "1234"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("code = NotFound desc = etcdserver: requested lease not found");
    expect(r.stderr).toContain("Error: failed to revoke lease (etcdserver: requested lease not found)");
  });

  it("creates 10,000 watchers on one stream, delivers one put to each, and keeps etcd-ts's RSS bounded", async () => {
    const N = 10_000;
    const [a, b] = await both(async (m) => {
      const pid = m.proc?.pid as number;
      const before = vmRssKb(pid);
      const c = client(m);
      const s = await openRawWatch(c);
      for (let i = 0; i < N; i++) s.stream.write({ create_request: { key: Buffer.from("many/k") } });
      await s.until((rs) => rs.length >= N, 90_000, `${N} created answers`);
      const created = new Set(s.responses.filter((r) => r.created && !r.canceled).map((r) => r.watch_id));
      const put = await c.put("many/k").value("v").exec();
      await s.until((rs) => rs.length >= 2 * N, 90_000, `${N} events`);
      await sleep(300);
      const evs = s.responses.slice(N);
      const after = vmRssKb(pid);
      s.stream.cancel();
      // The server still serves, at once.
      expect(await client(m).get("many/k").string()).toBe("v");
      return {
        created: created.size,
        responses: s.responses.length,
        eventWatchIds: new Set(evs.map((r) => r.watch_id)).size,
        allForCreated: evs.every((r) => created.has(r.watch_id)),
        eventsOk: evs.every((r) => r.events.length === 1 && r.events[0]?.kv.mod_revision === put.header.revision && r.events[0]?.kv.value.toString() === "v"),
        growthKb: after - before,
      };
    });
    process.stderr.write(`10,000 watchers: RSS growth etcd ${Math.round(a.growthKb / 1024)} MB, etcd-ts ${Math.round(b.growthKb / 1024)} MB\n`);
    const shape = (x: typeof a): unknown => ({ ...x, growthKb: undefined });
    expect(shape(b)).toEqual(shape(a));
    expect(shape(b)).toEqual({ created: N, responses: 2 * N, eventWatchIds: N, allForCreated: true, eventsOk: true, growthKb: undefined });
    expect(b.growthKb).toBeLessThan(RSS_GROWTH_LIMIT_KB);
  });

  it("keeps etcd-ts's RSS bounded while a watch client stops reading through 20 MB of events, then delivers each event once, in order", async () => {
    const COUNT = 200;
    const SIZE = 100 * 1024; // 200 x 100 KB = 20 MB of values
    const [a, b] = await both(async (m) => {
      const pid = m.proc?.pid as number;
      const c = client(m);
      const writer = client(m);
      const s: RawWatchStream = await openRawWatch(c);
      s.stream.write({ create_request: { key: Buffer.from("slow/"), range_end: prefixEnd("slow/") } });
      await s.until((rs) => rs.some((r) => r.created), 10_000, "created");
      s.duplex.pause(); // stop reading: HTTP/2 flow control pushes back on the server
      const before = vmRssKb(pid);
      let peak = before;
      const revs: string[] = [];
      for (let i = 0; i < COUNT; i++) {
        const v = Buffer.alloc(SIZE, i % 251);
        v.write(`#${i}#`, 0);
        const r = await writer.put(`slow/${String(i).padStart(4, "0")}`).value(v).exec();
        revs.push(r.header.revision);
        if (i % 20 === 0) peak = Math.max(peak, vmRssKb(pid));
      }
      await sleep(1000); // give the server time to (wrongly) buffer everything
      peak = Math.max(peak, vmRssKb(pid));
      const eventsWhilePaused = s.responses.reduce((n, r) => n + r.events.length, 0);
      s.duplex.resume();
      await s.until((rs) => rs.reduce((n, r) => n + r.events.length, 0) >= COUNT, 60_000, `${COUNT} events after resuming`);
      await sleep(500); // a duplicate would be here by now
      peak = Math.max(peak, vmRssKb(pid));
      const events = s.responses.flatMap((r) => r.events);
      s.stream.cancel();
      return {
        eventsWhilePaused,
        count: events.length,
        inOrder: events.map((e) => `${e.kv.key.toString()}@${e.kv.mod_revision}`).join(" ") === revs.map((r, i) => `slow/${String(i).padStart(4, "0")}@${r}`).join(" "),
        valuesIntact: events.every((e, i) => e.kv.value.length === SIZE && e.kv.value.subarray(0, 8).toString().startsWith(`#${i}#`) && e.kv.value[SIZE - 1] === i % 251),
        growthKb: peak - before,
      };
    });
    process.stderr.write(`slow reader (20 MB): RSS growth etcd ${Math.round(a.growthKb / 1024)} MB, etcd-ts ${Math.round(b.growthKb / 1024)} MB; events while paused ${a.eventsWhilePaused}/${b.eventsWhilePaused}\n`);
    expect(b.eventsWhilePaused).toBe(0);
    expect({ count: b.count, inOrder: b.inOrder, valuesIntact: b.valuesIntact }).toEqual({ count: COUNT, inOrder: true, valuesIntact: true });
    expect({ count: a.count, inOrder: a.inOrder, valuesIntact: a.valuesIntact }).toEqual({ count: COUNT, inOrder: true, valuesIntact: true });
    expect(b.growthKb).toBeLessThan(RSS_GROWTH_LIMIT_KB);
  });
});

/** strip drops a response's header (IDs differ between servers), keeping the rest. */
function strip(r: unknown): unknown {
  if (r === null || typeof r !== "object") return r;
  const { header: _header, ...rest } = r as Record<string, unknown>;
  return rest;
}

/** shape renders a watch response: watch ID, kind, and events (with the header revision when rev). */
function shape(r: IWatchResponse, rev = true): string {
  const parts = [r.watch_id];
  if (r.created) parts.push("created");
  if (r.canceled) parts.push("canceled");
  if (r.events.length > 0) parts.push("events");
  if (rev) parts.push(`rev=${r.header.revision}`);
  if (r.compact_revision !== "0") parts.push(`compact_revision=${r.compact_revision}`);
  if (r.cancel_reason !== "") parts.push(`reason=${r.cancel_reason}`);
  for (const e of r.events) parts.push(`${e.type}:${e.kv.key.toString()}=${e.kv.value.toString()}${rev ? `@${e.kv.mod_revision}` : ""}`);
  return parts.join(" ");
}

/** byWatch groups a stream's responses by watch ID (their order across watchers is not specified). */
function byWatch(rs: IWatchResponse[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of rs) (out[r.watch_id] ??= []).push(shape(r).slice(r.watch_id.length + 1));
  return out;
}

/** etcdctlErrors keeps etcdctl's error lines and the gRPC code of its retry warnings (their times and client IDs differ). */
function etcdctlErrors(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (l.startsWith("{") ? (/"error":"([^"]*)"/.exec(l)?.[1] ?? "log line") : l));
}
