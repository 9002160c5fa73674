import { Client, Election, Mutex, Session } from "@etcd-ts/client";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL } from "./testing/ctl.js";
import { LeaseNames } from "./testing/leases.js";
import { afterDelay, spawnCtl, type CtlProc, type Exit } from "./testing/proc.js";
import { serverFromEnv, startTwins, type RunningServer } from "./testing/server.js";

/**
 * Differential suite for `lock` and `elect`: the Go etcdctl runs against twin A, etcdctl-ts
 * against twin B, and the test does the same to both twins (holding a lock, campaigning,
 * revoking a lease), so both see the same revisions. Keys hold the session's lease ID, which
 * each server picks: IDs are masked. Commands that wait are stopped with SIGTERM, as an
 * operator's Ctrl-C would.
 */
interface Case {
  args: string[];
}

const sh = (script: string): string[] => ["--", "sh", "-c", script];

const CASES: Case[] = [
  { args: ["lock"] },
  { args: ["lock", "--help"] },
  { args: ["lock", "--ttl", "x", "L"] },
  { args: ["elect"] },
  { args: ["elect", "--help"] },
  { args: ["elect", "a", "b", "c"] },
  { args: ["elect", "a"] },
  { args: ["elect", "-l", "a", "b"] },
  { args: ["elect", "-l", "a", "b", "-w", "bogus"] },
  { args: ["lock", "L1", ...sh('echo "key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV"')] },
  { args: ["lock", "L1", "-w", "json", ...sh("echo json is not used; echo to stderr >&2")] },
  { args: ["lock", "--ttl", "0", "L1", "--", "true"] },
  { args: ["lock", "L1", "--", "false"] },
  { args: ["lock", "L1", ...sh("exit 7")] },
  { args: ["lock", "L1", ...sh("kill -TERM $$")] },
  { args: ["lock", "L1", "--", "no-such-command"] },
  { args: ["lock", "L1", "--", "/no/such/file", "x"] },
  { args: ["lock", "L1", ...sh("env | grep ^ETCD_LOCK | sort")] },
  { args: ["get", "--prefix", "L1", "-w", "json"] },
];

describe("etcdctl-ts lock and elect print what etcdctl 3.4 prints", () => {
  let a: RunningServer;
  let b: RunningServer;
  let names: Map<string, LeaseNames>;
  const clients = new Map<string, Client>();
  beforeAll(async () => {
    [a, b] = await startTwins(serverFromEnv());
    names = new Map([
      [a.endpoint, new LeaseNames(a.endpoint)],
      [b.endpoint, new LeaseNames(b.endpoint)],
    ]);
    for (const s of [a, b]) clients.set(s.endpoint, new Client({ endpoints: [s.endpoint] }));
  }, 60_000);
  afterAll(async () => {
    for (const c of clients.values()) c.close();
    await a?.stop();
    await b?.stop();
  });

  const twins = (): RunningServer[] => [a, b];
  const client = (s: RunningServer): Client => clients.get(s.endpoint) as Client;
  const learn = (): Promise<void[]> => Promise.all([...names.values()].map((n) => n.learn()));

  /** spawnBoth starts the Go etcdctl on twin A and etcdctl-ts on twin B. */
  const spawnBoth = (args: string[]): [CtlProc, CtlProc] => [
    spawnCtl(REAL_ETCDCTL, args, { ETCDCTL_ENDPOINTS: a.endpoint }),
    spawnCtl(ETCDCTL_TS, args, { ETCDCTL_ENDPOINTS: b.endpoint }),
  ];

  /** result is a run's outcome with the server's lease IDs masked. */
  const result = (p: CtlProc, exit: Exit, s: RunningServer, protobuf = false) => {
    const n = names.get(s.endpoint) as LeaseNames;
    const stdout = protobuf ? maskProtobufRange(p.stdout(), n) : n.mask(p.stdout().toString("latin1"));
    return { exit, stdout, stderr: n.mask(normalizeStderr(p.stderr().toString("latin1"), [a.endpoint, b.endpoint])) };
  };

  const compare = async (real: CtlProc, ours: CtlProc, er: Exit, eo: Exit, protobuf = false): Promise<void> => {
    await learn();
    expect(result(ours, eo, b, protobuf)).toEqual(result(real, er, a, protobuf));
  };

  for (const c of CASES) {
    it(c.args.join(" "), async () => {
      const [real, ours] = spawnBoth(c.args);
      const [er, eo] = await Promise.all([real.exitedWithin(20_000), ours.exitedWithin(20_000)]);
      await compare(real, ours, er, eo);
    });
  }

  for (const format of ["simple", "json", "fields", "protobuf"]) {
    it(`lock -w ${format} prints the lock key, holds it until SIGTERM, then releases it`, async () => {
      const [real, ours] = spawnBoth(["lock", "L2", "-w", format]);
      await Promise.all([real, ours].map((p) => p.waitFor((o) => o.length > 0, 15_000, "the lock key")));
      await Promise.all([real, ours].map((p) => p.waitQuiet(300, 5000)));
      for (const s of twins()) expect((await client(s).range({ key: Buffer.from("L2/"), rangeEnd: Buffer.from("L20") })).count).toBe(1n);
      const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
      await compare(real, ours, er, eo, format === "protobuf");
      expect(eo).toEqual({ code: 0, signal: null });
      for (const s of twins()) expect((await client(s).range({ key: Buffer.from("L2/"), rangeEnd: Buffer.from("L20") })).count).toBe(0n);
    });
  }

  it("lock -w table exits 4 once it holds the lock", async () => {
    const [real, ours] = spawnBoth(["lock", "L2t", "-w", "table"]);
    const [er, eo] = await Promise.all([real.exitedWithin(20_000), ours.exitedWithin(20_000)]);
    await compare(real, ours, er, eo);
    expect(eo.code).toBe(4);
    // The lock key stays until its lease expires; revoke it now, so the deletion does not
    // land in a later test at a different moment on each twin.
    for (const s of twins()) {
      for (const kv of (await client(s).range({ key: Buffer.from("L2t/"), rangeEnd: Buffer.from("L2t0") })).kvs) {
        await client(s).lease.revoke(kv.lease);
      }
    }
  });

  /** holdLock takes lock `name` on both twins through the client (Go's algorithm, same revisions). */
  const holdLock = async (name: string): Promise<Array<{ m: Mutex; s: Session }>> => {
    const out: Array<{ m: Mutex; s: Session }> = [];
    for (const srv of twins()) {
      const s = await Session.create(client(srv), { ttl: 30 });
      const m = new Mutex(s, name);
      await m.lock();
      out.push({ m, s });
    }
    await learn();
    return out;
  };

  it("lock waits for the holder, then runs the command", async () => {
    const held = await holdLock("L3");
    const [real, ours] = spawnBoth(["lock", "L3", ...sh('echo "got $ETCD_LOCK_KEY at $ETCD_LOCK_REV"')]);
    await afterDelay(2000);
    for (const p of [real, ours]) expect(p.stdout().length).toBe(0);
    for (const h of held) await h.m.unlock();
    const [er, eo] = await Promise.all([real.exitedWithin(15_000), ours.exitedWithin(15_000)]);
    await compare(real, ours, er, eo);
    expect(eo).toEqual({ code: 0, signal: null });
    for (const h of held) h.s.orphan();
  });

  it("lock gives up waiting on SIGTERM with 'context canceled' and withdraws", async () => {
    const held = await holdLock("L4");
    const [real, ours] = spawnBoth(["lock", "L4"]);
    await afterDelay(2000);
    const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
    await compare(real, ours, er, eo);
    expect(eo.code).toBe(1);
    for (const s of twins()) expect((await client(s).range({ key: Buffer.from("L4/"), rangeEnd: Buffer.from("L40") })).count).toBe(1n);
    for (const h of held) {
      await h.m.unlock();
      h.s.orphan();
    }
  });

  it("lock reports 'session expired' when its lease is revoked", async () => {
    const [real, ours] = spawnBoth(["lock", "--ttl", "3", "L5"]);
    await Promise.all([real, ours].map((p) => p.waitFor((o) => o.length > 0, 15_000, "the lock key")));
    await learn();
    for (const s of twins()) {
      const kv = (await client(s).range({ key: Buffer.from("L5/"), rangeEnd: Buffer.from("L50") })).kvs[0];
      await client(s).lease.revoke(kv!.lease);
    }
    const [er, eo] = await Promise.all([real.exitedWithin(15_000), ours.exitedWithin(15_000)]);
    await compare(real, ours, er, eo);
    expect(eo.code).toBe(1);
  });

  for (const format of ["simple", "json"]) {
    it(`elect -w ${format} campaigns, prints the leader key, and resigns on SIGTERM`, async () => {
      const [real, ours] = spawnBoth(["elect", "E1", "proposal one", "-w", format]);
      await Promise.all([real, ours].map((p) => p.waitFor((o) => o.includes("\n"), 15_000, "the leader key")));
      await Promise.all([real, ours].map((p) => p.waitQuiet(300, 5000)));
      const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
      await compare(real, ours, er, eo);
      expect(eo).toEqual({ code: 0, signal: null });
      for (const s of twins()) expect((await client(s).range({ key: Buffer.from("E1/"), rangeEnd: Buffer.from("E10") })).count).toBe(0n);
    });
  }

  it("elect -l reports each leader and each new proclamation until SIGTERM", async () => {
    const [real, ours] = spawnBoth(["elect", "-l", "E2", "-w", "json"]);
    await afterDelay(1500);
    const candidates: Array<{ e: Election; s: Session }> = [];
    for (const srv of twins()) {
      const s = await Session.create(client(srv));
      const e = new Election(s, "E2");
      await e.campaign("first");
      candidates.push({ e, s });
    }
    await learn();
    await Promise.all([real, ours].map((p) => p.waitFor((o) => o.split("\n").length >= 2, 15_000, "the first leader")));
    for (const c of candidates) await c.e.proclaim("second");
    await Promise.all([real, ours].map((p) => p.waitFor((o) => o.split("\n").length >= 3, 15_000, "the proclamation")));
    for (const c of candidates) await c.e.resign();
    const next: Array<{ e: Election; s: Session }> = [];
    for (const srv of twins()) {
      const s = await Session.create(client(srv));
      const e = new Election(s, "E2");
      await e.campaign("third");
      next.push({ e, s });
    }
    await learn();
    await Promise.all([real, ours].map((p) => p.waitFor((o) => o.split("\n").length >= 4, 15_000, "the next leader")));
    await Promise.all([real, ours].map((p) => p.waitQuiet(500, 5000)));
    const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
    await compare(real, ours, er, eo);
    expect(eo).toEqual({ code: 0, signal: null });
    for (const c of [...candidates, ...next]) c.s.orphan();
    for (const c of next) await c.e.resign();
  });

  it("elect waits behind the leader and gives up on SIGTERM", async () => {
    const leaders: Array<{ e: Election; s: Session }> = [];
    for (const srv of twins()) {
      const s = await Session.create(client(srv));
      const e = new Election(s, "E3");
      await e.campaign("incumbent");
      leaders.push({ e, s });
    }
    await learn();
    const [real, ours] = spawnBoth(["elect", "E3", "challenger"]);
    await afterDelay(2000);
    for (const p of [real, ours]) expect(p.stdout().length).toBe(0);
    const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
    await compare(real, ours, er, eo);
    expect(eo.code).toBe(1);
    for (const l of leaders) {
      await l.e.resign();
      l.s.orphan();
    }
  });

  it("elect reports 'elect: session expired' when its lease is revoked", async () => {
    const [real, ours] = spawnBoth(["elect", "E4", "p"]);
    await Promise.all([real, ours].map((p) => p.waitFor((o) => o.includes("\n"), 15_000, "the leader key")));
    await learn();
    for (const s of twins()) {
      const kv = (await client(s).range({ key: Buffer.from("E4/"), rangeEnd: Buffer.from("E40") })).kvs[0];
      await client(s).lease.revoke(kv!.lease);
    }
    const [er, eo] = await Promise.all([real.exitedWithin(70_000), ours.exitedWithin(70_000)]);
    await compare(real, ours, er, eo);
    expect(eo.code).toBe(1);
  }, 90_000);

  it("the Go etcdctl and etcdctl-ts take turns on one lock", async () => {
    // Both on twin B: etcdctl holds the lock, etcdctl-ts waits for it, and the other way round.
    const goHolder = spawnCtl(REAL_ETCDCTL, ["lock", "X"], { ETCDCTL_ENDPOINTS: b.endpoint });
    await goHolder.waitFor((o) => o.length > 0, 15_000, "the Go holder's key");
    const tsWaiter = spawnCtl(ETCDCTL_TS, ["lock", "X", "--", "echo", "ts got it"], { ETCDCTL_ENDPOINTS: b.endpoint });
    await afterDelay(1500);
    expect(tsWaiter.stdout().length).toBe(0);
    expect(await goHolder.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(await tsWaiter.exitedWithin(15_000)).toEqual({ code: 0, signal: null });
    expect(tsWaiter.stdout().toString()).toBe("ts got it\n");

    const tsHolder = spawnCtl(ETCDCTL_TS, ["lock", "X"], { ETCDCTL_ENDPOINTS: b.endpoint });
    await tsHolder.waitFor((o) => o.length > 0, 15_000, "the etcdctl-ts holder's key");
    const goWaiter = spawnCtl(REAL_ETCDCTL, ["lock", "X", "--", "echo", "go got it"], { ETCDCTL_ENDPOINTS: b.endpoint });
    await afterDelay(1500);
    expect(goWaiter.stdout().length).toBe(0);
    expect(await tsHolder.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    expect(await goWaiter.exitedWithin(15_000)).toEqual({ code: 0, signal: null });
    expect(goWaiter.stdout().toString()).toBe("go got it\n");
  });
});

/**
 * maskProtobufRange decodes a protobuf RangeResponse and shows it with lease IDs masked (the
 * lease is a varint, so the bytes cannot be masked in place).
 */
function maskProtobufRange(b: Buffer, names: LeaseNames): string {
  const r = etcdserverpb.RangeResponse.decode(b);
  return names.mask(
    JSON.stringify(etcdserverpb.RangeResponse.toJSON(r), (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
  );
}
