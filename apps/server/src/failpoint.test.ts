import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import {
  FailpointError,
  FailpointRegistry,
  FP,
  failpoints,
  parseDuration,
  parseHostPort,
  parseTerms,
  serveFailpoints,
  setupFailpoints,
  type FailpointServer,
} from "./failpoint.js";
import { Logger, type Fields, type Level } from "./log.js";

/** Captured is a logger that keeps its lines. */
class Captured extends Logger {
  lines: { level: Level; msg: string; fields: Fields | undefined }[] = [];
  constructor() {
    super("debug");
  }
  protected override write(level: Level, _caller: string, msg: string, fields?: Fields): void {
    this.lines.push({ level, msg, fields });
  }
}

/** registry makes a test registry whose panic records instead of killing the process. */
function registry(random: () => number = () => 0): { r: FailpointRegistry; crashed: string[] } {
  const crashed: string[] = [];
  const r = new FailpointRegistry({ crash: (name) => crashed.push(name), random });
  return { r, crashed };
}

describe("failpoint terms", () => {
  it("parses gofail's terms: actions, values, count and probability mods, chains", () => {
    expect(parseTerms("panic").map((t) => [t.action, t.mods])).toEqual([["panic", []]]);
    expect(parseTerms('panic("boom")')[0]?.message).toBe("boom");
    expect(parseTerms("sleep(100)")[0]?.sleepMs).toBe(100);
    expect(parseTerms('sleep("1.5s")')[0]?.sleepMs).toBe(1500);
    expect(parseTerms("sleep(2s)")[0]?.sleepMs).toBe(2000);
    expect(parseTerms("off")[0]?.action).toBe("off");
    expect(parseTerms("print")[0]?.action).toBe("print");
    expect(parseTerms("3*panic")[0]?.mods).toEqual([{ kind: "count", n: 3 }]);
    expect(parseTerms("12.5%sleep(10)")[0]?.mods).toEqual([{ kind: "prob", n: 0.125 }]);
    expect(parseTerms("50%2*panic")[0]?.mods).toEqual([
      { kind: "prob", n: 0.5 },
      { kind: "count", n: 2 },
    ]);
    expect(parseTerms("2*off -> 1*sleep(5)->panic").map((t) => t.desc)).toEqual(["2*off", "1*sleep(5)", "panic"]);
  });

  it("refuses what it cannot honour, with the reason", () => {
    for (const bad of ["", "explode", "return(1)", "break", "sleep", "sleep(soon)", "panic->", "panic sleep(1)", "1.5*panic", "150%panic", "sleep(1", "off(3)", "panicky"]) {
      expect(() => parseTerms(bad), bad).toThrow(FailpointError);
    }
    expect(() => parseTerms("return(1)")).toThrow(/unsupported action "return"/);
  });

  it("reads sleep durations as gofail does: integers are milliseconds, Go durations with units", () => {
    expect(parseDuration("250")).toBe(250);
    expect(parseDuration('"100ms"')).toBe(100);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("500us")).toBe(0.5);
    expect(parseDuration("1x")).toBeUndefined();
    expect(parseDuration("")).toBeUndefined();
  });

  it("reads the HTTP address as host:port", () => {
    expect(parseHostPort("127.0.0.1:22381")).toEqual({ host: "127.0.0.1", port: 22381 });
    expect(parseHostPort("[::1]:80")).toEqual({ host: "::1", port: 80 });
    expect(parseHostPort("localhost:0")).toEqual({ host: "localhost", port: 0 });
    for (const bad of ["127.0.0.1", ":80", "127.0.0.1:99999", "http://127.0.0.1:80", "::1:80"]) expect(() => parseHostPort(bad), bad).toThrow(FailpointError);
  });
});

describe("failpoint evaluation", () => {
  it("does nothing until armed, and panics (crashes) when armed with panic", async () => {
    const { r, crashed } = registry();
    const fp = r.declare("here", "async");
    expect(fp.armed).toBe(false);
    await fp.hit();
    fp.hitSync();
    expect(crashed).toEqual([]);
    r.enable("here", "panic");
    expect(fp.armed).toBe(true);
    await fp.hit();
    expect(crashed).toEqual(["here"]);
    fp.hitSync();
    expect(crashed).toEqual(["here", "here"]);
    r.disable("here");
    expect(fp.armed).toBe(false);
    await fp.hit();
    expect(crashed).toHaveLength(2);
  });

  it("fires a counted term N times, then the next term of the chain, then nothing", async () => {
    const { r, crashed } = registry();
    const fp = r.declare("here", "async");
    r.enable("here", "2*off->1*panic");
    for (let i = 0; i < 5; i++) await fp.hit();
    // Hits 1-2: off; hit 3: panic; hits 4-5: every term used up.
    expect(crashed).toEqual(["here"]);
    expect(fp.count).toBe(3);
    // Re-arming starts the counts afresh.
    r.enable("here", "2*panic");
    for (let i = 0; i < 5; i++) fp.hitSync();
    expect(crashed).toHaveLength(3);
    expect(fp.count).toBe(2);
  });

  it("fires a P% term with that probability (from the registry's random source)", () => {
    let next = 0;
    const draws = [0.05, 0.5, 0.2, 0.29, 0.31, 0.99];
    const { r, crashed } = registry(() => draws[next++] as number);
    const fp = r.declare("here", "sync");
    r.enable("here", "30%panic");
    for (let i = 0; i < draws.length; i++) fp.hitSync();
    expect(crashed).toHaveLength(3); // 0.05, 0.2, 0.29
    const { r: r0, crashed: c0 } = registry(() => 0);
    r0.declare("never", "sync");
    r0.enable("never", "0%panic");
    r0.get("never")?.hitSync();
    expect(c0).toEqual([]);
  });

  it("sleeps without blocking the event loop at an async failpoint", async () => {
    const { r } = registry();
    const fp = r.declare("here", "async");
    r.enable("here", "sleep(150)");
    const start = Date.now();
    let ticks = 0;
    const t = setInterval(() => ticks++, 10);
    await fp.hit();
    clearInterval(t);
    expect(Date.now() - start).toBeGreaterThanOrEqual(140);
    expect(ticks).toBeGreaterThan(3);
  });

  it("sleeps by blocking the whole event loop at a sync failpoint", async () => {
    const { r } = registry();
    const fp = r.declare("here", "sync");
    r.enable("here", "1*sleep(120)");
    let ticks = 0;
    const t = setInterval(() => ticks++, 5);
    const start = Date.now();
    fp.hitSync();
    const blocked = Date.now() - start;
    const during = ticks;
    clearInterval(t);
    expect(blocked).toBeGreaterThanOrEqual(110);
    expect(during).toBe(0);
    // Used up: the next hit returns at once.
    const again = Date.now();
    fp.hitSync();
    expect(Date.now() - again).toBeLessThan(50);
  });

  it("logs a panic (error) and a print (warn) before acting", () => {
    const { r } = registry();
    const log = new Captured();
    r.logger = log;
    const fp = r.declare("here", "sync");
    r.enable("here", "1*print->panic");
    fp.hitSync();
    fp.hitSync();
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([
      ["warn", "failpoint print"],
      ["error", "failpoint panic: here"],
    ]);
  });

  it("arms failpoints from an ETCD_TS_FAILPOINTS value, all or none", () => {
    const { r } = registry();
    r.declare("a", "async");
    r.declare("b", "sync");
    r.enableFromEnv(" a=panic ; b=2*sleep(10);");
    expect(r.list()).toEqual([
      { name: "a", kind: "async", terms: "panic" },
      { name: "b", kind: "sync", terms: "2*sleep(10)" },
    ]);
    r.disableAll();
    expect(() => r.enableFromEnv("a=panic;nosuch=panic")).toThrow(/no failpoint named "nosuch"/);
    expect(() => r.enableFromEnv("a=panic;b=explode")).toThrow(FailpointError);
    expect(() => r.enableFromEnv("a")).toThrow(/not name=term/);
    // Nothing was armed by the refused values.
    expect(r.list().every((f) => f.terms === "")).toBe(true);
  });

  it("declares the server's failpoints unarmed, with etcd's names", () => {
    expect(failpoints.names()).toEqual(
      [
        "afterCommit",
        "beforeApplyOneConfChange",
        "beforeApplyOneEntryNormal",
        "beforeCommit",
        "goConvertBeforeMark",
        "goConvertMidSwap",
        "raftAfterApply",
        "raftAfterApplySnap",
        "raftAfterSave",
        "raftAfterSaveSnap",
        "raftAfterWALRelease",
        "raftBeforeApply",
        "raftBeforeApplySnap",
        "raftBeforeFollowerSend",
        "raftBeforeLeaderSend",
        "raftBeforeSave",
        "raftBeforeSaveSnap",
        "raftMidApplySnap",
      ].sort(),
    );
    expect(Object.values(FP).some((f) => f.armed)).toBe(false);
  });

  it("leaves everything unarmed and starts nothing when neither variable is set", async () => {
    const log = new Captured();
    const { r } = registry();
    r.declare("a", "async");
    expect(await setupFailpoints({}, log, r)).toBeUndefined();
    expect(await setupFailpoints({ ETCD_TS_FAILPOINTS: "", ETCD_TS_FAILPOINTS_HTTP: " " }, log, r)).toBeUndefined();
    expect(log.lines).toEqual([]);
    expect(r.get("a")?.armed).toBe(false);
  });

  it("warns loudly when either variable is set", async () => {
    const log = new Captured();
    const { r } = registry();
    r.declare("a", "async");
    expect(await setupFailpoints({ ETCD_TS_FAILPOINTS: "a=sleep(1)" }, log, r)).toBeUndefined();
    expect(log.lines[0]).toMatchObject({ level: "warn", msg: "failpoints enabled; this member may crash on purpose" });
    expect(r.status("a")).toBe("sleep(1)");
    await expect(setupFailpoints({ ETCD_TS_FAILPOINTS: "zz=panic" }, log, r)).rejects.toThrow(FailpointError);
  });
});

describe("failpoint HTTP endpoint (gofail's API)", () => {
  let srv: FailpointServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  function call(method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
    const addr = srv?.address as string;
    const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
    return new Promise((resolve, reject) => {
      const req = request({ host, port, method, path, agent: false }, (res) => {
        let b = "";
        res.on("data", (c: Buffer) => (b += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: b }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  it("lists, arms, shows, counts and disarms failpoints", async () => {
    const { r, crashed } = registry();
    const fp = r.declare("raftAfterSave", "async");
    r.declare("beforeCommit", "sync");
    srv = await setupFailpoints({ ETCD_TS_FAILPOINTS_HTTP: "127.0.0.1:0" }, new Captured(), r);
    expect(srv?.address).toMatch(/^127\.0\.0\.1:\d+$/);

    expect(await call("GET", "/")).toEqual({ status: 200, body: "beforeCommit=\nraftAfterSave=\n" });
    expect(await call("PUT", "/raftAfterSave", "1*off->panic")).toEqual({ status: 204, body: "" });
    expect(fp.armed).toBe(true);
    expect(await call("GET", "/raftAfterSave")).toEqual({ status: 200, body: "1*off->panic\n" });
    expect(await call("GET", "/")).toEqual({ status: 200, body: "beforeCommit=\nraftAfterSave=1*off->panic\n" });
    await fp.hit();
    await fp.hit();
    expect(crashed).toEqual(["raftAfterSave"]);
    expect(await call("GET", "/raftAfterSave/count")).toEqual({ status: 200, body: "2\n" });
    expect(await call("DELETE", "/raftAfterSave")).toEqual({ status: 204, body: "" });
    expect(fp.armed).toBe(false);
    expect(await call("GET", "/raftAfterSave")).toEqual({ status: 200, body: "\n" });
  });

  it("answers 404 for an unknown failpoint, 400 for a bad term (leaving the failpoint as it was), 405 for other methods", async () => {
    const { r } = registry();
    const fp = r.declare("raftAfterSave", "async");
    srv = await serveFailpoints(r, "127.0.0.1:0");
    expect((await call("PUT", "/nosuch", "panic")).status).toBe(404);
    expect((await call("GET", "/nosuch")).status).toBe(404);
    expect((await call("DELETE", "/nosuch")).status).toBe(404);
    r.enable("raftAfterSave", "sleep(5)");
    const bad = await call("PUT", "/raftAfterSave", "explode");
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/failed to set failpoint raftAfterSave/);
    expect(fp.terms).toBe("sleep(5)");
    expect((await call("POST", "/raftAfterSave", "panic")).status).toBe(405);
  });

  it("binds the given address only", async () => {
    const { r } = registry();
    srv = await serveFailpoints(r, "127.0.0.1:0");
    expect(srv.address.startsWith("127.0.0.1:")).toBe(true);
    await expect(serveFailpoints(r, srv.address)).rejects.toThrow(/EADDRINUSE/);
  });
});
