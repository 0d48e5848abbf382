/**
 * What the processor tells the HTTP server about itself. main.ts builds a `ProcessorStatus` on
 * demand from the shard tasks; the server only reads it and never holds state of its own.
 */
import type { DependencyState } from '../dependencies.js';
import type { ShardProgress } from '../source/shard-watch.js';
import type { ShardStatus } from '../source/shard-status.js';

// The shard's lifecycle and status are defined beside the shard task (source/); http only reads them.
export { SHARD_STATES, type ShardState } from '../source/lifecycle.js';
export type { DependencyState, ShardProgress, ShardStatus };

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
