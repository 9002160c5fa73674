import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/**
 * A StreamReader whose stream the peer resets while other requests (the round-trip probes)
 * ride on the same HTTP/2 session must drop that session without stalling its process. On
 * Node 20 a session destroyed from inside one of its own event callbacks, with other streams
 * still open, can spin in nghttp2 forever (a removed member hung that way: its stream from
 * the leader was reset while a probe was in flight, and its scheduled stop never ran).
 *
 * The reader runs in a child process (from the built module), so a regression shows as a
 * process that never reports, killed after a deadline, instead of a hung test worker.
 */

const DIST_STREAM = fileURLToPath(new URL("../../dist/peer/stream.js", import.meta.url));
const DIST_LOG = fileURLToPath(new URL("../../dist/log.js", import.meta.url));

/** CHILD is the script: a fake peer that accepts the stream, answers probes slowly, then resets the stream. */
const CHILD = `
import h2 from "node:http2";
import { StreamReader } from ${JSON.stringify(DIST_STREAM)};
import { Logger } from ${JSON.stringify(DIST_LOG)};

const CLUSTER = 0x5eedn;
const server = h2.createServer();
let stream;
server.on("stream", (st, headers) => {
  if (headers[":path"] === "/raft/stream") {
    stream = st;
    st.respond({ ":status": 200, "x-etcd-cluster-id": CLUSTER.toString(16) });
    st.on("data", () => {});
    st.on("error", () => {});
    // Frames (empty batches) keep coming, and the reader acknowledges them.
    const t = setInterval(() => { if (st.writable) st.write(Buffer.alloc(4)); }, 5);
    st.on("close", () => clearInterval(t));
    return;
  }
  st.on("error", () => {});
  setTimeout(() => { if (!st.destroyed) { st.respond({ ":status": 200 }); st.end(); } }, 20);
});
server.listen(0, "127.0.0.1", () => {
  const url = "http://127.0.0.1:" + server.address().port;
  let probes;
  const reader = new StreamReader({
    localId: 0xan, peerId: 0xbn, urls: [url], clusterId: () => CLUSTER, tls: undefined,
    logger: new Logger("error"), deadMs: 5000,
    step: () => {}, alive: () => {}, removed: () => {},
    up: () => {
      probes = setInterval(() => {
        const s = reader.liveSession;
        if (s === undefined) return;
        const p = s.request({ ":method": "GET", ":path": "/raft/probing" });
        p.on("error", () => {});
        p.resume();
      }, 3);
      setTimeout(() => { clearInterval(probes); stream.close(h2.constants.NGHTTP2_CANCEL); }, 200);
    },
    down: () => {
      // The event loop must still turn after the reader dropped its session.
      setTimeout(() => { process.stdout.write("dropped and still running\\n"); process.exit(0); }, 300);
    },
  });
  setInterval(() => reader.tick(Date.now()), 10);
});
`;

const dir = mkdtempSync(join(tmpdir(), "etcd-ts-stream-reset-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** runChild runs the script and resolves with its exit code and output, killing it after deadlineMs. */
function runChild(file: string, deadlineMs: number): Promise<{ code: number | null; out: string; killed: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [file], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (out += c.toString()));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      p.kill("SIGKILL");
    }, deadlineMs);
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out, killed });
    });
  });
}

describe("StreamReader: a stream reset while probes share its session", () => {
  it("drops the session and the process keeps running", async () => {
    expect(existsSync(DIST_STREAM), "the server package must be built (npm run build)").toBe(true);
    const file = join(dir, "child.mjs");
    writeFileSync(file, CHILD);
    for (let i = 0; i < 3; i++) {
      const r = await runChild(file, 15_000);
      expect(r.killed, `run ${i}: the child stalled after its stream was reset\n${r.out}`).toBe(false);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain("dropped and still running");
    }
  }, 60_000);
});
