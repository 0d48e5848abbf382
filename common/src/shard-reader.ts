/**
 * Reads one Kinesis shard with GetRecords polling, the way the Kinesis Client Library does:
 * - at most one call per `minCallIntervalMs` (Kinesis allows 5 GetRecords calls/s per shard);
 * - `ProvisionedThroughputExceededException` (and other throttles) wait with backoff and jitter;
 * - an expired iterator (they live 5 minutes) is replaced by a new one from the last record
 *   returned, so nothing is skipped or read twice;
 * - the endpoint or stream being unavailable is waited out, never fatal;
 * - the shard's end (a closed parent after resharding) is reported once, as `end: true`.
 * Used by the processor's source and by the Firehose stand-in.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type _Record,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { DEFAULT_BACKOFF, backoffDelay, sleep, type BackoffOptions } from './retry.js';
import { awsErrorName, isThrottle, isUnavailable } from './kinesis.js';

export type StartPosition =
  { type: 'TRIM_HORIZON' } | { type: 'LATEST' } | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string } | { type: 'AT_TIMESTAMP'; timestampMs: number };

export interface ShardBatch {
  records: _Record[];
  millisBehindLatest: number;
  /** True once: the shard is closed and every record has been returned. */
  end: boolean;
}

/** What the processor reads a shard through: GetRecords polling (ShardReader) or enhanced fan-out (FanOutShardReader). */
export interface ShardRecordSource {
  next(): Promise<ShardBatch>;
}

export interface ShardReaderOptions {
  /** Records per call; Kinesis caps it at 10 000 (and 10 MiB). */
  limit?: number;
  /** Minimum time between two GetRecords calls on this shard (5 calls/s per shard in Kinesis). */
  minCallIntervalMs?: number;
  backoff?: BackoffOptions;
  /** Told about every wait that is not the normal pacing, for logs and metrics. */
  onRetry?: (info: { shardId: string; reason: 'throttled' | 'unavailable' | 'iterator_expired'; attempt: number; delayMs: number; error: unknown }) => void;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Start the next GetRecords call as soon as a batch is handed out (as the KCL's prefetching
   * retrieval does), so the call's round trip overlaps the caller's work on the batch. At most
   * one call is in flight; the pacing above still applies.
   */
  prefetch?: boolean;
}

export class ShardReader {
  readonly shardId: string;
  #client: KinesisClient;
  #stream: string;
  #start: StartPosition;
  #iterator: string | undefined;
  #lastSequence: string | undefined;
  /** Sequence number of the last record handed out by next() (a prefetch may have read further). */
  #lastReturned: string | undefined;
  #pending: Promise<ShardBatch> | undefined;
  #lastCallAt = -Infinity;
  #ended = false;
  #opts: Required<Omit<ShardReaderOptions, 'onRetry' | 'signal' | 'prefetch'>> & Pick<ShardReaderOptions, 'onRetry' | 'signal' | 'prefetch'>;

  constructor(client: KinesisClient, stream: string, shardId: string, start: StartPosition, options: ShardReaderOptions = {}) {
    this.#client = client;
    this.#stream = stream;
    this.shardId = shardId;
    this.#start = start;
    this.#opts = {
      limit: options.limit ?? 10_000,
      minCallIntervalMs: options.minCallIntervalMs ?? 200,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      onRetry: options.onRetry,
      signal: options.signal,
      now: options.now ?? Date.now,
      sleep: options.sleep ?? sleep,
      prefetch: options.prefetch ?? false,
    };
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sequence number of the last record returned by next(), if any. */
  get lastSequenceNumber(): string | undefined {
    return this.#lastReturned;
  }

  /** The position a new iterator must start from to continue exactly after what was returned. */
  #resumePosition(): StartPosition {
    return this.#lastSequence ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: this.#lastSequence } : this.#start;
  }

  async #newIterator(): Promise<string> {
    const p = this.#resumePosition();
    const out = await this.#client.send(
      new GetShardIteratorCommand({
        StreamName: this.#stream,
        ShardId: this.shardId,
        ShardIteratorType: p.type as ShardIteratorType,
        ...(p.type === 'AFTER_SEQUENCE_NUMBER' ? { StartingSequenceNumber: p.sequenceNumber } : {}),
        ...(p.type === 'AT_TIMESTAMP' ? { Timestamp: new Date(p.timestampMs) } : {}),
      }),
    );
    if (!out.ShardIterator) throw new Error(`no iterator returned for ${this.shardId}`);
    return out.ShardIterator;
  }

  /**
   * The next batch: one GetRecords call (after pacing), retried until it succeeds or the signal
   * aborts. Returns an empty, non-final batch when aborted.
   */
  async next(): Promise<ShardBatch> {
    const batch = await (this.#pending ?? this.#fetch());
    this.#pending = undefined;
    const last = batch.records[batch.records.length - 1];
    if (last?.SequenceNumber) this.#lastReturned = last.SequenceNumber;
    if (this.#opts.prefetch && !batch.end && !this.#opts.signal?.aborted) {
      this.#pending = this.#fetch();
      // Its failure is reported by the next next(); nobody may ask if the caller stops here.
      this.#pending.catch(() => undefined);
    }
    return batch;
  }

  async #fetch(): Promise<ShardBatch> {
    if (this.#ended) return { records: [], millisBehindLatest: 0, end: true };
    const { signal } = this.#opts;
    for (let attempt = 0; !signal?.aborted;) {
      const wait = this.#lastCallAt + this.#opts.minCallIntervalMs - this.#opts.now();
      if (wait > 0) await this.#opts.sleep(wait, signal);
      if (signal?.aborted) break;
      this.#lastCallAt = this.#opts.now();
      try {
        this.#iterator ??= await this.#newIterator();
        const out = await this.#client.send(new GetRecordsCommand({ ShardIterator: this.#iterator, Limit: this.#opts.limit }));
        const records = out.Records ?? [];
        const last = records[records.length - 1];
        if (last?.SequenceNumber) this.#lastSequence = last.SequenceNumber;
        this.#iterator = out.NextShardIterator;
        // A closed shard returns no NextShardIterator once its last record has been read.
        if (this.#iterator === undefined) this.#ended = true;
        return { records, millisBehindLatest: out.MillisBehindLatest ?? 0, end: this.#ended };
      } catch (error) {
        const name = awsErrorName(error);
        let reason: 'throttled' | 'unavailable' | 'iterator_expired';
        if (name === 'ExpiredIteratorException') {
          this.#iterator = undefined;
          reason = 'iterator_expired';
        } else if (isThrottle(error)) {
          reason = 'throttled';
        } else if (isUnavailable(error)) {
          this.#iterator = undefined;
          reason = 'unavailable';
        } else {
          throw error;
        }
        const delayMs = reason === 'iterator_expired' ? 0 : backoffDelay(attempt, this.#opts.backoff);
        this.#opts.onRetry?.({ shardId: this.shardId, reason, attempt, delayMs, error });
        if (reason !== 'iterator_expired') attempt++;
        if (delayMs > 0) await this.#opts.sleep(delayMs, signal);
      }
    }
    return { records: [], millisBehindLatest: 0, end: false };
  }
}

/** Every shard of the stream, open and closed, following ListShards' pagination. */
export async function listAllShards(client: KinesisClient, stream: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client.send(new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: stream }));
    shards.push(...(out.Shards ?? []));
    nextToken = out.NextToken;
  } while (nextToken);
  return shards;
}

/** The parent rule over a shard listing; defined in shard-lineage.ts, kept here for this module's readers. */
export { isReadable } from './shard-lineage.js';
