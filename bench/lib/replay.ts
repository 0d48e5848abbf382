/** The real rebuild path (processor/src/source/rebuild.ts) over a stand-in shard read to its end. */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { rebuildEngine, type RebuildResult } from '../../processor/src/source/rebuild.js';
import type { StolenCards } from '../../processor/src/source/stolen-cards.js';

export const BENCH_SHARD = 'shardId-000000000000';

export function replayShard(kinesis: KinesisClient, stolen: StolenCards, initial?: Array<[string, unknown]>): Promise<RebuildResult> {
  return rebuildEngine({
    kinesis,
    stream: 'bench',
    shardId: BENCH_SHARD,
    ...(initial ? { initial } : {}),
    until: 'SHARD_END',
    watermarkMs: null,
    stolen,
    engineConfig: {},
    maxRecordBytes: 64 * 1024,
    getRecordsLimit: 10_000,
    pollIntervalMs: 0,
  });
}
