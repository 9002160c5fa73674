import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

/**
 * kill -9 during a stream of acknowledged puts: after a restart every acknowledged put is
 * there with its value (the WAL is fsync'ed before any answer).
 */
describe("crash safety", () => {
  const members: Member[] = [];
  afterAll(async () => {
    for (const m of members) await m.destroy();
  });

  it("loses no acknowledged write across kill -9", async () => {
    const m = await Member.create({ kind: "etcd-ts", extraArgs: ["--snapshot-count", "500"] });
    members.push(m);
    for (let round = 0; round < 2; round++) {
      await m.start();
      const client = new Etcd3({ hosts: m.url, dialTimeout: 2000 });
      const acked = new Map<string, string>();
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop && i < 100_000; i++) {
          const key = `r${round}/w${w}/k${i % 300}`;
          const value = `v${i}`;
          try {
            await client.put(key).value(value);
            acked.set(key, value);
          } catch {
            return; // the server died under us: anything unacknowledged may or may not be there
          }
        }
      };
      const writers = Array.from({ length: 16 }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 1500 + round * 500));
      await m.kill("SIGKILL");
      stop = true;
      await Promise.all(writers);
      client.close();
      expect(acked.size).toBeGreaterThan(50);

      await m.start();
      const check = new Etcd3({ hosts: m.url });
      const all = await check.getAll().prefix(`r${round}/`).strings();
      for (const [k, v] of acked) {
        // A later unacknowledged put of the same key may have landed: values only move forward.
        const got = all[k];
        expect(got, `key ${k}`).toBeDefined();
        expect(Number((got as string).slice(1)), `key ${k}`).toBeGreaterThanOrEqual(Number(v.slice(1)));
      }
      check.close();
      await m.kill("SIGTERM");
    }
  });
});
