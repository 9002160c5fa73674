import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb, raftpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { openServer } from "./bootstrap.js";
import { loadConfig } from "./config/config.js";
import { debugOptionsFromEnv, DebugSwitchError, UNSAFE_STALE_READS_MESSAGE, type DebugOptions } from "./debug_switches.js";
import { Etcd } from "./embed.js";
import { Logger, type Fields, type Level } from "./log.js";
import { dirs, freePort, memberArgs, running, specs, stopAll, until } from "./testing/cluster.js";
import { removeDataDirs, tmpDataDir } from "./testing/member.js";

/**
 * ETCD_TS_UNSAFE_STALE_READS, the planted bug the robustness checkers must catch: with it a
 * member answers linearizable reads from its local state, so a member cut off from the
 * cluster returns values the cluster has already overwritten. Without it (the control) the
 * same read waits for a read index and never returns the stale value.
 */

afterEach(async () => {
  await stopAll();
  removeDataDirs();
});

const b = (s: string): Buffer => Buffer.from(s);

class Captured extends Logger {
  lines: { level: Level; msg: string; fields: Fields | undefined }[] = [];
  constructor() {
    super("error");
  }
  protected override write(level: Level, _caller: string, msg: string, fields?: Fields): void {
    this.lines.push({ level, msg, fields });
  }
}

/** startMembers starts a 3-member cluster in this process, member i with debug[i]. */
async function startMembers(debug: DebugOptions[], loggers: Logger[]): Promise<Etcd[]> {
  const base = mkdtempSync(join(tmpdir(), "etcd-unsafe-reads-"));
  dirs.push(base);
  const peers: number[] = [];
  const clients: number[] = [];
  for (let i = 0; i < debug.length; i++) {
    peers.push(await freePort());
    clients.push(await freePort());
  }
  const initial = peers.map((p, i) => `m${i}=http://127.0.0.1:${p}`).join(",");
  return Promise.all(
    peers.map(async (p, i) => {
      const argv = memberArgs(base, `m${i}`, p, clients[i] as number, initial, ["--heartbeat-interval", "20", "--election-timeout", "200", "--pre-vote"]);
      const r = loadConfig(argv, {});
      if (r.kind !== "run") throw new Error("config");
      const e = await Etcd.start(r.config, loggers[i] as Logger, (err) => {
        throw err;
      }, debug[i] as DebugOptions);
      specs.set(e, { name: `m${i}`, argv, peerUrl: `http://127.0.0.1:${p}` });
      running.push(e);
      return e;
    }),
  );
}

/** cut drops every peer message between `alone` and the others, at the receiver; heal undoes it. */
function cut(all: Etcd[], alone: Etcd): void {
  for (const e of all) {
    const s = e.server;
    const step = Object.getPrototypeOf(s).stepFromPeer as (m: raftpb.Message) => void;
    s.stepFromPeer = (m: raftpb.Message) => {
      if ((m.from === alone.server.memberId) === (e === alone)) step.call(s, m);
    };
  }
}

function heal(all: Etcd[]): void {
  for (const e of all) delete (e.server as { stepFromPeer?: unknown }).stepFromPeer;
}

const put = (e: Etcd, v: string) => e.server.put(etcdserverpb.PutRequest.fromPartial({ key: b("k"), value: b(v) }));
const read = async (e: Etcd, serializable = false) =>
  (await e.server.range(etcdserverpb.RangeRequest.fromPartial({ key: b("k"), serializable }))).kvs[0]?.value.toString();
const readTxn = async (e: Etcd) => {
  const r = await e.server.txn(etcdserverpb.TxnRequest.fromPartial({ success: [{ requestRange: { key: b("k") } }] }));
  return r.responses[0]?.responseRange?.kvs[0]?.value.toString();
};

describe("ETCD_TS_UNSAFE_STALE_READS", { timeout: 60_000 }, () => {
  it("serves a cut-off member's linearizable reads from its stale local state; without it the read waits", async () => {
    const unsafeLog = new Captured();
    const ms = await startMembers([{ unsafeStaleReads: true }, {}, {}], [unsafeLog, new Logger("error"), new Logger("error")]);
    const [unsafe, m1] = ms as [Etcd, Etcd, Etcd];
    expect(unsafeLog.lines).toContainEqual(expect.objectContaining({ level: "error", msg: UNSAFE_STALE_READS_MESSAGE }));
    // The member with the switch must be a follower, next to a follower without it.
    if (unsafe.server.isLeader) await unsafe.server.moveLeader(m1.server.memberId);
    await until(() => ms.some((m) => m !== unsafe && m.server.isLeader));
    const leader = ms.find((m) => m.server.isLeader) as Etcd;

    await put(leader, "old");
    await until(async () => (await read(unsafe, true)) === "old");

    // The planted bug: cut off, the member answers with a value the cluster has overwritten.
    cut(ms, unsafe);
    await put(leader, "new");
    expect(await read(leader)).toBe("new");
    expect(await read(unsafe)).toBe("old");
    expect(await readTxn(unsafe)).toBe("old");

    // The control: a member without the switch, cut off the same way, never answers "old"
    // with "new" committed; its read waits for a read index and completes once healed.
    heal(ms);
    await until(async () => (await read(unsafe, true)) === "new" && ms.some((m) => m.server.isLeader));
    const leader2 = ms.find((m) => m.server.isLeader) as Etcd;
    const safe = ms.find((m) => m !== unsafe && m !== leader2) as Etcd;
    await until(async () => (await read(safe, true)) === "new");
    cut(ms, safe);
    await put(leader2, "newer");
    let answered: string | undefined;
    const pending = read(safe).then((v) => (answered = v ?? "(none)"));
    const pendingTxn = readTxn(safe);
    await new Promise((r) => setTimeout(r, 1000));
    expect(answered).toBeUndefined();
    expect(await read(safe, true)).toBe("new"); // what a stale read would have returned
    heal(ms);
    await pending;
    expect(answered).toBe("newer");
    expect(await pendingTxn).toBe("newer");
  });

  it("is read from the environment: off by default, refused with NODE_ENV=production", async () => {
    expect(debugOptionsFromEnv({})).toEqual({});
    expect(debugOptionsFromEnv({ ETCD_TS_UNSAFE_STALE_READS: "0" })).toEqual({});
    expect(debugOptionsFromEnv({ ETCD_TS_UNSAFE_STALE_READS: "" })).toEqual({});
    expect(debugOptionsFromEnv({ ETCD_TS_UNSAFE_STALE_READS: "1" })).toEqual({ unsafeStaleReads: true });
    expect(debugOptionsFromEnv({ ETCD_TS_UNSAFE_STALE_READS: "true" })).toEqual({ unsafeStaleReads: true });
    expect(() => debugOptionsFromEnv({ ETCD_TS_UNSAFE_STALE_READS: "yes please" })).toThrow(DebugSwitchError);
    expect(() => debugOptionsFromEnv({ ETCD_TS_UNSAFE_STALE_READS: "1", NODE_ENV: "production" })).toThrow(/refused with NODE_ENV=production/);
    expect(debugOptionsFromEnv({ ETCD_TS_UNSAFE_STALE_READS: "0", NODE_ENV: "production" })).toEqual({});

    // A member embedded with the switch is refused in production too, before anything is opened.
    const r = loadConfig(["--data-dir", tmpDataDir(), "--log-level", "error"], {});
    if (r.kind !== "run") throw new Error("config");
    const saved = process.env["NODE_ENV"];
    process.env["NODE_ENV"] = "production";
    try {
      await expect(openServer(r.config, new Logger("error"), () => undefined, undefined, { unsafeStaleReads: true })).rejects.toThrow(DebugSwitchError);
    } finally {
      if (saved === undefined) delete process.env["NODE_ENV"];
      else process.env["NODE_ENV"] = saved;
    }
  });
});
