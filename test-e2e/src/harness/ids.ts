import { REAL_ETCDCTL, run } from "@etcd-ts/test-kit";

/** memberIds asks a server (through the real etcdctl) for its member and cluster IDs. */
export async function memberIds(endpoint: string): Promise<bigint[]> {
  const r = await run(REAL_ETCDCTL, ["--endpoints", endpoint, "endpoint", "status", "-w", "json"]);
  const m = /"cluster_id":(\d+),"member_id":(\d+)/.exec(r.stdout);
  if (m === null) throw new Error(`no IDs in endpoint status: ${r.stdout} ${r.stderr}`);
  return [BigInt(m[1] as string), BigInt(m[2] as string)];
}
