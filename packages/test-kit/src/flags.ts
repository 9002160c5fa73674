/** ServerArgs are the etcd flags a test member is started with. */
export interface ServerArgs {
  name: string;
  dataDir: string;
  /** clientUrl is listened on and advertised. */
  clientUrl: string;
  listenPeerUrl: string;
  /** advertisePeerUrl is what the member announces (a proxy in front of listenPeerUrl, or a URL twins share). */
  advertisePeerUrl: string;
  /** initialCluster is --initial-cluster (default: this member alone). */
  initialCluster?: string;
  /** initialClusterState is --initial-cluster-state ("existing" to join a running cluster). */
  initialClusterState?: "new" | "existing";
  /** extraFlags are more etcd flags (TLS files, --initial-cluster-token, ...). */
  extraFlags?: readonly string[];
}

/** etcdFlags renders ServerArgs as etcd command-line flags, which etcd-ts takes too. */
export function etcdFlags(a: ServerArgs): string[] {
  return [
    "--name", a.name,
    "--data-dir", a.dataDir,
    "--listen-client-urls", a.clientUrl,
    "--advertise-client-urls", a.clientUrl,
    "--listen-peer-urls", a.listenPeerUrl,
    "--initial-advertise-peer-urls", a.advertisePeerUrl,
    "--initial-cluster", a.initialCluster ?? `${a.name}=${a.advertisePeerUrl}`,
    ...(a.initialClusterState !== undefined ? ["--initial-cluster-state", a.initialClusterState] : []),
    ...(a.extraFlags ?? []),
  ];
}
