/**
 * normalize masks what legitimately differs between two servers answering the same command:
 * member and cluster IDs (derived from the random peer port), and clientv3's retry warnings
 * (timestamps and random target names) on stderr.
 */
export function normalize(text: string, ids: readonly bigint[]): string {
  let out = text
    .split("\n")
    .filter((l) => !l.startsWith('{"level":'))
    .join("\n");
  for (const id of ids) {
    out = out.split(id.toString()).join("<ID>").split(id.toString(16)).join("<ID>");
  }
  return out;
}
