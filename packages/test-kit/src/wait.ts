import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

/** UntilOptions: how often to poll, and a reason to give up before the time is out. */
export interface UntilOptions {
  /** intervalMs between tries (default 100). */
  intervalMs?: number;
  /** giveUp returns why polling is pointless now (a process exited), or undefined to go on. */
  giveUp?: () => string | undefined;
}

/**
 * until polls fn until it returns a value other than undefined, treating a thrown error as
 * "not yet"; it throws once `ms` have passed, or when opts.giveUp gives a reason.
 */
export async function until<T>(fn: () => Promise<T | undefined>, ms = 20_000, opts: UntilOptions = {}): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((e: unknown) => {
      last = e;
      return undefined;
    });
    if (v !== undefined) return v;
    const reason = opts.giveUp?.();
    if (reason !== undefined) throw new Error(reason);
    if (Date.now() > deadline) throw new Error(`condition not met in time${last !== undefined ? ` (last error: ${String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/** HealthTls is what a client presents to an https member: the CA to verify it with (none: no verification, as for --auto-tls) and a client certificate. */
export interface HealthTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** healthStatus GETs <clientUrl>/health (https when the URL says so) and returns the HTTP status. */
export function healthStatus(clientUrl: string, tls: HealthTls = {}, timeoutMs = 1000): Promise<number> {
  const url = `${clientUrl.replace(/\/$/, "")}/health`;
  return new Promise<number>((resolve, reject) => {
    const done = (res: IncomingMessage): void => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    };
    const req = url.startsWith("https:")
      ? httpsRequest(
          url,
          {
            timeout: timeoutMs,
            agent: false,
            rejectUnauthorized: tls.ca !== undefined,
            ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
            ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
          },
          done,
        )
      : httpRequest(url, { timeout: timeoutMs, agent: false }, done);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** WaitHealthyOptions shape waitHealthy's polling and its error messages. */
export interface WaitHealthyOptions {
  tls?: HealthTls;
  /** timeoutMs defaults to 30 s. */
  timeoutMs?: number;
  /** exited tells whether the server process has ended (then waiting stops at once). */
  exited?: () => boolean;
  /** name is who is waited for, in messages (default: the URL). */
  name?: string;
  /** detail is appended to the error, e.g. the tail of the server's log. */
  detail?: () => string;
}

/** waitHealthy polls <clientUrl>/health every 50 ms until it answers 200. */
export async function waitHealthy(clientUrl: string, opts: WaitHealthyOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const name = opts.name ?? clientUrl;
  const detail = (): string => (opts.detail !== undefined ? `; log tail:\n${opts.detail()}` : "");
  try {
    await until(async () => ((await healthStatus(clientUrl, opts.tls)) === 200 ? true : undefined), timeoutMs, {
      intervalMs: 50,
      giveUp: () => (opts.exited?.() === true ? `${name} exited during start${detail()}` : undefined),
    });
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.startsWith("condition not met in time")) throw new Error(`${name} did not become healthy in ${timeoutMs}ms${detail()}`);
    throw e;
  }
}
