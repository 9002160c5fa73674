/**
 * Backend keys every store shares. A store's keys live under its own prefix (mvcc under
 * "key/" and "meta/", membership under "cluster/"), like etcd's bbolt buckets.
 */

/**
 * consistentIndexKey holds the raft index of the last entry whose changes the backend holds
 * (8 bytes big-endian), written in the same batch as those changes. Hashes of the backend
 * ignore it, as etcd's do.
 */
export const consistentIndexKey = Buffer.from("meta/consistent_index");
