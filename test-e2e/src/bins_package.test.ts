import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort, REAL_ETCDCTL, stopProcess, until } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);

/**
 * The installable bins: @etcd-ts/server and @etcd-ts/etcdctl packed with `npm pack` and
 * installed with `npm install -g` (into a prefix of their own) from those two tarballs alone.
 * The workspace packages are not on the registry, so this holds only because each app ships
 * as a bundle with them compiled in (scripts/bundle_app.mjs) and declares what stays external.
 * The installed `etcd-ts` then serves the installed `etcdctl-ts` and the real etcdctl.
 */
describe("etcd-ts and etcdctl-ts installed with npm install -g from their packed tarballs", () => {
  let dir: string;
  let prefix: string;
  let server: ChildProcess | undefined;
  let endpoint: string;
  const bin = (name: string): string => join(prefix, "bin", name);
  /** ctl runs the installed etcdctl-ts from the temp dir, with nothing of the workspace around. */
  const ctl = async (...args: string[]): Promise<string> =>
    (await run(bin("etcdctl-ts"), ["--endpoints", endpoint, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "" } })).stdout;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bins-pkg-"));
    prefix = join(dir, "global");
    execFileSync("npm", ["pack", "-w", "@etcd-ts/server", "-w", "@etcd-ts/etcdctl", "--pack-destination", dir], { cwd: REPO, stdio: "pipe" });
    const tarballs = readdirSync(dir).filter((f) => f.endsWith(".tgz"));
    expect(tarballs.sort()).toEqual(["etcd-ts-etcdctl-0.1.0.tgz", "etcd-ts-server-0.1.0.tgz"]);
    execFileSync("npm", ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "--prefer-offline", ...tarballs.map((t) => join(dir, t))], {
      cwd: dir,
      stdio: "pipe",
    });
  }, 240_000);
  afterAll(async () => {
    if (server !== undefined) await stopProcess(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it("installs both commands with no workspace package beside them", () => {
    expect(existsSync(bin("etcd-ts"))).toBe(true);
    expect(existsSync(bin("etcdctl-ts"))).toBe(true);
    // Only the two apps are @etcd-ts packages in the installed trees: the rest is bundled in.
    const scoped = (root: string): string[] => (existsSync(join(root, "@etcd-ts")) ? readdirSync(join(root, "@etcd-ts")) : []);
    const globalModules = join(prefix, "lib", "node_modules");
    expect(scoped(globalModules).sort()).toEqual(["etcdctl", "server"]);
    for (const app of ["etcdctl", "server"]) expect(scoped(join(globalModules, "@etcd-ts", app, "node_modules"))).toEqual([]);
  });

  it("starts etcd-ts, which serves the installed etcdctl-ts and the real etcdctl", async () => {
    const clientPort = await freePort();
    const peerPort = await freePort();
    endpoint = `127.0.0.1:${clientPort}`;
    const version = execFileSync(bin("etcd-ts"), ["--version"], { cwd: dir, encoding: "utf8" });
    expect(version).toMatch(/^etcd-ts Version: 0\.1\.0\netcd API Version: 3\.4\.23$/m);
    server = spawn(
      bin("etcd-ts"),
      [
        "--data-dir", join(dir, "data"),
        "--listen-client-urls", `http://${endpoint}`,
        "--advertise-client-urls", `http://${endpoint}`,
        "--listen-peer-urls", `http://127.0.0.1:${peerPort}`,
        "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPort}`,
        "--initial-cluster", `default=http://127.0.0.1:${peerPort}`,
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "" } },
    );
    let log = "";
    server.stderr?.on("data", (d: Buffer) => (log += d.toString()));
    // etcdctl prints health to stderr; it exits 0 once the member is healthy (until retries throws).
    await until(async () => ctl("endpoint", "health"), 20_000, { intervalMs: 200 });
    expect(await ctl("put", "greeting", "hello")).toBe("OK\n");
    expect(await ctl("get", "greeting")).toBe("greeting\nhello\n");
    const real = await run(REAL_ETCDCTL, ["--endpoints", endpoint, "get", "greeting", "--print-value-only"], { env: { ...process.env, ETCDCTL_API: "3" } });
    expect(real.stdout).toBe("hello\n");
    // The snapshot path runs the bbolt writer and the WAL's CRC (the native crc32) in both.
    const snap = join(dir, "backup.db");
    expect(await ctl("snapshot", "save", snap)).toBe(`Snapshot saved at ${snap}\n`);
    const status = await ctl("snapshot", "status", snap, "-w", "json");
    // totalKey counts the keys of every bbolt bucket (members, meta, ...), as etcdctl does.
    expect(JSON.parse(status)).toMatchObject({ revision: 2 });
    // Log callers name the sources through the bundle's source map, as in the workspace.
    expect(log).toMatch(/"caller":"server\/embed\.ts:\d+","msg":"ready to serve client requests"/);
  }, 60_000);
});
