/**
 * The console's own consumer of the output stream, every shard read from BACKFILL_MS ago at start so
 * that a restarted console shows the last minutes again, by one of the processor's two readers:
 * - enhanced fan-out (common/src/fanout-reader.ts) through its own registered stream consumer, the
 *   default in AWS: its own 2 MiB/s per shard, and none of the shard's 5 GetRecords calls/s, which
 *   the processor (2/s) and Firehose (1/s) already use;
 * - GetRecords polling (ShardReader), against an emulator, paced at one call per second per shard. Alerts and summaries go into the view; everything else on the stream (locally,
 * the payments themselves) is skipped before it is decoded. New shards (a reshard) are found by
 * listing the stream again every LIST_EVERY_MS. It never touches the processor or its state.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import { decodeRecord, type AlertEvent, type SummaryEvent } from '../../common/src/events.js';
import { FanOutShardReader } from '../../common/src/fanout-reader.js';
import { listAllShards, ShardReader, type ShardRecordSource } from '../../common/src/shard-reader.js';
import { sleep } from '../../common/src/retry.js';
import type { ConsoleView } from './view.js';

export const BACKFILL_MS = 10 * 60_000;
const LIST_EVERY_MS = 30_000;
const CALL_INTERVAL_MS = 1_000;

const ALERT = Buffer.from('"PAYMENT_ALERT');

export interface FeedOptions {
  client: KinesisClient;
  stream: string;
  view: ConsoleView;
  log: Logger;
  signal: AbortSignal;
  now?: () => number;
  /** Read by enhanced fan-out through this registered consumer; GetRecords polling when absent. */
  fanOut?: { client: KinesisClient; consumerArn: string };
  /**
   * Told after every outcome: readable after a listing or a read that worked, not readable (with
   * why) after one that failed or a wait because Kinesis does not answer. main.ts turns it into /health.
   */
  onState?: (state: { readable: true } | { readable: false; error: string }) => void;
}

/** What one output record is to the view, by its bytes. */
export function applyRecord(view: ConsoleView, data: Uint8Array): 'alert' | 'summary' | 'other' {
  // Both output types start with "PAYMENT_ALERT; payments and rejects never contain it as a type.
  if (Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(ALERT) < 0) return 'other';
  const decoded = decodeRecord(data);
  if (!decoded.ok) return 'other';
  if (decoded.event.event_type === 'PAYMENT_ALERT') {
    view.addAlert(decoded.event as AlertEvent);
    return 'alert';
  }
  if (decoded.event.event_type === 'PAYMENT_ALERT_SUMMARY') {
    view.setSummary(decoded.event as SummaryEvent);
    return 'summary';
  }
  return 'other';
}

/** The feed's last outcome, for /health: down since its first failure after a success. */
export class FeedState {
  #down: { error: string; sinceMs: number } | undefined;
  readonly #now: () => number;
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }
  readonly set = (state: { readable: true } | { readable: false; error: string }): void => {
    if (state.readable) this.#down = undefined;
    else this.#down = { error: state.error, sinceMs: this.#down?.sinceMs ?? this.#now() };
  };
  down(): { error: string; forSeconds: number } | undefined {
    return this.#down && { error: this.#down.error, forSeconds: Math.round((this.#now() - this.#down.sinceMs) / 100) / 10 };
  }
}

/** Reads until `signal` aborts. */
export async function runFeed(o: FeedOptions): Promise<void> {
  const now = o.now ?? Date.now;
  const startMs = now() - BACKFILL_MS;
  const reading = new Map<string, Promise<void>>();
  while (!o.signal.aborted) {
    try {
      const shards = await listAllShards(o.client, o.stream);
      for (const shard of shards) {
        const id = shard.ShardId as string;
        if (reading.has(id)) continue;
        reading.set(id, readShard(o, id, startMs));
      }
      o.onState?.({ readable: true });
    } catch (error) {
      o.log.warn({ err: (error as Error).message, stream: o.stream }, 'cannot list the output stream; retrying');
      o.onState?.({ readable: false, error: `listing the shards: ${(error as Error).message}` });
    }
    await sleep(LIST_EVERY_MS, o.signal).catch(() => undefined);
  }
  await Promise.allSettled(reading.values());
}

function openReader(o: FeedOptions, shardId: string, startMs: number): ShardRecordSource {
  const start = { type: 'AT_TIMESTAMP', timestampMs: startMs } as const;
  const onRetry = ({ reason, delayMs, error }: { reason: string; delayMs: number; error: unknown }) => {
    o.log.debug({ shardId, reason, delayMs }, 'output stream read waits');
    // Throttling is the shard's limits at work; a Kinesis that does not answer is the feed down.
    if (reason === 'unavailable') o.onState?.({ readable: false, error: `reading ${shardId}: ${(error as Error)?.message ?? String(error)}` });
  };
  if (o.fanOut) return new FanOutShardReader(o.fanOut.client, o.fanOut.consumerArn, shardId, start, { signal: o.signal, onRetry });
  return new ShardReader(o.client, o.stream, shardId, start, { minCallIntervalMs: CALL_INTERVAL_MS, signal: o.signal, onRetry });
}

async function readShard(o: FeedOptions, shardId: string, startMs: number): Promise<void> {
  const reader = openReader(o, shardId, startMs);
  while (!o.signal.aborted) {
    let batch;
    try {
      batch = await reader.next();
    } catch (error) {
      if (o.signal.aborted) return;
      o.log.warn({ err: (error as Error).message, shardId }, 'output shard read failed; retrying');
      o.onState?.({ readable: false, error: `reading ${shardId}: ${(error as Error).message}` });
      await sleep(CALL_INTERVAL_MS * 5, o.signal).catch(() => undefined);
      continue;
    }
    o.onState?.({ readable: true });
    for (const record of batch.records) if (record.Data) applyRecord(o.view, record.Data);
    if (batch.end) return;
  }
}
