import { afterAll, describe, expect, it } from "vitest";
import { hexId } from "../ids.js";
import { leaderOf, put, startCluster, stopAll, until } from "../testing/cluster.js";

/** samples returns the value of each `name{Label="id"} value` line of a scrape, by label value. */
function samples(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{${label}="([0-9a-f]+)"\\} (\\S+)$`, "gm"))) out.set(m[1] as string, Number(m[2]));
  return out;
}

describe("peer metrics of a 3-member cluster", () => {
  afterAll(stopAll);

  it("counts bytes sent to and received from each peer, labelled by peer ID", async () => {
    const ms = await startCluster(3);
    const lead = leaderOf(ms);
    const peers = ms.filter((m) => m !== lead).map((m) => hexId(m.server.memberId));
    await until(async () => {
      const t = await lead.metrics.text();
      const sent = samples(t, "etcd_network_peer_sent_bytes_total", "To");
      const recv = samples(t, "etcd_network_peer_received_bytes_total", "From");
      return peers.every((p) => (sent.get(p) ?? 0) > 0 && (recv.get(p) ?? 0) > 0);
    });
    const t = await lead.metrics.text();
    expect([...samples(t, "etcd_network_peer_sent_bytes_total", "To").keys()].sort()).toEqual([...peers].sort());
    expect(samples(t, "etcd_network_peer_sent_failures_total", "To").size).toBe(0);

    // The prober times a GET /raft/probing to each peer every 4 s (etcd's prober interval).
    await until(async () => {
      const counts = samples(await lead.metrics.text(), "etcd_network_peer_round_trip_time_seconds_count", "To");
      return peers.every((p) => (counts.get(p) ?? 0) > 0);
    }, 10_000);

    // A stopped follower: what the leader sends it is dropped and counted as send failures.
    const down = ms.find((m) => m !== lead) as (typeof ms)[number];
    const downId = hexId(down.server.memberId);
    await down.stop();
    for (let i = 0; i < 20; i++) await put(lead, `k${i}`, "v");
    await until(async () => (samples(await lead.metrics.text(), "etcd_network_peer_sent_failures_total", "To").get(downId) ?? 0) > 0);
    expect([...samples(await lead.metrics.text(), "etcd_network_peer_sent_failures_total", "To").keys()]).toEqual([downId]);
  }, 30_000);
});
