import { AUTH_PREFIX, AUTH_ROLES_PREFIX, AUTH_USERS_PREFIX } from "@etcd-ts/auth";
import type { ScanChunk, WriteOp } from "@etcd-ts/backend";
import { consistentIndexKey } from "@etcd-ts/backend/meta";
import { LEASE_PREFIX } from "@etcd-ts/lease/keys";
import { fromEtcdMeta, fromEtcdRevisionKey, KEY_PREFIX, toEtcdMeta, toEtcdRevisionKey } from "@etcd-ts/mvcc/etcd-format";
import { etcdserverpb } from "@etcd-ts/proto";
import { ALARM_PREFIX, alarmKey, decodeAlarmKey } from "../alarm_store.js";
import { Membership, type Member } from "../membership.js";
import { MEMBERSHIP_KEY } from "../membership_store.js";
import { memberJson, memberKey, parseMemberJson } from "./members_json.js";

/**
 * The backend in etcd 3.4's bbolt layout, both ways. This module runs in the snapshot image
 * worker too: it imports the stores' key layouts from their side-effect-free entries
 * (@etcd-ts/backend/meta, @etcd-ts/lease/keys, @etcd-ts/mvcc/etcd-format), never the stores,
 * whose RocksDB binding cannot be loaded in a second thread. etcd keeps one bucket per store; the
 * backend keeps one key prefix per store, and the prefixes sort in the same order as the
 * bucket names ('/' sorts before every letter), so one ordered scan of the backend yields
 * etcd's buckets in order, with these exceptions handled here:
 *
 * - `alarm`: etcd's key is the encoded AlarmMember (value empty), the backend's the member ID
 *   and alarm type; the few alarms are sorted by etcd's key.
 * - the member list: the backend keeps it as one record (`cluster/membership`); etcd keeps
 *   `cluster` (clusterVersion), `members` (ID -> JSON) and `members_removed` (ID -> "removed").
 * - `meta`: consistent_index is the same 8 bytes; the compaction marks are mvcc's (see
 *   @etcd-ts/mvcc's etcd format).
 * - `key`: revision keys gain etcd's '_' between main and sub (mvcc's format).
 * - `lease`, `auth`, `authUsers`, `authRoles`: the same keys (without the prefix) and values.
 */

/** ETCD_BUCKETS are the buckets etcd 3.4 creates in every backend, in byte order. */
export const ETCD_BUCKETS = ["alarm", "auth", "authRoles", "authUsers", "cluster", "key", "lease", "members", "members_removed", "meta"] as const;
export type EtcdBucket = (typeof ETCD_BUCKETS)[number];

/** EtcdEntry is one key of one of etcd's buckets. */
export interface EtcdEntry {
  bucket: EtcdBucket;
  key: Buffer;
  value: Buffer;
}

/** STREAMED are the buckets that may be large: they are passed through in scan order; the others are collected and sorted. */
const STREAMED: ReadonlySet<EtcdBucket> = new Set(["authRoles", "authUsers", "key", "lease"]);

const CLUSTER_VERSION_KEY = Buffer.from("clusterVersion");
const CONSISTENT_INDEX = Buffer.from("consistent_index");
const REMOVED = Buffer.from("removed");
const AUTH_KEYS = new Set(["authEnabled", "authRevision"]);
const BUCKET_NAMES: ReadonlyMap<EtcdBucket, Buffer> = new Map(ETCD_BUCKETS.map((b) => [b, Buffer.from(b)]));

function startsWith(k: Buffer, prefix: Buffer): boolean {
  return k.length >= prefix.length && k.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** EtcdBucketSink takes etcd's buckets in bbolt's order (a BboltPushWriter is one). */
export interface EtcdBucketSink {
  openBucket(name: Uint8Array): void;
  put(key: Uint8Array, value: Uint8Array): void;
  closeBucket(): void;
}

/**
 * EtcdBucketsWriter maps one consistent, ordered scan of the whole backend, chunk by chunk,
 * to etcd's buckets and pushes them to a sink in bbolt's order: every bucket of ETCD_BUCKETS,
 * empty ones included, each with its keys in order. The large buckets (STREAMED) pass
 * through as the scan yields them; the few entries of the others are collected and written
 * sorted when their turn comes. It throws on a backend key it does not know, and on one that
 * comes after its bucket was written, so a snapshot never leaves data out silently (the
 * sink checks the key order within a bucket). It keeps no view into a chunk once add returns
 * (what it keeps is copied), so the caller may reuse the chunk's buffers; a sink must copy
 * what it keeps too.
 */
export class EtcdBucketsWriter {
  /** next is the index in ETCD_BUCKETS of the first bucket not yet opened. */
  private next = 0;
  private open: EtcdBucket | undefined;
  private readonly small = new Map<EtcdBucket, EtcdEntry[]>();

  constructor(private readonly sink: EtcdBucketSink) {}

  /** add maps the entries of one scan chunk. */
  add(chunk: ScanChunk): void {
    const { keys, values } = chunk;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = values[i]!;
      if (startsWith(k, KEY_PREFIX)) {
        // The bulk of every backend: no entry object on this path.
        if (this.open !== "key") this.moveTo("key", k);
        this.sink.put(toEtcdRevisionKey(k), v);
        continue;
      }
      for (const e of mapBackendEntry(k, v)) {
        if (STREAMED.has(e.bucket)) {
          if (this.open !== e.bucket) this.moveTo(e.bucket, k);
          this.sink.put(e.key, e.value);
          continue;
        }
        if (ETCD_BUCKETS.indexOf(e.bucket) < this.next) throw new Error(`etcd format: backend key for bucket ${e.bucket} after that bucket was written`);
        let list = this.small.get(e.bucket);
        if (list === undefined) this.small.set(e.bucket, (list = []));
        // Kept past this chunk, whose buffers the caller may reuse: copied.
        list.push({ bucket: e.bucket, key: Buffer.from(e.key), value: Buffer.from(e.value) });
      }
    }
  }

  /** finish writes the buckets still to come (every one is then written and closed). */
  finish(): void {
    this.closeOpen();
    while (this.next < ETCD_BUCKETS.length) this.writeSmall(ETCD_BUCKETS[this.next++]!);
  }

  /** moveTo makes streamed bucket the open one, writing the buckets before it. */
  private moveTo(bucket: EtcdBucket, at: Buffer): void {
    this.closeOpen();
    for (;;) {
      const name = ETCD_BUCKETS[this.next];
      if (name === undefined || name > bucket) throw new Error(`etcd format: backend scan out of order at ${at.toString("hex")} (bucket ${bucket} was written already)`);
      this.next++;
      if (name === bucket) {
        this.sink.openBucket(BUCKET_NAMES.get(name)!);
        this.open = name;
        return;
      }
      this.writeSmall(name);
    }
  }

  private closeOpen(): void {
    if (this.open === undefined) return;
    this.sink.closeBucket();
    this.open = undefined;
  }

  /** writeSmall writes a bucket whole: a collected one sorted, a streamed one that got no entry empty. */
  private writeSmall(name: EtcdBucket): void {
    const list = this.small.get(name) ?? [];
    this.small.delete(name);
    list.sort((a, b) => Buffer.compare(a.key, b.key));
    for (let i = 1; i < list.length; i++) {
      if (list[i - 1]!.key.equals(list[i]!.key)) throw new Error(`etcd format: duplicate key ${list[i]!.key.toString("hex")} in bucket ${name}`);
    }
    this.sink.openBucket(BUCKET_NAMES.get(name)!);
    for (const e of list) this.sink.put(e.key, e.value);
    this.sink.closeBucket();
  }
}

/** mapBackendEntry maps one backend record to etcd's entries (the member list to several). */
function mapBackendEntry(k: Buffer, v: Buffer): EtcdEntry[] {
  if (startsWith(k, KEY_PREFIX)) return [{ bucket: "key", key: toEtcdRevisionKey(k), value: v }];
  if (startsWith(k, LEASE_PREFIX)) {
    if (k.length !== LEASE_PREFIX.length + 8) throw new Error(`etcd format: malformed lease key ${k.toString("hex")}`);
    return [{ bucket: "lease", key: k.subarray(LEASE_PREFIX.length), value: v }];
  }
  if (startsWith(k, AUTH_USERS_PREFIX)) return [{ bucket: "authUsers", key: k.subarray(AUTH_USERS_PREFIX.length), value: v }];
  if (startsWith(k, AUTH_ROLES_PREFIX)) return [{ bucket: "authRoles", key: k.subarray(AUTH_ROLES_PREFIX.length), value: v }];
  if (startsWith(k, AUTH_PREFIX)) {
    const name = k.subarray(AUTH_PREFIX.length);
    if (!AUTH_KEYS.has(name.toString("latin1"))) throw new Error(`etcd format: unknown auth key ${k.toString()}`);
    return [{ bucket: "auth", key: name, value: v }];
  }
  if (startsWith(k, ALARM_PREFIX)) {
    const m = decodeAlarmKey(k);
    return [{ bucket: "alarm", key: Buffer.from(etcdserverpb.AlarmMember.encode(m).finish()), value: Buffer.alloc(0) }];
  }
  if (k.equals(MEMBERSHIP_KEY)) return membershipEntries(Membership.decode(v));
  if (k.equals(consistentIndexKey)) return [{ bucket: "meta", key: CONSISTENT_INDEX, value: v }];
  const meta = toEtcdMeta(k, v);
  if (meta !== undefined) return [{ bucket: "meta", key: meta.key, value: meta.value }];
  throw new Error(`etcd format: backend key ${JSON.stringify(k.toString("latin1"))} has no place in etcd's buckets`);
}

/** membershipEntries renders the member list as etcd's cluster, members and members_removed buckets. */
export function membershipEntries(ms: Membership): EtcdEntry[] {
  const out: EtcdEntry[] = [];
  if (ms.clusterVersion !== undefined) out.push({ bucket: "cluster", key: CLUSTER_VERSION_KEY, value: Buffer.from(ms.clusterVersion) });
  for (const m of ms.members.values()) out.push({ bucket: "members", key: memberKey(m.id), value: memberJson(m) });
  for (const id of ms.removed) out.push({ bucket: "members_removed", key: memberKey(id), value: REMOVED });
  return out;
}

/**
 * EtcdImport turns etcd's buckets into backend records: `add` each entry (any order), then
 * `membership` for the member list etcd's members buckets held (the caller decides whether it
 * is the one to keep: etcd 3.4's own record of the members is its v2 store). Entries etcd-ts
 * has no use for (such as etcd 3.5's `meta` keys `term` and `confState`) are counted in
 * `skipped`, never turned into records.
 */
export class EtcdImport {
  private readonly members = new Map<bigint, Member>();
  private readonly removed = new Set<bigint>();
  private clusterVersion: string | undefined;
  /** skipped names each entry left out, as bucket/key. */
  readonly skipped: string[] = [];

  /** add maps one entry; it returns the backend records to write (none for the member list, kept until `membership`). */
  add(bucket: string, key: Buffer, value: Buffer): WriteOp[] {
    const put = (k: Buffer): WriteOp[] => [{ type: "put", key: k, value: Buffer.from(value) }];
    switch (bucket) {
      case "key":
        return put(fromEtcdRevisionKey(key));
      case "lease":
        if (key.length !== 8) throw new Error(`etcd format: malformed lease key ${key.toString("hex")}`);
        return put(Buffer.concat([LEASE_PREFIX, key]));
      case "authUsers":
        return put(Buffer.concat([AUTH_USERS_PREFIX, key]));
      case "authRoles":
        return put(Buffer.concat([AUTH_ROLES_PREFIX, key]));
      case "auth":
        if (!AUTH_KEYS.has(key.toString("latin1"))) break;
        return put(Buffer.concat([AUTH_PREFIX, key]));
      case "alarm": {
        const m = etcdserverpb.AlarmMember.decode(key);
        return [{ type: "put", key: alarmKey(m.memberID, m.alarm), value: Buffer.alloc(0) }];
      }
      case "meta": {
        if (key.equals(CONSISTENT_INDEX)) {
          if (value.length !== 8) throw new Error(`etcd format: malformed consistent_index ${value.toString("hex")}`);
          return put(consistentIndexKey);
        }
        const m = fromEtcdMeta(key, value);
        if (m === undefined) break;
        return [{ type: "put", key: m.key, value: m.value }];
      }
      case "members": {
        const m = parseMemberJson(key, value);
        this.members.set(m.id, m);
        return [];
      }
      case "members_removed":
        this.removed.add(BigInt(`0x${key.toString()}`));
        return [];
      case "cluster":
        if (!key.equals(CLUSTER_VERSION_KEY)) break;
        this.clusterVersion = value.toString();
        return [];
    }
    this.skipped.push(`${bucket}/${key.toString("latin1")}`);
    return [];
  }

  /** membership is the member list the members buckets held (cluster ID as given: etcd's buckets do not hold it). */
  membership(clusterId: bigint): Membership {
    const ms = new Membership(clusterId, new Map(this.members));
    for (const id of this.removed) ms.removed.add(id);
    ms.clusterVersion = this.clusterVersion;
    return ms;
  }
}
