import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openServer } from "../bootstrap.js";
import { loadConfig } from "../config/config.js";
import type { EtcdServer } from "../etcd_server.js";
import { Logger } from "../log.js";

/**
 * member.ts opens single members (an EtcdServer without listeners) on temporary data
 * directories for the in-process suites.
 */

const dirs: string[] = [];

/** tmpDataDir returns a fresh data directory path, removed by removeDataDirs. */
export function tmpDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "etcd-member-test-"));
  dirs.push(d);
  return join(d, "data");
}

/** removeDataDirs removes every directory tmpDataDir made (an afterEach hook). */
export function removeDataDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** openMember opens a single member on dataDir with extra flags, starts it and waits until it serves. */
export async function openMember(dataDir: string, extra: string[] = []): Promise<EtcdServer> {
  const r = loadConfig(["--data-dir", dataDir, "--log-level", "error", ...extra], {});
  if (r.kind !== "run") throw new Error("config");
  const s = await openServer(r.config, new Logger("error"), (err) => {
    throw err;
  });
  s.start();
  await s.waitReady();
  return s;
}
