/**
 * One owned shard as /health, /ready and metrics see it: read from its task (ShardTask.status())
 * or, while no task runs, from its watch alone (ShardCoordinator.status()).
 */
import type { ShardState } from './lifecycle.js';
import type { ShardProgress } from './shard-watch.js';

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
