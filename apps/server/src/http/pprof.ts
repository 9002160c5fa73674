import type { IncomingMessage, ServerResponse } from "node:http";
import * as pprof from "@datadog/pprof";

/** PPROF_PREFIX is where etcd serves its profiles (debugutil.HTTPPrefixPProf). */
export const PPROF_PREFIX = "/debug/pprof";

/** HEAP_SAMPLE_BYTES is the heap profiler's mean sampling interval (Go's default MemProfileRate is 512 KiB). */
const HEAP_SAMPLE_BYTES = 512 * 1024;
/** HEAP_STACK_DEPTH is how many frames each heap sample keeps. */
const HEAP_STACK_DEPTH = 64;
/** DEFAULT_SECONDS is how long /profile samples when ?seconds is absent (Go's default). */
const DEFAULT_SECONDS = 30;

/** cpuBusy: a CPU profile is being taken (the profiler is one per process, as in Go). */
let cpuBusy = false;
/** heapSampling: the process's heap sampler is started. */
let heapSampling = false;

/** PROFILES are the profiles Node.js can give, with the description Go's index shows. */
const PROFILES: Record<string, string> = {
  heap: "A sampling of memory allocations of live objects. You can specify the gc GET parameter to run GC before taking the heap sample.",
  profile:
    "CPU profile (Node.js: wall-clock samples of the JavaScript thread). You can specify the duration in the seconds GET parameter. After you get the profile file, use the go tool pprof command to investigate the profile.",
};

/**
 * Pprof serves --enable-pprof's /debug/pprof/ endpoints, as etcd serves Go's net/http/pprof:
 * /profile (a CPU profile of ?seconds, default 30), /heap (the sampled live heap), /cmdline
 * and /symbol, in pprof's gzipped protobuf format (written by @datadog/pprof) so that
 * `go tool pprof http://host:2379/debug/pprof/profile` works. Go-only profiles (goroutine,
 * threadcreate, block, mutex, trace) are answered 404 "Unknown profile", as Go answers a
 * profile it does not know. The heap sampler runs from construction on.
 */
export class Pprof {

  constructor() {
    // The heap sampler is one per process (members embedded in one process share it).
    if (!heapSampling) pprof.heap.start(HEAP_SAMPLE_BYTES, HEAP_STACK_DEPTH);
    heapSampling = true;
  }

  /** handle serves req when its path is under /debug/pprof/ and returns true; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const raw = req.url ?? "/";
    if (raw !== PPROF_PREFIX && !raw.startsWith(`${PPROF_PREFIX}/`) && !raw.startsWith(`${PPROF_PREFIX}?`)) return false;
    const url = new URL(raw, "http://h");
    const name = url.pathname.slice(PPROF_PREFIX.length + 1);
    switch (name) {
      case "":
        this.index(res);
        break;
      case "cmdline":
        res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" }).end(process.argv.join("\x00"));
        break;
      case "symbol":
        // Profiles carry function names already: there are no addresses to look up.
        res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" }).end("num_symbols: 0\n");
        break;
      case "profile":
        void this.cpu(url, res);
        break;
      case "heap":
        void this.heap(url, res);
        break;
      default:
        res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" }).end("Unknown profile\n");
    }
    return true;
  }

  private index(res: ServerResponse): void {
    const rows = Object.keys(PROFILES)
      .map((p) => `<a href="${p}?debug=1">${p}</a><br>\n`)
      .join("");
    const desc = Object.entries(PROFILES)
      .map(([p, d]) => `<li><div class=profile-name>${p}:</div> ${d}</li>\n`)
      .join("");
    res
      .writeHead(200, { "Content-Type": "text/html; charset=utf-8" })
      .end(
        `<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/<br>\n<br>\nTypes of profiles available:\n${rows}<a href="cmdline">cmdline</a><br>\n<br>\nProfile Descriptions:\n<ul>\n${desc}</ul>\n</body>\n</html>\n`,
      );
  }

  private async cpu(url: URL, res: ServerResponse): Promise<void> {
    const s = Number(url.searchParams.get("seconds") ?? DEFAULT_SECONDS);
    const seconds = Number.isFinite(s) && s > 0 ? s : DEFAULT_SECONDS;
    if (cpuBusy) {
      serveError(res, 500, "Could not enable CPU profiling: cpu profiling already in use");
      return;
    }
    cpuBusy = true;
    try {
      pprof.time.start({ durationMillis: seconds * 1000 });
      let gone = false;
      res.once("close", () => (gone = true));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, seconds * 1000);
        res.once("close", () => {
          clearTimeout(t);
          resolve();
        });
      });
      const profile = pprof.time.stop();
      if (gone) return;
      sendProfile(res, "profile", await pprof.encode(profile));
    } catch (err) {
      serveError(res, 500, `Could not enable CPU profiling: ${String(err)}`);
    } finally {
      cpuBusy = false;
    }
  }

  private async heap(url: URL, res: ServerResponse): Promise<void> {
    try {
      if (url.searchParams.get("gc") !== null && typeof globalThis.gc === "function") globalThis.gc();
      sendProfile(res, "heap", await pprof.encode(pprof.heap.profile()));
    } catch (err) {
      serveError(res, 500, `Could not take the heap profile: ${String(err)}`);
    }
  }
}

function sendProfile(res: ServerResponse, name: string, body: Buffer): void {
  if (res.destroyed) return;
  res
    .writeHead(200, {
      "Content-Type": "application/octet-stream",
      "Content-Disposition": `attachment; filename="${name}"`,
      "X-Content-Type-Options": "nosniff",
    })
    .end(body);
}

function serveError(res: ServerResponse, status: number, msg: string): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "X-Go-Pprof": "1", "X-Content-Type-Options": "nosniff" }).end(`${msg}\n`);
}
