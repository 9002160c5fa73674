import type { IncomingMessage, ServerResponse } from "node:http";
import { etcdserverpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";

/**
 * probes.ts serves /livez and /readyz as etcd 3.5.x/3.6 does (etcdhttp/health.go), on the
 * client port and the metrics listeners, next to 3.4's /health:
 *
 *  - /livez runs serializable_read (a serializable one-key Range);
 *  - /readyz runs data_corruption (no CORRUPT alarm), serializable_read, linearizable_read
 *    and non_learner;
 *  - /livez/NAME and /readyz/NAME run that one check;
 *  - on the root path, ?exclude=NAME (repeatable) skips a check; names that are not checks
 *    are ignored, as etcd does for version compatibility.
 *
 * GET only (else 405 "Method Not Allowed", Allow: GET). Success is 200 "ok\n"; with
 * ?verbose (any value) the body first lists each check as "[+]NAME ok\n". Failure is 503
 * with every check's line, failed ones as "[-]NAME failed: REASON\n", followed by the
 * newline Go's http.Error adds. etcd runs the root path's checks in Go map order (random);
 * here they run, and are listed, in the order above.
 */

/** ProbeServer is what the checks read from the member. */
export type ProbeServer = Pick<EtcdServer, "alarmList" | "range" | "isLearner" | "asRoot">;

/** ProbeCheck resolves when the check passes and rejects with the reason when it fails. */
type ProbeCheck = (s: ProbeServer) => Promise<void>;

/** PROBE_READ_TIMEOUT_MS bounds a check's read (etcd's request timeout: 5 s + 2 election timeouts of 1 s). */
export const PROBE_READ_TIMEOUT_MS = 7000;

async function readCheck(s: ProbeServer, serializable: boolean): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      s.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from([0]), keysOnly: true, limit: 1n, serializable }), s.asRoot()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("etcdserver: request timed out")), PROBE_READ_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const CHECKS: Record<string, ProbeCheck> = {
  data_corruption: async (s) => {
    if (s.alarmList().some((a) => a.alarm === etcdserverpb.AlarmType.CORRUPT)) throw new Error("alarm activated: CORRUPT");
  },
  serializable_read: (s) => readCheck(s, true),
  linearizable_read: (s) => readCheck(s, false),
  non_learner: async (s) => {
    if (s.isLearner) throw new Error("not supported for learner");
  },
};

/** PROBES lists each probe's checks, in the order they run and are listed. */
export const PROBES: Readonly<Record<string, readonly string[]>> = {
  livez: ["serializable_read"],
  readyz: ["data_corruption", "serializable_read", "linearizable_read", "non_learner"],
};

/**
 * probeRoute returns the probe and the checks a path asks for ("/readyz" -> all of
 * readyz's, "/readyz/non_learner" -> that one), or undefined when the path is not a probe
 * (then it is a 404, as in etcd's mux).
 */
export function probeRoute(path: string): { probe: string; checks: readonly string[]; root: boolean } | undefined {
  const m = /^\/(livez|readyz)(?:\/([a-z_]+))?$/.exec(path);
  if (m === null) return undefined;
  const probe = m[1]!;
  const all = PROBES[probe]!;
  if (m[2] === undefined) return { probe, checks: all, root: true };
  return all.includes(m[2]) ? { probe, checks: [m[2]], root: false } : undefined;
}

/** runChecks runs the checks in order and returns whether all passed and etcd's per-check lines. */
export async function runChecks(s: ProbeServer, checks: readonly string[]): Promise<{ ok: boolean; reason: string }> {
  let ok = true;
  let reason = "";
  for (const name of checks) {
    try {
      await CHECKS[name]!(s);
      reason += `[+]${name} ok\n`;
    } catch (err) {
      ok = false;
      reason += `[-]${name} failed: ${err instanceof Error ? err.message : String(err)}\n`;
    }
  }
  return { ok, reason };
}

const PLAIN_NOSNIFF = { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" };

/**
 * serveProbe answers a /livez or /readyz path (see the file comment); it returns false,
 * answering nothing, when the path is not one.
 */
export function serveProbe(s: ProbeServer, path: string, req: IncomingMessage, res: ServerResponse): boolean {
  const route = probeRoute(path);
  if (route === undefined) return false;
  if (req.method !== "GET") {
    res.writeHead(405, { Allow: "GET", ...PLAIN_NOSNIFF }).end("Method Not Allowed\n");
    return true;
  }
  const query = new URL(req.url ?? "/", "http://h").searchParams;
  let checks = route.checks;
  if (route.root) {
    const excluded = new Set(query.getAll("exclude"));
    checks = checks.filter((c) => !excluded.has(c));
  }
  void runChecks(s, checks).then(({ ok, reason }) => {
    if (!ok) res.writeHead(503, PLAIN_NOSNIFF).end(`${reason}\n`);
    else res.writeHead(200, PLAIN_NOSNIFF).end(query.has("verbose") ? `${reason}ok\n` : "ok\n");
  });
  return true;
}
