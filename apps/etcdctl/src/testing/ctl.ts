import { spawn } from "node:child_process";
import { ETCDCTL_TS_BIN, REAL_ETCDCTL as REAL_ETCDCTL_BIN } from "@etcd-ts/test-kit";

/** CtlResult is what one CLI run produced. */
export interface CtlResult {
  stdout: Buffer;
  stderr: Buffer;
  code: number | null;
}

/** REAL_ETCDCTL runs the Go etcdctl; ETCDCTL_TS runs the built etcdctl-ts bin through node. */
export const REAL_ETCDCTL = [REAL_ETCDCTL_BIN];
export const ETCDCTL_TS = [process.execPath, ETCDCTL_TS_BIN];

/** runCtl runs cli with args, a clean environment plus env, and stdin (closed when absent). */
export function runCtl(
  cli: string[],
  args: string[],
  env: Record<string, string>,
  stdin?: string | Buffer,
): Promise<CtlResult> {
  const [bin, ...pre] = cli;
  return new Promise((resolve, reject) => {
    const p = spawn(bin as string, [...pre, ...args], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: process.env["HOME"] ?? "/tmp", TZ: "UTC", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => err.push(d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), code }));
    p.stdin.on("error", () => {});
    p.stdin.end(stdin ?? "");
  });
}

/**
 * normalizeStderr masks what legitimately differs between two runs: log timestamps, the Go
 * client's random target id, the endpoint address, and measured durations.
 */
export function normalizeStderr(s: string, endpoints: string[]): string {
  let t = s
    .replace(/"ts":"[^"]*"/g, '"ts":"TS"')
    .replace(/client-[0-9a-f-]{36}/g, "client-UUID")
    .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} /gm, "TS ")
    // Output is decoded as latin1, so Go's "µs" arrives as "\u00c2\u00b5s".
    .replace(/took = [0-9.]+(ns|\u00c2\u00b5s|µs|ms|s|m)+/g, "took = T");
  for (const ep of endpoints) t = t.split(ep).join("<EP>");
  return t;
}

/** dropWarnings removes the Go client's retry warnings (their error text is grpc-go internal). */
export function dropWarnings(s: string): string {
  return s
    .split("\n")
    .filter((l) => !l.startsWith('{"level":"warn"'))
    .join("\n");
}
