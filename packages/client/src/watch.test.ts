import { request } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { mvccpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";
import { WatchCanceledError, type Watch, type WatchResponse } from "./watch.js";

const { PUT, DELETE } = mvccpb.Event_EventType;
const b = (s: string): Buffer => Buffer.from(s);

/** nextWithin reads the next response of w, failing the test after ms. */
async function nextWithin(w: Watch, ms = 5000): Promise<WatchResponse> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`no watch response within ${ms}ms`)), ms);
  });
  try {
    const r = await Promise.race([w.next(), timeout]);
    if (r.done === true) throw new Error("watch ended");
    return r.value;
  } finally {
    clearTimeout(t);
  }
}

/** collectEvents reads responses until n events have arrived. */
async function collectEvents(w: Watch, n: number, ms = 10_000): Promise<mvccpb.Event[]> {
  const out: mvccpb.Event[] = [];
  const end = Date.now() + ms;
  while (out.length < n) out.push(...(await nextWithin(w, Math.max(1, end - Date.now()))).events);
  return out;
}

/** metric reads one sample (sum over label sets) from etcd's /metrics. */
function metric(clientURL: string, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${clientURL}/metrics`, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => {
        let sum = 0;
        for (const line of body.split("\n")) {
          if (line.startsWith(name + " ") || line.startsWith(name + "{")) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
        }
        resolve(sum);
      });
    })
      .on("error", reject)
      .end();
  });
}

async function eventually(fn: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("Watch against etcd", () => {
  let etcd: RunningEtcd;
  let c: Client;
  let url: string;
  beforeAll(async () => {
    etcd = await startEtcd({ flags: ["--max-request-bytes", "4096"] });
    url = etcd.members[0]!.clientURL;
    c = new Client({ endpoints: [etcd.endpoint] });
  }, 30_000);
  afterAll(async () => {
    c?.close();
    await etcd?.stop();
  });

  it("reports puts and deletes of a key from now, with the created revision", async () => {
    const w = c.watch("k1");
    const created = await w.created;
    expect(created.created).toBe(true);
    const p = await c.put({ key: b("k1"), value: b("v1") });
    await c.put({ key: b("other"), value: b("x") });
    await c.deleteRange({ key: b("k1") });
    const evs = await collectEvents(w, 2);
    expect(evs.map((e) => [e.type, e.kv?.key.toString(), e.kv?.value.toString()])).toEqual([
      [PUT, "k1", "v1"],
      [DELETE, "k1", ""],
    ]);
    expect(evs[0]?.kv?.modRevision).toBe(p.header!.revision);
    expect(created.header!.revision).toBe(p.header!.revision - 1n);
    await w.return();
    expect((await w.next()).done).toBe(true);
  });

  it("watches a prefix and a range, from a past revision, with previous key-values", async () => {
    const first = await c.put({ key: b("p/a"), value: b("1") });
    await c.put({ key: b("p/b"), value: b("2") });
    await c.put({ key: b("q"), value: b("3") });
    await c.put({ key: b("p/a"), value: b("4") });
    const pw = c.watch("p/", { prefix: true, startRevision: first.header!.revision, prevKv: true });
    const evs = await collectEvents(pw, 3);
    expect(evs.map((e) => `${e.kv?.key}=${e.kv?.value}`)).toEqual(["p/a=1", "p/b=2", "p/a=4"]);
    expect(evs[2]?.prevKv?.value.toString()).toBe("1");
    pw.cancel();
    const rw = c.watch("p/b", { rangeEnd: "r", startRevision: first.header!.revision });
    const revs = await collectEvents(rw, 2);
    expect(revs.map((e) => e.kv?.key.toString())).toEqual(["p/b", "q"]);
    rw.cancel();
  });

  it("applies the NOPUT and NODELETE filters", async () => {
    const noPut = c.watch("f", { noPut: true });
    const noDel = c.watch("f", { noDelete: true });
    await Promise.all([noPut.created, noDel.created]);
    await c.put({ key: b("f"), value: b("1") });
    await c.deleteRange({ key: b("f") });
    expect((await collectEvents(noPut, 1)).map((e) => e.type)).toEqual([DELETE]);
    expect((await collectEvents(noDel, 1)).map((e) => e.type)).toEqual([PUT]);
    noPut.cancel();
    noDel.cancel();
  });

  it("multiplexes watches on one stream, answers progress requests, and closes the stream after the last cancel", async () => {
    await eventually(async () => (await metric(url, "etcd_debugging_mvcc_watch_stream_total")) === 0);
    const ac = new AbortController();
    const w1 = c.watch("m1");
    const w2 = c.watch("m2", { signal: ac.signal });
    const w3 = c.watch("m3", { watchId: 4242n });
    await Promise.all([w1.created, w2.created, w3.created]);
    expect(w3.watchId).toBe(4242n);
    expect(new Set([w1.watchId, w2.watchId, w3.watchId]).size).toBe(3);
    expect(await metric(url, "etcd_debugging_mvcc_watch_stream_total")).toBe(1);
    expect(await metric(url, "etcd_debugging_mvcc_watcher_total")).toBe(3);

    const rev = (await c.put({ key: b("unrelated"), value: b("x") })).header!.revision;
    await c.requestProgress();
    for (const w of [w1, w2, w3]) {
      const r = await nextWithin(w);
      expect(r.progressNotify).toBe(true);
      expect(r.header!.revision).toBe(rev);
    }
    await c.put({ key: b("m3"), value: b("three") });
    const r3 = await nextWithin(w3);
    expect(r3.watchId).toBe(4242n);

    const dup = c.watch("m4", { watchId: 4242n });
    await expect(dup.created).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await expect(dup.next()).rejects.toBeInstanceOf(WatchCanceledError);

    ac.abort();
    expect((await w2.next()).done).toBe(true);
    await w1.return();
    w3.cancel();
    await eventually(async () => (await metric(url, "etcd_debugging_mvcc_watch_stream_total")) === 0);
  });

  it("reports a compacted start revision as an error with the compact revision", async () => {
    const r1 = await c.put({ key: b("c"), value: b("1") });
    const r2 = await c.put({ key: b("c"), value: b("2") });
    await c.compact({ revision: r2.header!.revision, physical: true });
    const w = c.watch("c", { startRevision: r1.header!.revision });
    const err = await w.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchCanceledError);
    expect(err).toMatchObject({
      code: grpc.status.OUT_OF_RANGE,
      message: "etcdserver: mvcc: required revision has been compacted",
      compactRevision: r2.header!.revision,
    });
    expect((err as WatchCanceledError).response.canceled).toBe(true);
    expect((await w.next()).done).toBe(true);
  });

  it("reassembles fragmented responses", async () => {
    const big = Buffer.alloc(1500, 0x61);
    // A watch catching up from the past gets all events in one response, larger than the
    // member's --max-request-bytes (4096): the member sends it in fragments.
    let first = 0n;
    for (const i of [1, 2, 3, 4, 5]) {
      const p = await c.put({ key: b(`frag/${i}`), value: big });
      if (first === 0n) first = p.header!.revision;
    }
    const w = c.watch("frag/", { prefix: true, startRevision: first, fragment: true });
    const r = await nextWithin(w);
    expect(r.events).toHaveLength(5);
    expect(r.fragment).toBe(false);
    expect(r.events.map((e) => e.kv?.key.toString())).toEqual([1, 2, 3, 4, 5].map((i) => `frag/${i}`));
    w.cancel();
  });

  it("ends watches with the closed error when the client closes", async () => {
    const c2 = new Client({ endpoints: [etcd.endpoint] });
    const w = c2.watch("z");
    await w.created;
    c2.close();
    await expect(w.next()).rejects.toMatchObject({ code: grpc.status.CANCELLED, local: true });
  });
});

describe("Watch resuming", () => {
  let etcd: RunningEtcd;
  beforeAll(async () => {
    etcd = await startEtcd({ size: 3 });
  }, 60_000);
  afterAll(async () => {
    await etcd?.stop();
  });

  it("resumes on another member after losing one, without missing or repeating events", async () => {
    // The watch starts on a follower, which is then killed; writes go to the leader, so no
    // election gets in the way.
    const probe = new Client({ endpoints: [etcd.endpoint] });
    const st = await Promise.all(etcd.members.map((m) => probe.status(m.endpoint)));
    probe.close();
    const leaderIdx = st.findIndex((s) => s.leader === s.header!.memberId);
    const leader = etcd.members[leaderIdx]!;
    const [m1, m2] = etcd.members.filter((_, i) => i !== leaderIdx) as [typeof leader, typeof leader];
    const watching = new Client({ endpoints: [m1.endpoint, m2.endpoint, leader.endpoint] });
    const writer = new Client({ endpoints: [leader.endpoint] });
    try {
      const w = watching.watch("r/", { prefix: true });
      const w2 = watching.watch("r/5");
      await Promise.all([w.created, w2.created]);
      for (let i = 0; i < 5; i++) await writer.put({ key: b(`r/${i}`), value: b(String(i)) });
      const before = await collectEvents(w, 5);
      await m1.stop();
      for (let i = 5; i < 10; i++) await writer.put({ key: b(`r/${i}`), value: b(String(i)) });
      const after = await collectEvents(w, 5, 20_000);
      const keys = [...before, ...after].map((e) => e.kv?.key.toString());
      expect(keys).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `r/${i}`));
      const revs = [...before, ...after].map((e) => e.kv!.modRevision);
      for (let i = 1; i < revs.length; i++) expect(revs[i]).toBe(revs[i - 1]! + 1n);
      expect((await collectEvents(w2, 1, 20_000)).map((e) => e.kv?.key.toString())).toEqual(["r/5"]);
      // Nothing more was delivered twice.
      await writer.put({ key: b("r/x"), value: b("x") });
      expect((await collectEvents(w, 1)).map((e) => e.kv?.key.toString())).toEqual(["r/x"]);
      w.cancel();
      w2.cancel();
    } finally {
      watching.close();
      writer.close();
    }
  }, 60_000);
});
