import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "./config/config.js";
import { Etcd } from "./embed.js";
import { Logger } from "./log.js";

const b = (s: string) => Buffer.from(s);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const running: Etcd[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.stop().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** startCluster starts n members in this process (each with its own ports and data dir). */
async function startCluster(n: number, extra: string[] = []): Promise<Etcd[]> {
  const base = mkdtempSync(join(tmpdir(), "etcd-cluster-test-"));
  dirs.push(base);
  const peers: number[] = [];
  const clients: number[] = [];
  for (let i = 0; i < n; i++) {
    peers.push(await freePort());
    clients.push(await freePort());
  }
  const initial = peers.map((p, i) => `m${i}=http://127.0.0.1:${p}`).join(",");
  const starts = peers.map((p, i) => {
    const r = loadConfig(
      [
        "--name", `m${i}`,
        "--data-dir", join(base, `m${i}`),
        "--listen-peer-urls", `http://127.0.0.1:${p}`,
        "--initial-advertise-peer-urls", `http://127.0.0.1:${p}`,
        "--listen-client-urls", `http://127.0.0.1:${clients[i]}`,
        "--advertise-client-urls", `http://127.0.0.1:${clients[i]}`,
        "--initial-cluster", initial,
        "--heartbeat-interval", "20",
        "--election-timeout", "200",
        "--log-level", "error",
        ...extra,
      ],
      {},
    );
    if (r.kind !== "run") throw new Error("config");
    return Etcd.start(r.config, new Logger("error"), (err) => {
      throw err;
    });
  });
  const members = await Promise.all(starts);
  running.push(...members);
  return members;
}

describe("3-member cluster (in process)", () => {
  it("elects one leader, replicates writes and serves linearizable reads on every member", async () => {
    const ms = await startCluster(3);
    const leaders = new Set(ms.map((m) => m.server.leader));
    expect(leaders.size).toBe(1);
    for (const [i, m] of ms.entries()) {
      await m.server.put(etcdserverpb.PutRequest.fromPartial({ key: b(`k${i}`), value: b(`v${i}`) }));
    }
    for (const m of ms) {
      const r = await m.server.range(etcdserverpb.RangeRequest.fromPartial({ key: b("k"), rangeEnd: b("l") }));
      expect(r.kvs.map((kv) => kv.value.toString())).toEqual(["v0", "v1", "v2"]);
    }
    const hashes = await Promise.all(ms.map((m) => m.server.hashKV(etcdserverpb.HashKVRequest.fromPartial({}))));
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
    expect(ms[0]?.server.members().length).toBe(3);
  });
});
