/**
 * Logger is the sink for raft's log lines. raft logs only on rare events (elections, role
 * changes, membership changes, snapshots, rejected proposals), never per entry or per
 * message on the replication hot path.
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** discardLogger drops every line; it is the default. */
export const discardLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
