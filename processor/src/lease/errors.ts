/**
 * The lease layer's one error. Stable code and retriable flag in the shape of common/src/errors.ts
 * (whose closed code list belongs to another module; LEASE_LOST should join it).
 */

export class LeaseLostError extends Error {
  readonly code = 'LEASE_LOST' as const;
  /** Never: the shard belongs to another worker now; stop it and let the lease manager decide. */
  readonly retriable = false;
  readonly shardId: string;
  constructor(shardId: string, message: string) {
    super(`lease ${shardId}: ${message}`);
    this.name = 'LeaseLostError';
    this.shardId = shardId;
  }
}
