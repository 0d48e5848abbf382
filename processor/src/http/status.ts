/**
 * What the processor tells the HTTP server about itself. main.ts builds a `ProcessorStatus` on
 * demand from the shard tasks; the server only reads it and never holds state of its own.
 */
import type { DependencyState } from '../dependencies.js';
import type { ShardProgress } from '../source/shard-watch.js';

export type { DependencyState, ShardProgress };

/**
 * A shard task's lifecycle, as in Kafka Streams' Task.State: CREATED → RESTORING (loading state
 * and checkpoint) → RUNNING (reading and emitting) → CLOSED (lease lost, shard ended, shutdown).
 */
export const SHARD_STATES = ['CREATED', 'RESTORING', 'RUNNING', 'CLOSED'] as const;
export type ShardState = (typeof SHARD_STATES)[number];

export interface ShardStatus {
  readonly shardId: string;
  readonly state: ShardState;
  /** The shard's event-time watermark, epoch ms; null before the first record. */
  readonly watermarkMs: number | null;
  /** True when the last read returned nothing new: no records means no watermark progress. */
  readonly idle: boolean;
  /** From the last GetRecords; 0 means caught up with the shard's tip. */
  readonly millisBehindLatest: number;
  /**
   * How far behind the tip the shard may be now, ms: the last read's MillisBehindLatest, plus the
   * time since that read once it is over a second old (it keeps growing while the shard is not
   * read). null before the first read.
   */
  readonly behindLatestMs: number | null;
  /** Steps, commits and failures, from the shard's watch; `stuck` says why /health fails. */
  readonly progress: ShardProgress;
}

export interface ProcessorStatus {
  /** Every shard this process should own: the open shards it holds a lease on or is taking. */
  readonly shards: readonly ShardStatus[];
  /** Wall-clock now, epoch ms, from the same clock the processor uses. */
  readonly nowMs: number;
  /** True once shutdown has begun (SIGTERM): the process is draining. */
  readonly shuttingDown: boolean;
  /** Every dependency and whether it answers now. */
  readonly dependencies: readonly DependencyState[];
  /** While start-up waits for something (the state store, the lease table), what it waits for. */
  readonly starting?: string;
}
