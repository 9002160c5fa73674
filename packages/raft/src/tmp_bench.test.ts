import { it } from "vitest";
import { raftpb } from "@etcd-ts/proto";
import { RawNode } from "./rawnode.js";
import { MemoryStorage } from "./storage.js";
import { Network } from "./testing/network.js";
it("bench", { timeout: 600000 }, () => {
  const s = new MemoryStorage();
  const rn = new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage: s });
  rn.bootstrap([{ id: 1n }]);
  let rd = rn.ready(); s.append(rd.entries); if (rd.hardState) s.setHardState(rd.hardState);
  for (const e of rd.committedEntries) rn.applyConfChange(raftpb.ConfChange.decode(e.data));
  rn.advance(rd);
  rn.campaign();
  const data = Buffer.alloc(100);
  let t0 = performance.now();
  const N = 200000;
  for (let i = 0; i < N; i++) {
    rn.propose(data);
    if (i % 100 === 99) {
      rd = rn.ready(); s.append(rd.entries); if (rd.hardState) s.setHardState(rd.hardState); rn.advance(rd);
      if (i % 10000 === 9999) { s.compact(rn.status().applied); }
    }
  }
  console.log("single node proposals/s", Math.round(N / ((performance.now() - t0) / 1000)));
  const net = Network.create([1n, 2n, 3n]);
  net.node(1n).rawNode.campaign(); net.stabilize();
  t0 = performance.now();
  const M = 20000;
  for (let i = 0; i < M; i++) {
    net.node(1n).rawNode.propose(data);
    if (i % 100 === 99) net.stabilize();
  }
  net.stabilize();
  console.log("3 node (harness, encode/decode) proposals/s", Math.round(M / ((performance.now() - t0) / 1000)));
});
