import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd } from "./etcd.js";
import type { WatchEvent } from "./etcd_watch.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

/**
 * Watch resume under the worst timing: a watcher iterating `etcd.watch` on the leader of a
 * 3-member cluster while a writer puts a new key every few milliseconds through the other
 * members; mid-stream the leader is killed with SIGKILL. The iterator must go on from another
 * member and yield every committed put exactly once, in revision order: compared with what
 * the cluster holds at the end, not with what the writer was told (puts in flight at the kill
 * have an unknown outcome).
 */
for (const kind of ["etcd-ts", "etcd"] as const) {
  describe(`Etcd.watch across a kill -9 of its member (${kind}, 3 members)`, () => {
    let cluster: RunningEtcd;
    beforeAll(async () => {
      cluster = await startEtcd({ size: 3, kind, flags: ["--heartbeat-interval", "50", "--election-timeout", "500"] });
    }, 60_000);
    afterAll(async () => {
      await cluster?.stop();
    });

    it("yields every committed put exactly once, in order, from another member", async () => {
      const probe = new Etcd({ endpoints: cluster.members.map((m) => m.endpoint) });
      const st = await Promise.all(cluster.members.map((m) => probe.client.status(m.endpoint)));
      probe.close();
      const leaderIdx = st.findIndex((s) => s.leader === s.header?.memberId);
      expect(leaderIdx).toBeGreaterThanOrEqual(0);
      const leader = cluster.members[leaderIdx]!;
      const others = cluster.members.filter((m) => m !== leader);
      // The watcher dials the leader first; the writer never talks to it.
      const watching = new Etcd({ endpoints: [leader.endpoint, ...others.map((m) => m.endpoint)] });
      const writer = new Etcd({ endpoints: others.map((m) => m.endpoint) });
      try {
        const w = watching.watch("w/", { prefix: true });
        await w.created;
        const seen: WatchEvent[] = [];
        let target: bigint | undefined;
        const reading = (async () => {
          for await (const ev of w) {
            seen.push(ev);
            if (target !== undefined && ev.kv.modRevision >= target) break;
          }
        })();

        let n = 0;
        let failed = 0;
        const until = Date.now() + 4000;
        let killed = false;
        while (Date.now() < until) {
          if (!killed && Date.now() > until - 2500) {
            killed = true;
            await leader.stop();
          }
          try {
            await writer.put(`w/${String(n).padStart(5, "0")}`, String(n), { timeoutMs: 2000 });
          } catch {
            failed++; // unknown outcome: the history below decides
          }
          n++;
        }
        // One more put that surely lands, then what the cluster holds is the truth.
        const last = await writer.put("w/zzzzz", "end", { timeoutMs: 10_000 });
        const committed = await writer.getAll("w/");
        target = last.revision;
        if (seen.at(-1)?.kv.modRevision !== undefined && (seen.at(-1) as WatchEvent).kv.modRevision >= target) w.close();
        await Promise.race([reading, new Promise((_, rej) => setTimeout(() => rej(new Error(`watch stalled at ${seen.length} events`)), 20_000))]);
        w.close();

        const fromWatch = seen.map((e) => `${e.kv.keyString}@${e.kv.modRevision}`);
        const expected = [...committed].sort((a, b) => (a.modRevision < b.modRevision ? -1 : 1)).map((kv) => `${kv.keyString}@${kv.modRevision}`);
        expect(seen.every((e) => e.type === "put")).toBe(true);
        expect(fromWatch).toEqual(expected);
        expect(committed.length).toBeGreaterThan(50);
        console.log(`watch_kill (${kind}): ${seen.length} events across the kill, ${failed} puts of unknown outcome`);
      } finally {
        watching.close();
        writer.close();
      }
    }, 90_000);
  });
}
