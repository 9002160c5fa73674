import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** REPO is the repository root (this file is packages/test-kit/{src,dist}/paths). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The built bins of etcd-ts and etcdctl-ts (run them with node). */
export const ETCD_TS_BIN = join(REPO, "apps", "server", "bin", "etcd-ts.js");
export const ETCDCTL_TS_BIN = join(REPO, "apps", "etcdctl", "bin", "etcdctl-ts.js");
/** The real etcd and etcdctl 3.4 from Debian's etcd-server and etcd-client packages. */
export const REAL_ETCD = process.env["REAL_ETCD_BIN"] ?? "/usr/bin/etcd";
export const REAL_ETCDCTL = process.env["REAL_ETCDCTL_BIN"] ?? "/usr/bin/etcdctl";
