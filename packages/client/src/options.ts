/** ClientOptions configures a Client. Durations are in milliseconds. */
export interface ClientOptions {
  /** endpoints are tried in order: "host:port", "http://host:port" (https is not supported yet). */
  endpoints: string[];
  /**
   * dialTimeoutMs bounds how long a call waits for a connection to some endpoint when it has
   * no deadline of its own (default 2000).
   */
  dialTimeoutMs?: number;
  /** keepAliveTimeMs is the interval of HTTP/2 keepalive pings (default: no pings). */
  keepAliveTimeMs?: number;
  /** keepAliveTimeoutMs is how long a ping may go unanswered before the connection is dropped. */
  keepAliveTimeoutMs?: number;
}

/** CallOptions are per-call settings. */
export interface CallOptions {
  /** timeoutMs is the deadline of the whole call including failover and retries. */
  timeoutMs?: number;
}
