/**
 * Where a shard task's records come from: GetRecords polling (common/src/shard-reader.ts), the
 * way the Kinesis Client Library polls, sharing the shard's 5 calls/s and 2 MiB/s with every other
 * polling reader (Firehose among them).
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { ShardReader, type ShardBatch, type StartPosition } from '../../../common/src/shard-reader.js';
import type { Dependencies } from '../dependencies.js';

/** What the task reads from: batches in shard order, and the last sequence number returned. */
export interface ShardSource {
  next(): Promise<ShardBatch>;
  readonly lastSequenceNumber: string | undefined;
}

export interface ShardSourceDeps {
  kinesis: KinesisClient;
  stream: string;
  log: Logger;
  getRecordsLimit: number;
  pollIntervalMs: number;
  /** A monotonic clock, ms. */
  monotonic: () => number;
  /** Told when Kinesis fails, for /ready and metrics. */
  dependencies?: Dependencies;
}

export function openShardSource(d: ShardSourceDeps, shardId: string, start: StartPosition, signal: AbortSignal): ShardSource {
  return new ShardReader(d.kinesis, d.stream, shardId, start, {
    signal,
    limit: d.getRecordsLimit,
    minCallIntervalMs: d.pollIntervalMs,
    now: d.monotonic,
    // The next batch is read while this one is processed, emitted and committed.
    prefetch: true,
    onRetry: (info) => {
      if (info.reason === 'unavailable') d.dependencies?.down('kinesis', info.error);
      d.log.warn({ shardId, reason: info.reason, delayMs: info.delayMs, err: info.reason === 'unavailable' ? info.error : undefined }, 'GetRecords retry');
    },
  });
}
