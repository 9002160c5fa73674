import { createHash } from "node:crypto";

/**
 * memberId derives a member's 64-bit ID as etcd does: the first 8 bytes (big endian) of
 * SHA-1 over its sorted peer URLs, the cluster token and, for a member added at runtime,
 * the Unix time of the addition. Equal inputs give etcd's IDs (8e9e05c52164694d for the
 * default member).
 */
export function memberId(peerUrls: readonly string[], clusterToken: string, addedAtUnixSeconds?: number): bigint {
  const h = createHash("sha1");
  for (const u of [...peerUrls].sort()) h.update(u);
  h.update(clusterToken);
  if (addedAtUnixSeconds !== undefined) h.update(String(addedAtUnixSeconds));
  return h.digest().readBigUInt64BE(0);
}

/** clusterId derives the cluster ID from the member IDs as etcd does (SHA-1 of the sorted IDs). */
export function clusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return createHash("sha1").update(buf).digest().readBigUInt64BE(0);
}

/** hexId prints an ID the way etcd logs it: lower-case hex without leading zeros. */
export function hexId(id: bigint): string {
  return id.toString(16);
}
