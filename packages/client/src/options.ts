/** ClientOptions configures a Client. Durations are in milliseconds. */
export interface ClientOptions {
  /**
   * endpoints are tried in order: "host:port", "http://host:port" or "https://host:port".
   * http:// dials in plain text, https:// with TLS; a bare host:port uses TLS when `tls` is set.
   */
  endpoints: string[];
  /**
   * dialTimeoutMs bounds how long a call waits for a connection to some endpoint when it has
   * no deadline of its own (default 2000).
   */
  dialTimeoutMs?: number;
  /**
   * autoSyncIntervalMs makes the client replace its endpoints with the client URLs of the
   * cluster's members every this many milliseconds (etcd's AutoSyncInterval; 0 or unset:
   * never). Client.sync() does it once.
   */
  autoSyncIntervalMs?: number;
  /** keepAliveTimeMs is the interval of HTTP/2 keepalive pings (default: no pings). */
  keepAliveTimeMs?: number;
  /** keepAliveTimeoutMs is how long a ping may go unanswered before the connection is dropped. */
  keepAliveTimeoutMs?: number;
  /** tls configures TLS for https:// endpoints and, when set, for bare host:port ones. */
  tls?: TLSOptions;
  /**
   * username and password, when both are non-empty, are the credentials the client
   * authenticates with before its first call; every call then carries the token etcd returns
   * (gRPC metadata "token"). A server with authentication disabled is called without a token.
   */
  username?: string;
  password?: string;
}

/** Credentials are a user name and password to authenticate with. */
export interface Credentials {
  username: string;
  password: string;
}

/**
 * TLSOptions are the client's TLS settings; every buffer is PEM. Without `ca` the server
 * certificate is checked against Node's default roots.
 */
export interface TLSOptions {
  /** ca holds the certificates that may sign the server certificate. */
  ca?: Buffer;
  /** cert is the client certificate chain presented to servers that ask for one (needs key). */
  cert?: Buffer;
  /** key is the private key of cert. */
  key?: Buffer;
  /**
   * insecureSkipVerify accepts any server certificate: neither its signer nor its host name
   * is checked (the connection is encrypted but not authenticated). For testing only.
   */
  insecureSkipVerify?: boolean;
  /**
   * serverName is the name the server certificates must be valid for, in place of each
   * endpoint's host (Go's tls.Config.ServerName; etcdctl sets it to the domain of its DNS
   * discovery).
   */
  serverName?: string;
}

/** CallOptions are per-call settings. */
export interface CallOptions {
  /** timeoutMs is the deadline of the whole call including failover and retries. */
  timeoutMs?: number;
  /**
   * signal aborts the call: it rejects with a local CANCELLED error ("client: canceled by the
   * caller"), whether or not the server has received it.
   */
  signal?: AbortSignal;
}
