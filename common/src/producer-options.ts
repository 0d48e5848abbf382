/**
 * The Kinesis producer's options: Kinesis's PutRecords limits, the defaults, and the rules checked
 * once when a producer is made (producer.ts).
 */
import { DEFAULT_BACKOFF, sleep, type BackoffOptions } from './retry.js';

/** Kinesis limits for PutRecords. */
export const MAX_BATCH_RECORDS = 500;
export const MAX_BATCH_BYTES = 5 * 1024 * 1024;
export const MAX_RECORD_BYTES = 1024 * 1024;
export const MAX_PARTITION_KEY_CHARS = 256;

export interface ProducerOptions {
  /** Records per PutRecords call, 1..500. */
  maxBatchRecords?: number;
  /** Bytes per call (data + partition keys), up to 5 MiB. */
  maxBatchBytes?: number;
  /** Largest record accepted (data + partition key), up to 1 MiB. */
  maxRecordBytes?: number;
  /**
   * How long a record may wait for others to fill its batch before the call is made. While a call
   * is in flight records accumulate anyway, so this matters only when the producer is idle.
   */
  lingerMs?: number;
  /** PutRecords calls at once. 1 (the default) keeps calls, and so partition keys, in order. */
  maxInFlight?: number;
  /** `ready()` waits while this many records are queued or in flight. */
  maxBufferedRecords?: number;
  backoff?: BackoffOptions;
  /** [0, 1), for the backoff jitter. */
  random?: () => number;
  /** The backoff wait; tests make it instant. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Asked right before every PutRecords call, retries included. False means this producer may no
   * longer write (its shard's lease is no longer safe): no call is made and every record queued then
   * fails with FENCED. Calls already made stand. A fence that throws counts as false.
   */
  fence?: () => boolean;
}

/** Defaults filled in and every rule checked, once, at construction; every problem reported together. */
export function resolveProducerOptions(options: ProducerOptions): Required<ProducerOptions> {
  const o: Required<ProducerOptions> = {
    maxBatchRecords: options.maxBatchRecords ?? MAX_BATCH_RECORDS,
    maxBatchBytes: options.maxBatchBytes ?? MAX_BATCH_BYTES,
    maxRecordBytes: options.maxRecordBytes ?? MAX_RECORD_BYTES,
    lingerMs: options.lingerMs ?? 20,
    maxInFlight: options.maxInFlight ?? 1,
    maxBufferedRecords: options.maxBufferedRecords ?? 10_000,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    random: options.random ?? Math.random,
    sleep: options.sleep ?? ((ms) => sleep(ms)),
    fence: options.fence ?? (() => true),
  };
  const problems: string[] = [];
  if (!Number.isInteger(o.maxBatchRecords) || o.maxBatchRecords < 1 || o.maxBatchRecords > MAX_BATCH_RECORDS)
    problems.push(`maxBatchRecords must be an integer in 1..${MAX_BATCH_RECORDS}`);
  if (!(o.maxRecordBytes >= 1 && o.maxRecordBytes <= MAX_RECORD_BYTES)) problems.push(`maxRecordBytes must be in 1..${MAX_RECORD_BYTES}`);
  if (!(o.maxBatchBytes >= o.maxRecordBytes && o.maxBatchBytes <= MAX_BATCH_BYTES))
    problems.push(`maxBatchBytes must be in maxRecordBytes..${MAX_BATCH_BYTES}, so any valid record fits a batch`);
  if (!(o.lingerMs >= 0)) problems.push('lingerMs must be >= 0');
  if (!Number.isInteger(o.maxInFlight) || o.maxInFlight < 1) problems.push('maxInFlight must be an integer >= 1');
  if (!Number.isInteger(o.maxBufferedRecords) || o.maxBufferedRecords < 1) problems.push('maxBufferedRecords must be an integer >= 1');
  if (problems.length) throw new RangeError(`KinesisProducer: ${problems.join('; ')}`);
  return o;
}
