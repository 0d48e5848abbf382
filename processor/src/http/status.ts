/**
 * What the processor tells the HTTP server about itself. main.ts builds a `ProcessorStatus` on
 * demand from the shard tasks; the server only reads it and never holds state of its own.
 */

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
}

export interface ProcessorStatus {
  /** Every shard this process should own: the open shards it holds a lease on or is taking. */
  readonly shards: readonly ShardStatus[];
  /** Wall-clock now, epoch ms, from the same clock the processor uses. */
  readonly nowMs: number;
  /** True once shutdown has begun (SIGTERM): the process is draining. */
  readonly shuttingDown: boolean;
}
