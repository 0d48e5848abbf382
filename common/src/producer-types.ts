/**
 * The Kinesis producer's contract (producer.ts): the records it takes, the client it calls, the
 * error a record that will not be delivered rejects with, its counters and its events.
 */
import type { PutRecordsCommand, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';

export interface ProducerRecord {
  data: Uint8Array;
  partitionKey: string;
  /**
   * Records with the same orderKey are acknowledged in send order (see the header); usually the
   * partition key. The price: one record of the key per call, and one call of the key at a time.
   */
  orderKey?: string;
}

/** The part of KinesisClient the producer uses; tests wrap it to inject failures. */
export interface PutRecordsClient {
  send(command: PutRecordsCommand): Promise<PutRecordsCommandOutput>;
}

export type ProducerErrorCode =
  /** A record over the size limit: Kinesis would refuse it whatever the retry. */
  | 'RECORD_TOO_LARGE'
  /** A partition key that is empty or over 256 characters. */
  | 'INVALID_PARTITION_KEY'
  /** Kinesis refused the call or the entry for a reason retrying cannot fix (validation, access). */
  | 'KINESIS_REJECTED'
  /** `send()` after `close()`. */
  | 'PRODUCER_CLOSED'
  /** The fence said this producer may no longer write (its shard's lease is no longer safe); nothing more was sent. */
  | 'FENCED';

/**
 * A record that will not be delivered. `index` is the record's position in the `send()` call that
 * rejects with this error. Never retriable: the producer has already retried whatever could be.
 */
export class ProducerError extends Error {
  readonly code: ProducerErrorCode;
  readonly retriable = false;
  readonly index: number | undefined;
  constructor(code: ProducerErrorCode, message: string, options: { index?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProducerError';
    this.code = code;
    this.index = options.index;
  }
}

/**
 * Counters since the producer was created. Units: records for `records*`, PutRecords calls for
 * the rest.
 */
export interface ProducerCounters {
  /** Records acknowledged by Kinesis (given a sequence number). */
  recordsSent: number;
  /**
   * Re-submissions of a record after a failed entry or a failed call (one record twice = 2), counted
   * when the retry is scheduled: a retry the fence then refuses counts here and in `recordsFailed`.
   */
  recordsRetried: number;
  /** Records whose `send()` rejected for good. */
  recordsFailed: number;
  /** PutRecords calls made, retries included. */
  batches: number;
  /** Calls that returned FailedRecordCount > 0. */
  partialFailures: number;
  /** Calls refused for throughput, whole (an exception) or in part (an entry's ErrorCode). */
  throttles: number;
  /** Calls that failed, whole or in part, for a reason other than throughput. */
  errors: number;
}

export type RetryReason = 'throttled' | 'unavailable' | 'partial_failure';

/** Typed events, for logs and metrics; listeners must not throw. */
export interface ProducerEvents {
  /** One PutRecords call finished (successfully or not). */
  batch: [info: { records: number; bytes: number; acknowledged: number; failed: number; durationMs: number }];
  /** Records are going back to the queue, after `delayMs` of backoff. */
  retry: [info: { reason: RetryReason; records: number; attempt: number; delayMs: number; error?: unknown }];
  /** Records refused for good; their `send()` rejects with `error`. */
  failed: [info: { records: number; error: ProducerError }];
}
