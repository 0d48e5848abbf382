/**
 * Where a shard task's records come from, one of two readers with the same contract:
 * - enhanced fan-out (common/src/fanout-reader.ts), the default against AWS: SubscribeToShard
 *   through the registered stream consumer, a dedicated 2 MiB/s per shard, records pushed as they
 *   arrive (~70 ms), renewed every 5 minutes from the last continuation;
 * - GetRecords polling (common/src/shard-reader.ts), the fallback and the emulators' path, the
 *   way the Kinesis Client Library polls, sharing the shard's 5 calls/s and 2 MiB/s with every
 *   other polling reader (Firehose among them).
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { ShardReader, type ShardBatch, type StartPosition } from '../../../common/src/shard-reader.js';
import { FanOutShardReader } from '../../../common/src/fanout-reader.js';
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
  /** Read by enhanced fan-out through this consumer (KINESIS_READ); polling when absent. */
  fanOut?: { client: KinesisClient; consumerArn: string };
}

export function openShardSource(d: ShardSourceDeps, shardId: string, start: StartPosition, signal: AbortSignal): ShardSource {
  if (d.fanOut) {
    return new FanOutShardReader(d.fanOut.client, d.fanOut.consumerArn, shardId, start, {
      signal,
      now: d.monotonic,
      onRetry: (info) => {
        if (info.reason === 'unavailable') d.dependencies?.down('kinesis', info.error);
        d.log.warn({ shardId, reason: info.reason, delayMs: info.delayMs, err: info.error }, 'SubscribeToShard retry');
      },
    });
  }
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
