/**
 * The lease manager's options: defaults beside them, and the cross-field rules the safety argument
 * rests on (manager.ts, docs/leases.md), checked once at construction.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from 'pino';
import type { RetryPolicy } from './dynamo.js';
import { TRIM_HORIZON, type InitialPosition } from './types.js';

export const DEFAULT_FAILOVER_TIME_MS = 10_000;
export const DEFAULT_FINISHED_RETENTION_MS = 65 * 60_000;

export interface LeaseManagerOptions {
  dynamo: DynamoDBClient;
  /** The lease table's name (one table per application and stream). */
  table: string;
  /** Unique per process (e.g. host + pid + random); two processes with one id would share leases. */
  workerId: string;
  /** How long a lease's counter must stand still before others may take it. Default 10 000 ms. */
  failoverTimeMs?: number;
  /** Default failoverTimeMs / 3: two renewals may fail before a lease stops being safe. */
  renewIntervalMs?: number;
  /** isSafe turns false this long before others may take the lease. Default failoverTimeMs / 5. */
  safetyMarginMs?: number;
  /** Checkpoint of a new lease for a shard without parents. Default TRIM_HORIZON; children always start at TRIM_HORIZON. */
  initialPosition?: InitialPosition;
  /**
   * A finished lease (SHARD_END) is deleted once every child has a checkpoint written this long
   * after the parent's end (see cleanupFinished). Default 65 minutes: a child's rebuild replays
   * from its checkpoint − 60 min − 5 min, and until then it may need its parents' state.
   */
  finishedRetentionMs?: number;
  /**
   * Local clock, ms; only differences of it are used. Give it a monotonic clock (performance.now):
   * a wall-clock step would otherwise stretch or shrink every duration the safety argument
   * rests on (a step back keeps an unrenewed lease "safe" too long, a step forward makes live
   * workers' leases look expired).
   */
  now: () => number;
  random?: () => number;
  /** DynamoDB retries for throttling and network errors (attempts, backoff). */
  retry?: Partial<RetryPolicy>;
  log: Logger;
}

export interface ResolvedLeaseOptions {
  readonly failoverTimeMs: number;
  readonly renewIntervalMs: number;
  readonly safetyMarginMs: number;
  readonly initialPosition: InitialPosition;
}

/** Defaults filled in and cross-field rules checked once, at construction. */
export function resolveLeaseOptions(
  o: Pick<LeaseManagerOptions, 'failoverTimeMs' | 'renewIntervalMs' | 'safetyMarginMs' | 'initialPosition'>,
): ResolvedLeaseOptions {
  const failoverTimeMs = o.failoverTimeMs ?? DEFAULT_FAILOVER_TIME_MS;
  const renewIntervalMs = o.renewIntervalMs ?? Math.floor(failoverTimeMs / 3);
  const safetyMarginMs = o.safetyMarginMs ?? Math.floor(failoverTimeMs / 5);
  const problems: string[] = [];
  if (!(failoverTimeMs > 0)) problems.push(`failoverTimeMs must be > 0 (got ${failoverTimeMs})`);
  if (!(safetyMarginMs > 0 && safetyMarginMs < failoverTimeMs)) problems.push(`safetyMarginMs must be in (0, failoverTimeMs) (got ${safetyMarginMs})`);
  // Renewing less often than the safe window would let a healthy lease turn unsafe between renewals.
  if (!(renewIntervalMs > 0 && renewIntervalMs < failoverTimeMs - safetyMarginMs)) {
    problems.push(`renewIntervalMs must be in (0, failoverTimeMs - safetyMarginMs) (got ${renewIntervalMs})`);
  }
  if (problems.length > 0) throw new RangeError(`lease manager: ${problems.join('; ')}`);
  return Object.freeze({ failoverTimeMs, renewIntervalMs, safetyMarginMs, initialPosition: o.initialPosition ?? TRIM_HORIZON });
}
