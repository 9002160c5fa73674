/**
 * @etcd-ts/lease is etcd's lessor: lease grant, revoke, renew, the expiry queue and the
 * remaining-TTL checkpoints, persisted in the member's batch transaction. It owns no timers:
 * the server polls it and proposes what it reports (see Lessor).
 */
export {
  Lessor,
  MAX_LEASE_TTL,
  DEFAULT_EXPIRED_RETRY_MS,
  DEFAULT_REVOKE_RATE,
  leaseKey,
  type Lease,
  type LeaseCheckpoint,
  type LeaseTimeToLive,
  type LessorOptions,
} from "./lessor.js";
export { LEASE_PREFIX } from "./keys.js";
export { LeaseError, type LeaseErrorCode } from "./errors.js";
