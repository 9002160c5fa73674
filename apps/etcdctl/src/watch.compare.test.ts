import { Client } from "@etcd-ts/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL } from "./testing/ctl.js";
import { afterDelay, spawnCtl, type CtlProc, type Exit } from "./testing/proc.js";
import { serverFromEnv, startTwins, type RunningServer } from "./testing/server.js";

/**
 * Differential suite for `watch`: the Go etcdctl watches twin A, etcdctl-ts twin B; both
 * twins hold the same history, so watches from a past revision print the same events. A
 * watch that does not end by itself is stopped with SIGTERM once its output has settled;
 * stdout, stderr and how the process ended must be the same.
 */
interface Case {
  args: string[];
  /** env replaces ETCDCTL_ENDPOINTS={EP}; "{EP}" becomes the endpoint. */
  env?: Record<string, string>;
  /** stderr "debug": keep only the ETCDCTL_* lines (--debug also logs gRPC internals). */
  stderr?: "debug";
}

const sh = (script: string): string[] => ["--", "sh", "-c", script];
const SHOW_ENV = 'echo "[$ETCD_WATCH_REVISION] [$ETCD_WATCH_EVENT_TYPE] [$ETCD_WATCH_KEY] [$ETCD_WATCH_VALUE]"';

const CASES: Case[] = [
  // arguments
  { args: ["watch"] },
  { args: ["watch", "--"] },
  { args: ["watch", "foo", "bar", "--"] },
  { args: ["watch", "a", "b", "--prefix"] },
  { args: ["watch", "foo", "--rev", "x"] },
  { args: ["watch", "--help"] },
  { args: ["watch", "foo", "-w", "bogus"] },
  { args: ["watch", "foo"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_WATCH_RANGE_END: "z" } },
  { args: ["watch", "foo", "--rev", "1"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_WATCH_KEY: "foo" } },
  { args: ["watch", "--rev", "1", "--", "echo", "x"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_WATCH_KEY: "foo" } },
  { args: ["watch", "foo", "--", "echo", "x"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_WATCH_KEY: "foo" } },
  // history from a revision, in every format
  { args: ["watch", "foo", "--rev", "1"] },
  { args: ["watch", "foo", "--rev", "1", "-w", "json"] },
  { args: ["watch", "foo", "--rev", "1", "-w", "fields"] },
  { args: ["watch", "foo", "--rev", "1", "-w", "protobuf"] },
  { args: ["watch", "foo", "--rev", "1", "-w", "table"] },
  { args: ["watch", "foo", "--rev", "1", "--hex"] },
  { args: ["watch", "--prefix", "key/", "--rev", "1", "--prev-kv"] },
  { args: ["watch", "--prefix", "key/", "--rev", "1", "--prev-kv", "-w", "json"] },
  { args: ["watch", "--prefix", "key/", "--rev", "1", "--prev-kv", "-w", "fields"] },
  { args: ["watch", "--prefix", "key/", "--rev", "1", "--prev-kv", "-w", "protobuf"] },
  { args: ["watch", "key/a", "key/c", "--rev", "1"] },
  { args: ["watch", "--prefix", "", "--rev", "1", "-w", "json"] },
  { args: ["watch", "bin", "--rev", "1", "-w", "fields"] },
  { args: ["watch", "bin", "--rev", "1", "--hex", "--prev-kv"] },
  { args: ["watch", "lk", "--rev", "1", "-w", "json"] },
  { args: ["watch", "--rev", "1"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_WATCH_KEY: "key/", ETCDCTL_WATCH_RANGE_END: "key/c" } },
  { args: ["watch", "foo", "--rev", "3"] },
  { args: ["watch", "foo", "--rev", "99999"] },
  { args: ["watch", "nothing"] },
  { args: ["watch", "foo", "--rev", "1", "--debug"], stderr: "debug" },
  { args: ["watch", "foo", "--rev", "1"], env: { ETCDCTL_ENDPOINTS: "{EP}", ETCDCTL_FOO: "1", ETCDCTL_WATCH_RANGE_END: "" } },
  // the exec form
  { args: ["watch", "foo", "--rev", "1", ...sh(SHOW_ENV)] },
  { args: ["watch", "--prefix", "key/", "--rev", "1", "-w", "json", ...sh(SHOW_ENV)] },
  { args: ["watch", "bin", "--rev", "1", ...sh(SHOW_ENV)] },
  { args: ["watch", "sp ace", "--rev", "1", ...sh(SHOW_ENV + "; echo err >&2")] },
  { args: ["watch", "foo", "--rev", "1", "--", "false"] },
  { args: ["watch", "foo", "--rev", "1", ...sh("exit 3")] },
  { args: ["watch", "foo", "--rev", "1", "--", "no-such-command", "arg"] },
  { args: ["watch", "foo", "--rev", "1", "--", "/no/such/file"] },
  { args: ["watch", "--rev", "1", "foo", "--", "echo", "watch", "--rev"] },
];

describe("etcdctl-ts watch prints what etcdctl 3.4 prints", () => {
  let a: RunningServer;
  let b: RunningServer;
  beforeAll(async () => {
    [a, b] = await startTwins(serverFromEnv());
    for (const s of [a, b]) {
      const c = new Client({ endpoints: [s.endpoint] });
      try {
        const k = Buffer.from;
        await c.put({ key: k("foo"), value: k("bar") });
        await c.put({ key: k("foo"), value: k("baz") });
        await c.put({ key: k("key/a"), value: k("1") });
        await c.put({ key: k("key/b"), value: k("2") });
        await c.deleteRange({ key: k("foo") });
        await c.txn({
          success: [
            { requestPut: { key: k("key/c"), value: k("3") } },
            { requestPut: { key: k("key/d"), value: k("4") } },
            { requestDeleteRange: { key: k("key/a") } },
          ],
        });
        await c.put({ key: k("bin"), value: Buffer.from([0, 0xff, 0x22, 0x0a, 0x5c]) });
        await c.put({ key: k("bin"), value: Buffer.from("é\t") });
        await c.lease.grant(600, { id: 0x777n });
        await c.put({ key: k("lk"), value: k("v"), lease: 0x777n });
        await c.put({ key: k("sp ace"), value: k("v v") });
        await c.put({ key: k("foo"), value: k("again") });
      } finally {
        c.close();
      }
    }
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  const env = (c: Case, ep: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.env ?? { ETCDCTL_ENDPOINTS: "{EP}" })) out[k] = v.split("{EP}").join(ep);
    return out;
  };
  const result = (p: CtlProc, exit: Exit, c: Case) => {
    let stderr = normalizeStderr(p.stderr().toString("latin1"), [a.endpoint, b.endpoint]);
    if (c.stderr === "debug") stderr = stderr.split("\n").filter((l) => l.startsWith("ETCDCTL_")).join("\n");
    return { exit, stdout: p.stdout().toString("latin1"), stderr };
  };

  /** settle lets a watch print what it has, then stops it (if it did not end by itself). */
  const settle = async (p: CtlProc): Promise<Exit> => {
    await p.waitQuiet(1500, 15_000);
    return p.stop("SIGTERM");
  };

  /**
   * settleBoth stops both watches once they have printed the same, something, and neither
   * printed more for 400 ms; otherwise (different or no output) as settle does, each after
   * 1.5 s without output. Most cases agree within a few hundred ms, and 50 cases of 1.5 s
   * each were most of this suite's time.
   */
  const settleBoth = async (real: CtlProc, ours: CtlProc): Promise<[Exit, Exit]> => {
    let done = false;
    const printed = (p: CtlProc): string => `${p.stdout().toString("latin1")}\0${normalizeStderr(p.stderr().toString("latin1"), [a.endpoint, b.endpoint])}`;
    const agreed = (async () => {
      let last = "";
      let since = Date.now();
      while (!done) {
        const r = printed(real);
        const o = printed(ours);
        if (r !== o || r === "\0") last = "";
        else if (r !== last) {
          last = r;
          since = Date.now();
        } else if (Date.now() - since >= 400) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await Promise.race([agreed, Promise.all([real.waitQuiet(1500, 15_000), ours.waitQuiet(1500, 15_000)])]);
    done = true;
    return Promise.all([real.stop("SIGTERM"), ours.stop("SIGTERM")]);
  };

  for (const c of CASES) {
    const title = `${c.args.join(" ")}${c.env !== undefined ? ` env=${JSON.stringify(c.env)}` : ""}`;
    it(title, async () => {
      const real = spawnCtl(REAL_ETCDCTL, c.args, env(c, a.endpoint));
      const ours = spawnCtl(ETCDCTL_TS, c.args, env(c, b.endpoint));
      const [er, eo] = await settleBoth(real, ours);
      expect(result(ours, eo, c)).toEqual(result(real, er, c));
    });
  }

  it("prints events that happen while it watches", async () => {
    const rev = async (s: RunningServer): Promise<bigint> => {
      const c = new Client({ endpoints: [s.endpoint] });
      return c.range({ key: Buffer.from("x") }).then((r) => r.header!.revision).finally(() => c.close());
    };
    const [ra, rb] = await Promise.all([rev(a), rev(b)]);
    expect(rb).toBe(ra);
    // Starting at the next revision, the watch sees the writes below whenever it gets created.
    const args = ["watch", "--prefix", "live/", "--rev", String(ra + 1n), "--prev-kv", "-w", "json"];
    const real = spawnCtl(REAL_ETCDCTL, args, { ETCDCTL_ENDPOINTS: a.endpoint });
    const ours = spawnCtl(ETCDCTL_TS, args, { ETCDCTL_ENDPOINTS: b.endpoint });
    const clients = [a, b].map((s) => new Client({ endpoints: [s.endpoint] }));
    try {
      // Each write waits until both watches have printed the one before: once a watch is
      // live, every revision comes in a response of its own on both sides.
      const writes: Array<(c: Client) => Promise<unknown>> = [
        (c) => c.put({ key: Buffer.from("live/0"), value: Buffer.from("marker") }),
        (c) => c.put({ key: Buffer.from("live/1"), value: Buffer.from("one") }),
        (c) => c.put({ key: Buffer.from("live/1"), value: Buffer.from("uno") }),
        (c) => c.deleteRange({ key: Buffer.from("live/"), rangeEnd: Buffer.from("live0") }),
      ];
      for (const [i, w] of writes.entries()) {
        for (const c of clients) await w(c);
        await Promise.all([real, ours].map((p) => p.waitFor((o) => o.split("\n").length > i + 1, 15_000, `response ${i + 1}`)));
      }
    } finally {
      for (const c of clients) c.close();
      const [er, eo] = await Promise.all([settle(real), settle(ours)]);
      expect(result(ours, eo, { args })).toEqual(result(real, er, { args }));
    }
  });

  it("watch -i runs watches and progress requests read from stdin", async () => {
    const args = ["watch", "-i", "ignored"];
    const real = spawnCtl(REAL_ETCDCTL, args, { ETCDCTL_ENDPOINTS: a.endpoint });
    const ours = spawnCtl(ETCDCTL_TS, args, { ETCDCTL_ENDPOINTS: b.endpoint });
    const both = [real, ours];
    try {
      const step = async (line: string, wait: (out: string) => boolean): Promise<void> => {
        for (const p of both) p.write(line + "\n");
        await Promise.all(both.map((p) => p.waitFor(wait, 15_000, `output after ${JSON.stringify(line)}`)));
        await Promise.all(both.map((p) => p.waitQuiet(500, 5000)));
      };
      await step("watch foo --rev 1", (o) => o.includes("again"));
      await step("progress", (o) => o.includes("progress notify: "));
      // Interactive lines are split by etcdctl's argify, quotes and all.
      await step("watch --prefix key/ --rev 5 --prev-kv -- sh -c 'echo $ETCD_WATCH_KEY'", (o) => o.includes("key/d\n4\n"));
      await step('watch --rev 5 key/d -- sh -c "echo \\"$ETCD_WATCH_VALUE\\""', (o) => o.split("key/d\n4\n").length >= 3);
      for (const p of both) p.write("bogus\n\nwatch\nwatch a b --prefix\n  \nprogress extra\n");
      await afterDelay(1000);
      // 1 watch answered the first request, 3 watches "progress extra" and this one.
      await step("progress", (o) => o.split("progress notify: ").length - 1 >= 7);
    } finally {
      for (const p of both) p.endStdin();
      const [er, eo] = await Promise.all([real.exitedWithin(15_000), ours.exitedWithin(15_000)]);
      // Two watches answer each progress request, in no fixed order: compare the lines sorted.
      const sorted = (p: CtlProc, e: Exit) => {
        const r = result(p, e, { args });
        return { ...r, stdout: r.stdout.split("\n").sort().join("\n") };
      };
      expect(sorted(ours, eo)).toEqual(sorted(real, er));
      expect(eo).toEqual({ code: 3, signal: null });
    }
  });

  for (const line of ["watch foo --rev 1 -w json", "watch foo --", "watch -h", "watch foo --rev=x", "watch foo", "x"]) {
    it(`watch -i reading ${JSON.stringify(line)} and then the end of input`, async () => {
      const args = ["watch", "--interactive"];
      const real = spawnCtl(REAL_ETCDCTL, args, { ETCDCTL_ENDPOINTS: a.endpoint });
      const ours = spawnCtl(ETCDCTL_TS, args, { ETCDCTL_ENDPOINTS: b.endpoint });
      for (const p of [real, ours]) p.write(line + "\n");
      await Promise.all([real, ours].map((p) => p.waitQuiet(1500, 10_000)));
      for (const p of [real, ours]) p.endStdin();
      const [er, eo] = await Promise.all([real.exitedWithin(15_000), ours.exitedWithin(15_000)]);
      expect(result(ours, eo, { args })).toEqual(result(real, er, { args }));
    });
  }

  it("reports a compacted start revision and exits 5", async () => {
    for (const s of [a, b]) {
      const c = new Client({ endpoints: [s.endpoint] });
      await c.compact({ revision: 6n, physical: true }).finally(() => c.close());
    }
    for (const format of ["simple", "json", "fields", "protobuf"]) {
      const args = ["watch", "foo", "--rev", "2", "-w", format];
      const real = spawnCtl(REAL_ETCDCTL, args, { ETCDCTL_ENDPOINTS: a.endpoint });
      const ours = spawnCtl(ETCDCTL_TS, args, { ETCDCTL_ENDPOINTS: b.endpoint });
      const [er, eo] = await Promise.all([settle(real), settle(ours)]);
      expect(result(ours, eo, { args })).toEqual(result(real, er, { args }));
      expect(eo).toEqual({ code: 5, signal: null });
    }
  });
});
