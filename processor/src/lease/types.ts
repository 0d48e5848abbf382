/**
 * The lease table's contract: one item per shard, with the Kinesis Client Library's attribute names
 * so that KCL's tooling and an operator who knows KCL read it the same way. See docs/leases.md.
 */

/** Checkpoint sentinels, as KCL writes them; any other checkpoint value is a sequence number. */
export const TRIM_HORIZON = 'TRIM_HORIZON';
export const LATEST = 'LATEST';
export const AT_TIMESTAMP = 'AT_TIMESTAMP';
/** The shard was read to its end and its last records were processed: the lease is finished. */
export const SHARD_END = 'SHARD_END';

/** Where a new lease starts when nobody has checkpointed it yet. */
export type InitialPosition = typeof TRIM_HORIZON | typeof LATEST | typeof AT_TIMESTAMP;

/** Attribute names, as stored. */
export const ATTR = {
  key: 'leaseKey',
  owner: 'leaseOwner',
  counter: 'leaseCounter',
  checkpoint: 'checkpoint',
  ownerSwitches: 'ownerSwitchesSinceCheckpoint',
  parents: 'parentShardId',
  children: 'childShardIds',
  watermark: 'checkpointWatermarkMs',
  checkpointAt: 'checkpointAt',
  stateId: 'checkpointStateId',
} as const;

/** One lease as read from the table. */
export interface Lease {
  /** The shard id. */
  readonly leaseKey: string;
  /** The worker holding the lease; undefined when it is free (never taken, or released). */
  readonly leaseOwner: string | undefined;
  /** Moves on every change (renew, take, steal, checkpoint, release): the lease's version. */
  readonly leaseCounter: number;
  /** A sequence number, or one of the sentinels above. */
  readonly checkpoint: string;
  readonly ownerSwitchesSinceCheckpoint: number;
  readonly parentShardIds: readonly string[];
  /** Set once the shard is closed and its children are known. */
  readonly childShardIds: readonly string[];
  /** The shard's event-time watermark when the checkpoint was written. */
  readonly checkpointWatermarkMs: number | undefined;
  /** Epoch ms of the checkpoint, to rebuild state from the point in time it describes. */
  readonly checkpointAtMs: number | undefined;
  /**
   * The local state the checkpoint was taken from (ShardCheckpoint.stateId of the worker that
   * wrote it). A worker whose own state has this id and is at or past the checkpoint continues
   * it exactly, so it need not rebuild (see source/restore.ts).
   */
  readonly checkpointStateId: string | undefined;
}

export function isFinished(lease: Lease): boolean {
  return lease.checkpoint === SHARD_END;
}

/**
 * A caller's own condition for taking a lease, on top of the parent rule (`rebalance(readable)`):
 * given the lease and the whole table as the scan saw it.
 */
export type Readable = (lease: Lease, table: ReadonlyMap<string, Lease>) => boolean;

/** What `checkpoint()` writes. */
export interface CheckpointInput {
  /** The last sequence number processed, or SHARD_END once the shard's end was processed. */
  sequenceNumber: string;
  watermarkMs: number;
  checkpointAtMs: number;
  /** The id of the local state this checkpoint was taken from (Lease.checkpointStateId). */
  stateId?: string;
  /**
   * The `leaseCounter` of the lease as 'acquired' handed it to the shard task. Each acquisition
   * writes a new counter value, so this names the tenure: a task of an earlier tenure of the same
   * lease (lost, then won back) is refused even though this worker holds the lease again.
   */
  acquiredCounter?: number;
}

export type LostReason =
  /** A renewal found another counter or owner: someone took the lease. */
  | 'renew-conflict'
  /** A checkpoint found another counter or owner (the fence). */
  | 'checkpoint-conflict'
  /** No renewal succeeded for failoverTimeMs: others may take it now. */
  | 'expired';

/** Typed events; metrics and the shard runtime subscribe. */
export interface LeaseEvents {
  /** A lease was won; `how` says whether it was free/expired ('take') or taken from a live worker ('steal'). */
  acquired: [lease: Lease, how: 'take' | 'steal'];
  /** The lease is no longer ours: stop the shard now. Not emitted for release() or a finished shard. */
  lost: [shardId: string, reason: LostReason];
  /** This worker stole `lease` from `from` to even the spread (also emitted as 'acquired'). */
  stolen: [lease: Lease, from: string];
  /** A renewal failed for another reason than a conflict (throttling, network); the lease is kept for now. */
  renewFailed: [shardId: string, error: unknown];
  /** A rebalance round (a scan of the table) worked (start() only). */
  reachable: [];
  /** A rebalance round failed after its retries: the table does not answer (start() only). */
  unreachable: [error: unknown];
  /** A housekeeping round deleted these finished leases (start() only; often none). */
  cleaned: [shardIds: string[]];
}

export interface LeaseCounters {
  /** Leases held now. */
  leasesHeld: number;
  /** Leases won that were free or expired. */
  takes: number;
  /** Leases won from a live worker. */
  steals: number;
  /** Renewals failed for another reason than a conflict. */
  renewFailures: number;
  /** Leases lost (any reason). */
  lost: number;
}
