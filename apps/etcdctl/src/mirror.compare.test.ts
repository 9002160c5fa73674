import { Client } from "@etcd-ts/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl } from "./testing/ctl.js";
import { spawnCtl, type CtlProc, type Exit } from "./testing/proc.js";
import { serverFromEnv, startTwins, type RunningServer } from "./testing/server.js";

/**
 * Differential suite for `make-mirror`: the Go etcdctl mirrors source twin A into destination
 * twin C, etcdctl-ts mirrors source twin B into destination twin D. The sources get the same
 * writes, so the destinations must end up byte-identical (keys, values and revisions: one put
 * per key copied, one txn per mirrored revision), and the CLIs must print the same.
 */
const k = (s: string): Buffer => Buffer.from(s);

describe("etcdctl-ts make-mirror does what etcdctl 3.4 does", () => {
  let a: RunningServer;
  let b: RunningServer;
  let c: RunningServer;
  let d: RunningServer;
  const clients = new Map<string, Client>();
  beforeAll(async () => {
    [[a, b], [c, d]] = await Promise.all([startTwins(serverFromEnv()), startTwins(serverFromEnv())]);
    for (const s of [a, b, c, d]) clients.set(s.endpoint, new Client({ endpoints: [s.endpoint] }));
    for (const s of [a, b]) {
      const cl = clients.get(s.endpoint) as Client;
      await cl.put({ key: k("m/1"), value: k("one") });
      await cl.put({ key: k("m/2"), value: Buffer.from([0, 0xff]) });
      await cl.put({ key: k("other"), value: k("x") });
      await cl.put({ key: k("p/1"), value: k("p-one") });
      await cl.put({ key: k("m/1"), value: k("uno") });
    }
  }, 60_000);
  afterAll(async () => {
    for (const cl of clients.values()) cl.close();
    await Promise.all([a, b, c, d].map((s) => s?.stop()));
  });
  const client = (s: RunningServer): Client => clients.get(s.endpoint) as Client;

  /** both applies the same writes to the two sources. */
  const both = async (f: (cl: Client) => Promise<unknown>): Promise<void> => {
    for (const s of [a, b]) await f(client(s));
  };

  /** dump is every key of a destination with its revisions, as etcdctl's JSON shows it. */
  const dump = async (s: RunningServer): Promise<string> => {
    const r = await runCtl(REAL_ETCDCTL, ["get", "", "--prefix", "-w", "json"], { ETCDCTL_ENDPOINTS: s.endpoint });
    return r.stdout.toString().replace(/"member_id":\d+,/, "").replace(/"cluster_id":\d+,/, "");
  };

  /** waitDest polls both destinations until pred holds for each. */
  const waitDest = async (pred: (cl: Client) => Promise<boolean>, what: string): Promise<void> => {
    const end = Date.now() + 20_000;
    for (const s of [c, d]) {
      while (!(await pred(client(s)).catch(() => false))) {
        if (Date.now() > end) throw new Error(`destination ${s.endpoint}: ${what} did not happen`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const has = (key: string, value?: string) => async (cl: Client): Promise<boolean> => {
    const r = await cl.range({ key: k(key) });
    return r.count === 1n && (value === undefined || r.kvs[0]?.value.toString() === value);
  };
  const gone = (key: string) => async (cl: Client): Promise<boolean> => (await cl.range({ key: k(key) })).count === 0n;

  const outcome = (p: CtlProc, e: Exit) => ({
    exit: e,
    stdout: p.stdout().toString("latin1"),
    stderr: normalizeStderr(p.stderr().toString("latin1"), [a.endpoint, b.endpoint, c.endpoint, d.endpoint]),
  });

  const mirror = (extra: string[]): [CtlProc, CtlProc] => [
    spawnCtl(REAL_ETCDCTL, ["make-mirror", ...extra, c.endpoint], { ETCDCTL_ENDPOINTS: a.endpoint }),
    spawnCtl(ETCDCTL_TS, ["make-mirror", ...extra, d.endpoint], { ETCDCTL_ENDPOINTS: b.endpoint }),
  ];

  for (const args of [
    ["make-mirror"],
    ["make-mirror", "x", "y"],
    ["make-mirror", "--help"],
    ["make-mirror", "--dest-cert", "/no/such.crt", "{DEST}"],
    ["make-mirror", "--dest-cacert", "/no/such.ca", "{DEST}"],
    ["make-mirror", "--dest-prefix", "x/", "--no-dest-prefix", "{DEST}"],
    ["make-mirror", "{DEST}", "-w", "bogus"],
    ["make-mirror", "--dest-user", "u:p", "{DEST}"],
  ]) {
    it(args.join(" "), async () => {
      const [real, ours] = await Promise.all([
        runCtl(REAL_ETCDCTL, args.map((x) => (x === "{DEST}" ? c.endpoint : x)), { ETCDCTL_ENDPOINTS: a.endpoint }),
        runCtl(ETCDCTL_TS, args.map((x) => (x === "{DEST}" ? d.endpoint : x)), { ETCDCTL_ENDPOINTS: b.endpoint }),
      ]);
      const norm = (r: typeof real) => ({
        code: r.code,
        stdout: r.stdout.toString("latin1"),
        stderr: normalizeStderr(r.stderr.toString("latin1"), [a.endpoint, b.endpoint, c.endpoint, d.endpoint]).split(d.endpoint).join("<DEST>").split(c.endpoint).join("<DEST>"),
      });
      expect(norm(ours)).toEqual(norm(real));
    });
  }

  it("copies every key, replays later changes revision by revision, and prints the count every 30 s", async () => {
    const [real, ours] = mirror([]);
    try {
      await waitDest(has("p/1"), "the initial copy");
      await both((cl) => cl.put({ key: k("m/3"), value: k("three") }));
      await both((cl) =>
        cl.txn({
          success: [
            { requestPut: { key: k("m/4"), value: k("four") } },
            { requestDeleteRange: { key: k("m/2") } },
            { requestPut: { key: k("m/5"), value: k("five") } },
          ],
        }),
      );
      await both((cl) => cl.deleteRange({ key: k("other") }));
      await both((cl) => cl.put({ key: k("m/1"), value: k("last") }));
      await waitDest(has("m/1", "last"), "the last change");
      await waitDest(gone("other"), "the delete");
      expect(await dump(d)).toBe(await dump(c));
      // 4 keys copied, then 1 + 3 + 1 + 1 events: "10" after 30 s.
      await Promise.all([real, ours].map((p) => p.waitFor((o) => o.includes("\n"), 45_000, "the 30 s count")));
    } finally {
      const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
      expect(outcome(ours, eo)).toEqual(outcome(real, er));
    }
    expect(ours.stdout().toString()).toBe("10\n");
  }, 90_000);

  it("mirrors a prefix to another prefix", async () => {
    const [real, ours] = mirror(["--prefix", "p/", "--dest-prefix", "q/"]);
    try {
      await waitDest(has("q/1", "p-one"), "the initial copy");
      await both((cl) => cl.put({ key: k("p/2"), value: k("p-two") }));
      await both((cl) => cl.put({ key: k("xp/2"), value: k("not mirrored") }));
      await both((cl) => cl.deleteRange({ key: k("p/1") }));
      await waitDest(gone("q/1"), "the delete");
      await waitDest(has("q/2", "p-two"), "the put");
      expect(await dump(d)).toBe(await dump(c));
    } finally {
      const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
      expect(outcome(ours, eo)).toEqual(outcome(real, er));
    }
  }, 60_000);

  it("mirrors a prefix to the root with --no-dest-prefix", async () => {
    const [real, ours] = mirror(["--prefix", "p/", "--no-dest-prefix"]);
    try {
      await waitDest(has("2", "p-two"), "the initial copy");
      await both((cl) => cl.put({ key: k("p/3/p/"), value: k("nested") }));
      await waitDest(has("3/p/", "nested"), "the put");
      expect(await dump(d)).toBe(await dump(c));
    } finally {
      const [er, eo] = await Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
      expect(outcome(ours, eo)).toEqual(outcome(real, er));
    }
  }, 60_000);
});
