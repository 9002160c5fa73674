import type { raftpb } from "@etcd-ts/proto";
import type { PeerHandler } from "../server.js";

/**
 * recordingHandler is a PeerHandler for listener tests: raft messages go to `messages`,
 * batch bytes received are summed per sender in `bytes`, and every member-side call a test
 * does not expect fails.
 */
export function recordingHandler(clusterId: bigint, messages: raftpb.Message[], bytes = new Map<bigint, number>()): PeerHandler {
  const unexpected = (): never => {
    throw new Error("peer listener test: unexpected call");
  };
  return {
    received: (from, n) => bytes.set(from, (bytes.get(from) ?? 0) + n),
    clusterId: () => clusterId,
    step: (m) => messages.push(m),
    stepSnapshot: () => undefined,
    membersJson: () => "[]",
    versionJson: () => "{}",
    promote: async () => ({ status: 500, body: "" }),
    isRemoved: () => false,
    hashKV: async () => unexpected(),
    leaseRenew: async () => unexpected(),
    leaseTimeToLive: unexpected,
    isLeaseNotFound: () => false,
  };
}
