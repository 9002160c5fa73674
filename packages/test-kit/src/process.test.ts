import { createServer } from "node:http";
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { etcdFlags } from "./flags.js";
import { freePort } from "./ports.js";
import { isRunning, run, spawnServer, stopProcess } from "./process.js";
import { healthStatus, until, waitHealthy } from "./wait.js";

describe("freePort", () => {
  it("gives a port a server can listen on", async () => {
    const port = await freePort();
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(port, "127.0.0.1", r));
    srv.close();
  });
});

describe("etcdFlags", () => {
  it("renders etcd's flags, the member alone in its cluster by default", () => {
    expect(etcdFlags({ name: "a", dataDir: "/d", clientUrl: "http://c", listenPeerUrl: "http://p", advertisePeerUrl: "http://q", extraFlags: ["--x"] })).toEqual([
      "--name", "a", "--data-dir", "/d", "--listen-client-urls", "http://c", "--advertise-client-urls", "http://c",
      "--listen-peer-urls", "http://p", "--initial-advertise-peer-urls", "http://q", "--initial-cluster", "a=http://q", "--x",
    ]);
  });
});

describe("processes", () => {
  it("spawnServer logs to a file; stopProcess ends it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kit-"));
    try {
      const logFile = join(dir, "log");
      const s = spawnServer([process.execPath, "-e"], ["console.log('up'); setInterval(() => {}, 1000)"], { logFile });
      await until(async () => (readFileSync(logFile, "utf8").includes("up") ? true : undefined), 10_000);
      expect(isRunning(s.proc)).toBe(true);
      await stopProcess(s.proc);
      expect(isRunning(s.proc)).toBe(false);
      expect(await s.exited).toBe(null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("run gives output and exit code, with input", async () => {
    const r = await run(process.execPath, ["-e", "process.stdin.pipe(process.stdout); process.stdin.on('end', () => process.exit(3))"], { input: "hi" });
    expect(r).toEqual({ stdout: "hi", stderr: "", code: 3 });
  });

  it("run and spawnServer take a working directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kit-cwd-"));
    try {
      expect((await run(process.execPath, ["-e", "process.stdout.write(process.cwd())"], { cwd: dir })).stdout).toBe(realpathSync(dir));
      const logFile = join(dir, "log");
      const s = spawnServer([process.execPath, "-e"], ["console.log(process.cwd())"], { cwd: dir, logFile });
      expect(await s.exited).toBe(0);
      await until(async () => (readFileSync(logFile, "utf8").trim() === realpathSync(dir) ? true : undefined), 5_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("waiting", () => {
  it("until retries through errors and undefined, then gives up in time", async () => {
    let n = 0;
    expect(await until(async () => (++n < 3 ? undefined : n), 5_000, { intervalMs: 1 })).toBe(3);
    await expect(until(async () => { throw new Error("nope"); }, 20, { intervalMs: 1 })).rejects.toThrow("condition not met in time (last error: Error: nope)");
    await expect(until(async () => undefined, 5_000, { giveUp: () => "gone" })).rejects.toThrow("gone");
  });

  it("waitHealthy waits for /health to answer 200", async () => {
    let calls = 0;
    const srv = createServer((req, res) => {
      calls++;
      res.writeHead(req.url === "/health" && calls >= 3 ? 200 : 503).end();
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      expect(await healthStatus(url)).toBe(503);
      await waitHealthy(url, { timeoutMs: 5_000 });
      expect(calls).toBe(3);
      await expect(waitHealthy("http://127.0.0.1:1", { timeoutMs: 5_000, exited: () => true, name: "m1", detail: () => "the log" })).rejects.toThrow(
        "m1 exited during start; log tail:\nthe log",
      );
    } finally {
      srv.close();
    }
  });
});
