import { Membership, type Member } from "../membership.js";

/**
 * The member list in Go etcd 3.4's v2 store, which is its record of the cluster (its backend's
 * `members` buckets are a copy that `etcdctl snapshot restore` does not clear): the JSON a
 * `.snap` file's data holds (store.Save()), nodes under Root.Children:
 *
 *   /0/members/<id hex>/raftAttributes  {"peerURLs":[...],"isLearner":true}
 *   /0/members/<id hex>/attributes      {"name":"...","clientURLs":[...]}
 *   /0/members_removed/<id hex>         "removed"
 *   /0/version                          "3.4.0"
 */

interface V2Node {
  Value?: unknown;
  Children?: Record<string, V2Node> | null;
}

function child(n: V2Node | undefined, name: string): V2Node | undefined {
  return n?.Children?.[name] ?? undefined;
}

function fail(why: string): never {
  throw new Error(`go etcd data: the v2 store in the snapshot ${why}`);
}

function parseValue(n: V2Node | undefined, what: string): Record<string, unknown> | undefined {
  if (n === undefined) return undefined;
  if (typeof n.Value !== "string") fail(`has no value at ${what}`);
  let doc: unknown;
  try {
    doc = JSON.parse(n.Value);
  } catch (err) {
    fail(`has bad JSON at ${what}: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null) fail(`has no JSON object at ${what}`);
  return doc as Record<string, unknown>;
}

function strings(o: Record<string, unknown> | undefined, name: string): string[] {
  const v = o?.[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** membersFromV2Store reads the member list (members, removed members, cluster version) from the data of a Go etcd 3.4 `.snap` file. */
export function membersFromV2Store(data: Buffer, clusterId: bigint): Membership {
  let doc: { Root?: V2Node };
  try {
    doc = JSON.parse(data.toString("utf8")) as { Root?: V2Node };
  } catch (err) {
    fail(`is not JSON: ${(err as Error).message}`);
  }
  const zero = child(doc.Root, "0");
  const members = new Map<bigint, Member>();
  for (const [hex, node] of Object.entries(child(zero, "members")?.Children ?? {})) {
    if (!/^[0-9a-f]{1,16}$/.test(hex)) fail(`has a member named ${JSON.stringify(hex)}`);
    const raft = parseValue(child(node, "raftAttributes"), `/0/members/${hex}/raftAttributes`);
    if (raft === undefined) fail(`has no raftAttributes for member ${hex}`);
    const attrs = parseValue(child(node, "attributes"), `/0/members/${hex}/attributes`);
    const id = BigInt(`0x${hex}`);
    members.set(id, {
      id,
      name: typeof attrs?.["name"] === "string" ? attrs["name"] : "",
      peerUrls: strings(raft, "peerURLs"),
      clientUrls: strings(attrs, "clientURLs"),
      isLearner: raft["isLearner"] === true,
    });
  }
  const ms = new Membership(clusterId, members);
  for (const hex of Object.keys(child(zero, "members_removed")?.Children ?? {})) {
    if (!/^[0-9a-f]{1,16}$/.test(hex)) fail(`has a removed member named ${JSON.stringify(hex)}`);
    ms.removed.add(BigInt(`0x${hex}`));
  }
  const version = child(zero, "version")?.Value;
  if (typeof version === "string" && version !== "") ms.clusterVersion = version;
  return ms;
}
