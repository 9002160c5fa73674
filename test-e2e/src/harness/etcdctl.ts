import { REAL_ETCDCTL, run, type RunResult } from "@etcd-ts/test-kit";
import { expect } from "vitest";

/** ctl runs the real etcdctl 3.4 against one endpoint (20 s command timeout). */
export async function ctl(endpoint: string, ...args: string[]): Promise<RunResult> {
  return run(REAL_ETCDCTL, ["--endpoints", endpoint, "--command-timeout", "20s", ...args]);
}

/** ok runs ctl, expects exit code 0 (the output in the failure message) and returns stdout. */
export async function ok(endpoint: string, ...args: string[]): Promise<string> {
  const r = await ctl(endpoint, ...args);
  expect(r.code, `etcdctl ${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}
