/**
 * State follows the shard: a worker that gains a shard whose state it does not hold rebuilds it by
 * replaying the shard itself. Kinesis keeps 24 h and the widest window is 60 min, so the records
 * from (checkpoint time − 60 min − margin) up to the checkpoint are enough.
 *
 * The replay runs the same engine over the same records and lets what falls due go without
 * building it (ShardEngine.skipDue): the previous owner emitted all of it before its checkpoint.
 * At the end the watermark is raised to the checkpoint's (the previous owner may have advanced it
 * on the wall clock while idle, which a replay cannot see) and what that makes due goes too. The replay's watermark
 * is never above the previous owner's at the same record, so a payment the previous owner held
 * is held here too, and one it alerted is alerted (and discarded) here: the rebuilt state is the
 * previous owner's state at its checkpoint.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { ShardReader } from '../../../common/src/shard-reader.js';
import { ShardEngine, type EngineConfig } from '../engine/index.js';
import { classifyKinesisRecord, type ClassifyOptions } from './classify.js';
import type { StolenCards } from './stolen-cards.js';

/** Replay starts this long before (checkpoint time − 60 min): producers' clocks and delivery delay. */
export const REBUILD_MARGIN_MS = 5 * 60_000;

export interface RebuildOptions {
  kinesis: KinesisClient;
  stream: string;
  shardId: string;
  /** Replay from AT_TIMESTAMP this instant (epoch ms); absent: from the shard's beginning. */
  fromMs?: number;
  /** State to start from (a child's share of its parents' state); absent: empty. */
  initial?: ReadonlyArray<readonly [string, unknown]>;
  /** Replay up to and including this record, or to the end of a closed shard. */
  until: { sequenceNumber: string } | 'SHARD_END';
  /** The previous owner's watermark at its checkpoint (null: it had none). */
  watermarkMs: number | null;
  stolen: StolenCards;
  engineConfig: Partial<EngineConfig>;
  maxRecordBytes: number;
  maxClockSkewMs?: number;
  getRecordsLimit: number;
  pollIntervalMs: number;
  /** Only records whose partition key passes are replayed (a child keeps its hash range). */
  keep?: (partitionKey: string) => boolean;
  signal?: AbortSignal;
  now?: () => number;
  /** Called after each replayed batch (progress, for the shard's watch). */
  onBatch?: (replayed: number) => void;
}

export interface RebuildResult {
  engine: ShardEngine;
  /** Every state entry of the rebuilt engine (the initial state with the replay's changes applied). */
  entries: Array<[string, unknown]>;
  replayed: number;
  durationMs: number;
  /** The part of durationMs spent reading and applying records (not restoring or snapshotting state). */
  replayMs: number;
  /** False when aborted before reaching the checkpoint. */
  complete: boolean;
}


export async function rebuildEngine(o: RebuildOptions): Promise<RebuildResult> {
  const now = o.now ?? Date.now;
  const started = performance.now();
  const engine = o.initial ? ShardEngine.restore(o.initial, o.engineConfig) : new ShardEngine(o.engineConfig);
  const replayStarted = performance.now();
  const until = o.until === 'SHARD_END' ? undefined : BigInt(o.until.sequenceNumber);
  const start = o.fromMs === undefined ? ({ type: 'TRIM_HORIZON' } as const) : ({ type: 'AT_TIMESTAMP', timestampMs: o.fromMs } as const);
  const reader = new ShardReader(o.kinesis, o.stream, o.shardId, start, {
    ...(o.signal ? { signal: o.signal } : {}),
    limit: o.getRecordsLimit,
    minCallIntervalMs: o.pollIntervalMs,
  });
  let replayed = 0;
  let complete = false;
  while (!o.signal?.aborted) {
    const batch = await reader.next();
    const options: ClassifyOptions = { maxRecordBytes: o.maxRecordBytes, nowMs: now(), stolen: o.stolen, ...(o.maxClockSkewMs === undefined ? {} : { maxClockSkewMs: o.maxClockSkewMs }) };
    for (const record of batch.records) {
      if (until !== undefined && BigInt(record.SequenceNumber!) > until) {
        complete = true;
        break;
      }
      if (o.keep && !o.keep(record.PartitionKey ?? '')) continue;
      replayed++;
      // The live task's decisions, made again from the same record: its skew, key and stolen verdicts.
      const c = classifyKinesisRecord(record, options);
      if (c.kind === 'payment') engine.onPayment(c.event, true, c.eventTimeMs);
      else if (c.kind === 'not_stolen') engine.onNotStolenPayment(c.eventTimeMs);
      else if (c.kind === 'clock_ahead' && c.event) engine.onClockAheadPayment(c.event, c.eventTimeMs, c.arrivalMs);
    }
    engine.skipDue();
    o.onBatch?.(replayed);
    const last = batch.records.at(-1)?.SequenceNumber;
    if (until !== undefined && last !== undefined && BigInt(last) >= until) complete = true;
    if (complete || batch.end) {
      complete = true;
      break;
    }
    // Caught up without meeting the checkpoint: the record is gone (trimmed); what is here is all.
    if (batch.records.length === 0 && batch.millisBehindLatest === 0) {
      complete = true;
      break;
    }
  }
  if (o.watermarkMs !== null && complete) {
    const c = engine.config;
    // An idle advance to exactly the checkpoint's watermark: "now − idle lag" = watermarkMs.
    engine.onIdle({ nowMs: o.watermarkMs + c.idleLagMs, caughtUp: true, lastProgressAtMs: Number.MIN_SAFE_INTEGER });
    engine.skipDue();
  }
  const replayMs = performance.now() - replayStarted;
  // The rebuilt state is written whole (engine.entries()), so its pending changes are moot.
  engine.discardChanges();
  return { engine, entries: [...engine.entries()], replayed, durationMs: performance.now() - started, replayMs, complete };
}

