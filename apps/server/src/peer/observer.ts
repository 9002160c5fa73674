/**
 * PeerObserver is told what the peer transport exchanges with each peer (the metrics
 * implement it): payload bytes sent and received per peer ID, and measured round trips.
 */
export interface PeerObserver {
  /** sent: `bytes` of raft messages went to peer `to` (a frame queued on its stream, or a POSTed batch it accepted). */
  sent(to: bigint, bytes: number): void;
  /** received: `bytes` of raft messages came from peer `from`. */
  received(from: bigint, bytes: number): void;
  /** sendFailed: messages for peer `to` were dropped (no connection, its buffer full, or a POST that failed). */
  sendFailed(to: bigint): void;
  /** roundTrip: a request to peer `to` was answered `seconds` after it was sent. */
  roundTrip(to: bigint, seconds: number): void;
}
