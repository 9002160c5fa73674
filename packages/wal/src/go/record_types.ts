/**
 * GO_WAL_RECORD_TYPES are the walpb.Record types of Go etcd 3.4's WAL (wal/wal.go):
 * - metadata: data is the WAL's metadata (etcd: a marshaled etcdserverpb.Metadata); the
 *   second record of every file.
 * - entry: data is a marshaled raftpb.Entry.
 * - state: data is a marshaled raftpb.HardState.
 * - crc: no data; crc is the running CRC the previous file ended with (0 in the first file).
 *   The first record of every file.
 * - snapshot: data is a marshaled walpb.Snapshot {index, term}.
 */
export const GO_WAL_RECORD_TYPES = {
  metadata: 1,
  entry: 2,
  state: 3,
  crc: 4,
  snapshot: 5,
} as const;

/** GoWalRecordType is one of the GO_WAL_RECORD_TYPES values. */
export type GoWalRecordType = (typeof GO_WAL_RECORD_TYPES)[keyof typeof GO_WAL_RECORD_TYPES];
