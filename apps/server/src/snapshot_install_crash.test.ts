import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { etcdFlags, freePort, isRunning, serverCommand, spawnServer, stopProcess, until, waitHealthy, type Spawned } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openServer } from "./bootstrap.js";
import { loadConfig } from "./config/config.js";
import { Logger } from "./log.js";

/**
 * A follower that crashes while installing the snapshot the leader sent it must restart and
 * end up with every key, on the built `etcd-ts` (npm test builds first). One spawned 3-member
 * cluster (--snapshot-count 20, so the leader keeps only 20 entries before its snapshot and a
 * member that missed 200 writes gets a snapshot) serves every case: one member is stopped,
 * 200 keys are written through the other two, the member is restarted with
 * ETCD_TS_FAILPOINTS=<failpoint>=panic so it dies by SIGKILL inside the install. Then its data
 * dir is opened in this process (bootstrap's recovery, no raft loop, no peer to repair it): its
 * own state must hold exactly what the crash left durable: the snapshot's keys once the WAL
 * marker was written, else what it held before. Then it is restarted normally and must become
 * healthy and serve (serializable, from its own state) every key written so far.
 *
 * - raftBeforeSaveSnap: the received stream is durable, the WAL has no marker for it yet (the
 *   backend is untouched; the leader sends a new snapshot after the restart).
 * - raftMidApplySnap: the WAL marker is written and the backend half rewritten (every old key
 *   deleted, none of the snapshot's written): the restart installs the pending stream again.
 * - raftAfterSaveSnap: the WAL marker is written, the backend not yet touched: the restart
 *   installs the pending stream.
 */

const b = (s: string): Buffer => Buffer.from(s);

const SNAPSHOT_COUNT = "20";
const KEYS_PER_CASE = 200;

interface Member {
  name: string;
  clientUrl: string;
  args: string[];
  logs: string[];
  proc: Spawned | undefined;
}

let base = "";
const members: Member[] = [];
/** expected is every key written so far with its value. */
const expected = new Map<string, string>();

afterAll(async () => {
  for (const m of members) if (m.proc !== undefined && isRunning(m.proc.proc)) await stopProcess(m.proc.proc);
  if (base !== "") rmSync(base, { recursive: true, force: true });
});

const logText = (path: string): string => (existsSync(path) ? readFileSync(path, "utf8") : "");

/** spawn starts a member with its own log file for this start (returned as the member's last log). */
function spawn(m: Member, env: NodeJS.ProcessEnv = {}): Spawned {
  const logFile = join(base, `${m.name}.${m.logs.length}.log`);
  m.logs.push(logFile);
  m.proc = spawnServer(serverCommand("etcd-ts"), m.args, { env, logFile });
  return m.proc;
}

async function startHealthy(m: Member): Promise<void> {
  const sp = spawn(m);
  const log = m.logs[m.logs.length - 1] as string;
  await waitHealthy(m.clientUrl, { exited: () => !isRunning(sp.proc), detail: () => logText(log).slice(-4000), name: m.name });
}

function kvOf(m: Member): etcdserverpb.KVClient {
  return new etcdserverpb.KVClient(m.clientUrl.replace("http://", ""), credentials.createInsecure());
}

function put(kv: etcdserverpb.KVClient, k: string, v: string): Promise<void> {
  return new Promise((resolve, reject) =>
    kv.put(etcdserverpb.PutRequest.fromPartial({ key: b(k), value: b(v) }), new Metadata(), { deadline: Date.now() + 5000 }, (err) => (err ? reject(err) : resolve())),
  );
}

/** localKeys reads every key under "c/" from the member's own state (a serializable range). */
function localKeys(kv: etcdserverpb.KVClient): Promise<Map<string, string>> {
  return new Promise((resolve, reject) =>
    kv.range(
      etcdserverpb.RangeRequest.fromPartial({ key: b("c/"), rangeEnd: b("c0"), serializable: true }),
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (err, r) => (err ? reject(err) : resolve(new Map((r?.kvs ?? []).map((x) => [x.key.toString(), x.value.toString()])))),
    ),
  );
}

/** missing lists the keys of `want` that `got` lacks or holds with another value. */
function missing(got: Map<string, string>, want: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of want) if (got.get(k) !== v) out.push(`${k}=${got.get(k) ?? "(none)"}, want ${v}`);
  return out;
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "etcd-snap-install-"));
  const peers: string[] = [];
  const clients: string[] = [];
  for (let i = 0; i < 3; i++) {
    peers.push(`http://127.0.0.1:${await freePort()}`);
    clients.push(`http://127.0.0.1:${await freePort()}`);
  }
  const initialCluster = peers.map((p, i) => `m${i}=${p}`).join(",");
  for (let i = 0; i < 3; i++) {
    const name = `m${i}`;
    const peer = peers[i] as string;
    members.push({
      name,
      clientUrl: clients[i] as string,
      args: etcdFlags({
        name,
        dataDir: join(base, name),
        clientUrl: clients[i] as string,
        listenPeerUrl: peer,
        advertisePeerUrl: peer,
        initialCluster,
        extraFlags: ["--snapshot-count", SNAPSHOT_COUNT, "--heartbeat-interval", "50", "--election-timeout", "500"],
      }),
      logs: [],
      proc: undefined,
    });
  }
  await Promise.all(members.map((m) => startHealthy(m)));
}, 60_000);

describe("a follower crashed while installing the leader's snapshot", { timeout: 120_000 }, () => {
  // The same member is the victim every time: it catches up completely before the next case stops it.
  for (const failpoint of ["raftBeforeSaveSnap", "raftMidApplySnap", "raftAfterSaveSnap"]) {
    it(`restarts after a crash at ${failpoint} and serves every key`, async () => {
      const victim = members[2] as Member;
      const live = members.filter((m) => m !== victim);
      await stopProcess((victim.proc as Spawned).proc, "SIGTERM");

      // Enough writes that the leader's log no longer holds what the victim needs: it gets a snapshot.
      const kvs = live.map(kvOf);
      for (let i = 0; i < KEYS_PER_CASE; i++) {
        const k = `c/${failpoint}/${String(i).padStart(3, "0")}`;
        const v = `${failpoint}-v${i}`;
        // A put may land on a member that is just electing a leader: retry on another.
        await until(() => put(kvs[i % kvs.length] as etcdserverpb.KVClient, k, v).then(() => true), 20_000);
        expected.set(k, v);
      }
      for (const kv of kvs) kv.close();

      // The crash: inside the install of the snapshot the leader sends.
      const crashed = spawn(victim, { ETCD_TS_FAILPOINTS: `${failpoint}=panic` });
      const crashLog = victim.logs[victim.logs.length - 1] as string;
      await until(async () => (isRunning(crashed.proc) ? undefined : true), 60_000).catch(() => {
        throw new Error(`${victim.name} did not reach ${failpoint}:\n${logText(crashLog).slice(-4000)}`);
      });
      expect(crashed.proc.signalCode, logText(crashLog).slice(-4000)).toBe("SIGKILL");
      const before = logText(crashLog);
      expect(before).toContain(`"msg":"failpoint panic: ${failpoint}"`);
      // It was the leader's snapshot that was being installed, not a snapshot of its own.
      expect(before.indexOf('"msg":"receiving database snapshot"')).toBeGreaterThanOrEqual(0);
      expect(before.indexOf('"msg":"receiving database snapshot"')).toBeLessThan(before.indexOf(`"msg":"failpoint panic: ${failpoint}"`));

      // Its data dir opened in this process (the start's storage recovery, no raft loop, no
      // peer that could repair it): what it serves from its own state is what its crash left.
      // With the WAL marker durable, that is the whole snapshot (the kept stream installed at
      // start); without it, exactly what it held before. (The leader streams its backend about
      // a second after the last put, once the victim has started: that put's backend batch,
      // written a few milliseconds after it was applied, is in the stream.)
      const own = failpoint === "raftBeforeSaveSnap" ? new Map([...expected].filter(([k]) => !k.startsWith(`c/${failpoint}/`))) : expected;
      const openLog = join(base, `${victim.name}.${victim.logs.length}.open.log`);
      const cfg = loadConfig(victim.args, {});
      if (cfg.kind !== "run") throw new Error("config");
      const s = await openServer(cfg.config, new Logger("info", [openLog]), (err) => {
        throw err;
      });
      try {
        const r = await s.range(etcdserverpb.RangeRequest.fromPartial({ key: b("c/"), rangeEnd: b("c0"), serializable: true }));
        const got = new Map(r.kvs.map((x) => [x.key.toString(), x.value.toString()]));
        const lost = missing(got, own);
        expect(lost, `${lost.length} of ${own.size} keys missing or wrong in ${victim.name}'s own state, e.g. ${lost.slice(0, 5).join("; ")}`).toEqual([]);
        expect(got.size).toBe(own.size);
      } finally {
        await s.stop();
      }
      if (failpoint === "raftBeforeSaveSnap") {
        // No WAL marker: the kept stream is stale; the leader sends a new snapshot.
        expect(logText(openLog)).not.toContain('"msg":"installing pending snapshot"');
      } else {
        // The WAL marker was durable: the member installs the stream it kept, before it serves.
        expect(logText(openLog)).toContain('"msg":"installing pending snapshot"');
      }

      // Restarted normally, with its peers: it is healthy and catches up to every key.
      await startHealthy(victim);
      const lastLog = victim.logs[victim.logs.length - 1] as string;
      const restarted = victim.proc as Spawned;
      const kv = kvOf(victim);
      let got = new Map<string, string>();
      try {
        await until(
          async () => {
            got = await localKeys(kv);
            return missing(got, expected).length === 0 ? true : undefined;
          },
          30_000,
          { giveUp: () => (isRunning(restarted.proc) ? undefined : `${victim.name} exited`) },
        );
      } catch (err) {
        const lost = missing(got, expected);
        expect.fail(`${String(err)}: ${lost.length} of ${expected.size} keys missing or wrong on ${victim.name}, e.g. ${lost.slice(0, 5).join("; ")}\n${logText(lastLog).slice(-4000)}`);
      } finally {
        kv.close();
      }
    });
  }
});
