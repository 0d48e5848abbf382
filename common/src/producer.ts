/**
 * The Kinesis producer shared by the simulator and the processor's sink: it batches records into
 * PutRecords calls and resolves a caller's `send()` only once Kinesis has acknowledged every one of
 * its records (a SequenceNumber in the response). Awaiting `send()` (or `ready()`) is the
 * backpressure: a slow or throttled stream pauses the caller instead of growing a buffer.
 *
 * Guarantees:
 * - A call holds at most MAX_BATCH_RECORDS records and MAX_BATCH_BYTES bytes (data + partition key,
 *   as Kinesis counts them); a record over MAX_RECORD_BYTES, or with a partition key outside 1..256
 *   characters, is refused up front with a ProducerError and never sent.
 * - A partial failure (FailedRecordCount > 0) re-queues only the failed entries, by their index in
 *   the response, at the head of the queue, so they go out before anything newer; a whole call
 *   refused for throughput or by an unavailable endpoint re-queues the whole batch. Both wait with
 *   exponential backoff and jitter first, and retry without limit: a record is never dropped, it is
 *   either acknowledged or its `send()` rejects with a ProducerError (non-retriable errors, or a
 *   fence that no longer holds).
 * - With a `fence`, no call is made unless the fence holds right before it, retries included, so a
 *   worker whose shard lease is no longer safe stops writing at its next call, not after a backlog.
 *
 * Order: a shard holds records in the order Kinesis accepted them, not the order they were sent.
 * Records that share an `orderKey` are acknowledged (land in the stream) in the order they were
 * passed to `send()`, and across `send()` calls in call order, whatever partial failures, throttles,
 * retries and `maxInFlight`. For that, a call never holds two records of one orderKey (inside one
 * PutRecords call, a failed entry's retry lands after a later entry of its key that succeeded), and a
 * record is not sent while an earlier record of its orderKey is in flight or waiting to be retried.
 * Records of other keys, and records without one, go ahead of a waiting record, so batches stay full
 * while the queue holds many keys; a single key moves one record per call. Records without an
 * orderKey have no such promise: with the default `maxInFlight: 1` two calls never overtake each
 * other, but a failed entry lands after later entries of its partition key from the same call, and
 * with `maxInFlight > 1` calls also race each other.
 *
 * Beside this file: producer-options.ts (limits, defaults, the rules checked at construction),
 * producer-types.ts (records, ProducerError, counters, events), producer-batch.ts (the order-key
 * rule that picks each call's records). Import them all from here.
 */
import { PutRecordsCommand, type PutRecordsCommandOutput, type PutRecordsRequestEntry, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { EventEmitter } from 'node:events';
import { awsErrorName, isThrottle, isUnavailable } from './kinesis.js';
import { backoffDelay } from './retry.js';
import { takeBatch } from './producer-batch.js';
import { MAX_PARTITION_KEY_CHARS, resolveProducerOptions, type ProducerOptions } from './producer-options.js';
import {
  ProducerError,
  type ProducerCounters,
  type ProducerErrorCode,
  type ProducerEvents,
  type ProducerRecord,
  type PutRecordsClient,
  type RetryReason,
} from './producer-types.js';

export {
  MAX_BATCH_BYTES,
  MAX_BATCH_RECORDS,
  MAX_PARTITION_KEY_CHARS,
  MAX_RECORD_BYTES,
  resolveProducerOptions,
  type ProducerOptions,
} from './producer-options.js';
export * from './producer-types.js';

interface Ticket {
  remaining: number;
  settled: boolean;
  resolve: () => void;
  reject: (error: ProducerError) => void;
}

interface Entry {
  data: Uint8Array;
  partitionKey: string;
  orderKey: string | undefined;
  bytes: number;
  ticket: Ticket;
  /** Position in its `send()` call, for error reports. */
  index: number;
  enqueuedAt: number;
}

/** Entry ErrorCodes that a later attempt can succeed with. */
const RETRIABLE_ENTRY_ERRORS = new Set(['ProvisionedThroughputExceededException', 'InternalFailure', 'KMSThrottlingException']);

export class KinesisProducer extends EventEmitter<ProducerEvents> {
  readonly streamName: string;
  #client: PutRecordsClient;
  #opts: Required<ProducerOptions>;
  #queue: Entry[] = [];
  #queuedBytes = 0;
  #inFlight = 0;
  #inFlightRecords = 0;
  /**
   * orderKeys of the records in flight or waiting out a backoff (at most one record each): later
   * records of these keys stay queued until the call that holds the key has ended.
   */
  #heldKeys = new Set<string>();
  /** >0 while a backoff wait runs: no call starts then, so retries go out before newer records. */
  #backingOff = 0;
  /** Consecutive failed calls; drives the backoff, reset by a fully successful call. */
  #failureStreak = 0;
  /** >0 while a flush() waits: linger is skipped. */
  #flushing = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #closed = false;
  #tickets = new Set<Promise<void>>();
  #readyWaiters: (() => void)[] = [];
  #counters: ProducerCounters = {
    recordsSent: 0,
    recordsRetried: 0,
    recordsFailed: 0,
    batches: 0,
    partialFailures: 0,
    throttles: 0,
    errors: 0,
  };

  constructor(client: PutRecordsClient, streamName: string, options: ProducerOptions = {}) {
    super();
    this.#client = client;
    this.streamName = streamName;
    this.#opts = resolveProducerOptions(options);
  }

  /** A copy of the counters. */
  get counters(): Readonly<ProducerCounters> {
    return { ...this.#counters };
  }

  /** Records accepted by `send()` and not yet acknowledged or failed. */
  get buffered(): number {
    return this.#queue.length + this.#inFlightRecords;
  }

  /**
   * Queues the records and resolves once Kinesis has acknowledged all of them; rejects with a
   * ProducerError (naming the first failing record's index) if any one will not be delivered.
   * The other records of the same call are still delivered.
   */
  send(records: readonly ProducerRecord[]): Promise<void> {
    if (this.#closed) return Promise.reject(new ProducerError('PRODUCER_CLOSED', 'producer is closed'));
    if (records.length === 0) return Promise.resolve();
    // Check everything before queueing anything, so a refused call sends nothing.
    const sizes = new Array<number>(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.partitionKey.length < 1 || r.partitionKey.length > MAX_PARTITION_KEY_CHARS) {
        return this.#refuse(
          records.length,
          new ProducerError('INVALID_PARTITION_KEY', `record ${i}: partition key must be 1 to ${MAX_PARTITION_KEY_CHARS} characters`, {
            index: i,
          }),
        );
      }
      const bytes = r.data.byteLength + Buffer.byteLength(r.partitionKey, 'utf8');
      if (bytes > this.#opts.maxRecordBytes) {
        return this.#refuse(
          records.length,
          new ProducerError('RECORD_TOO_LARGE', `record ${i}: ${bytes} bytes (data + partition key) is over the ${this.#opts.maxRecordBytes}-byte limit`, {
            index: i,
          }),
        );
      }
      sizes[i] = bytes;
    }
    let ticket!: Ticket;
    const promise = new Promise<void>((resolve, reject) => {
      ticket = { remaining: records.length, settled: false, resolve, reject };
    });
    const now = Date.now();
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      this.#queue.push({
        data: r.data,
        partitionKey: r.partitionKey,
        orderKey: r.orderKey,
        bytes: sizes[i]!,
        ticket,
        index: i,
        enqueuedAt: now,
      });
      this.#queuedBytes += sizes[i]!;
    }
    this.#tickets.add(promise);
    const forget = () => this.#tickets.delete(promise);
    promise.then(forget, forget);
    this.#pump();
    return promise;
  }

  /** Resolves when fewer than `maxBufferedRecords` records are waiting: await it before `send()`. */
  ready(signal?: AbortSignal): Promise<void> {
    if (this.buffered < this.#opts.maxBufferedRecords || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#readyWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Sends everything queued now without lingering and resolves when every `send()` made before
   * this call has settled (acknowledged or rejected; the rejections reach those callers).
   */
  async flush(): Promise<void> {
    const pending = [...this.#tickets];
    if (pending.length === 0) return;
    this.#flushing++;
    this.#pump();
    try {
      await Promise.allSettled(pending);
    } finally {
      this.#flushing--;
    }
  }

  /** Refuses new records, then flushes. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** A whole `send()` refused before anything was queued: none of its records is sent. */
  #refuse(records: number, error: ProducerError): Promise<void> {
    this.#counters.recordsFailed += records;
    this.emit('failed', { records, error });
    return Promise.reject(error);
  }

  /** Starts as many calls as allowed now; arms a timer for the linger otherwise. */
  #pump(): void {
    const o = this.#opts;
    while (this.#queue.length > 0 && this.#inFlight < o.maxInFlight && this.#backingOff === 0) {
      const full = this.#queue.length >= o.maxBatchRecords || this.#queuedBytes >= o.maxBatchBytes;
      if (!full && this.#flushing === 0 && o.lingerMs > 0) {
        const due = this.#queue[0]!.enqueuedAt + o.lingerMs;
        if (Date.now() < due) {
          this.#armTimer(due);
          return;
        }
      }
      const batch = this.#takeBatch();
      // Every queued record waits on an orderKey held by a call; that call's end pumps again.
      if (batch.length === 0) break;
      if (this.#fenced(batch)) break;
      for (const e of batch) if (e.orderKey !== undefined) this.#heldKeys.add(e.orderKey);
      this.#inFlight++;
      this.#inFlightRecords += batch.length;
      this.#put(batch)
        .finally(() => {
          // Failed entries are back at the head of the queue by now, ahead of their keys' later records.
          for (const e of batch) if (e.orderKey !== undefined) this.#heldKeys.delete(e.orderKey);
          this.#inFlight--;
          this.#inFlightRecords -= batch.length;
          this.#pump();
          this.#wakeReady();
        })
        // #put handles every outcome of the call; a throw here is a bug in this bookkeeping, which
        // leaves the queue in an unknown state: let it be an uncaught exception, not a silent stall.
        .catch((error: unknown) =>
          setImmediate(() => {
            throw error;
          }),
        );
    }
    // Nothing left to linger for: a pending timer would only hold the process open.
    if (this.#queue.length === 0 && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    }
  }

  #armTimer(at: number): void {
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.#pump();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** The next call's records, under the order-key rule (producer-batch.ts). */
  #takeBatch(): Entry[] {
    const { batch, queue, bytes } = takeBatch(this.#queue, this.#heldKeys, this.#opts.maxBatchRecords, this.#opts.maxBatchBytes);
    this.#queue = queue;
    this.#queuedBytes -= bytes;
    return batch;
  }

  /**
   * Asks the fence before a call. When it does not hold, fails `batch` and everything still queued
   * (records in flight or backing off are not touched; a retry meets the fence when it is queued
   * again) and returns true: no call may be made.
   */
  #fenced(batch: Entry[]): boolean {
    let cause: unknown;
    try {
      if (this.#opts.fence()) return false;
    } catch (error) {
      cause = error;
    }
    // A stable sort by index makes each send() reject naming its first record, as #fail expects.
    const refused = batch.concat(this.#queue).sort((a, b) => a.index - b.index);
    this.#queue = [];
    this.#queuedBytes = 0;
    const message =
      cause === undefined
        ? 'the fence says this producer may no longer write; nothing more was sent'
        : `the fence failed, so this producer may no longer write; nothing more was sent: ${(cause as Error)?.message ?? String(cause)}`;
    this.#fail(refused, 'FENCED', message, cause);
    this.#wakeReady();
    return true;
  }

  #wakeReady(): void {
    while (this.#readyWaiters.length > 0 && this.buffered < this.#opts.maxBufferedRecords) this.#readyWaiters.shift()!();
  }

  /** One PutRecords call and what follows from its outcome. Never throws. */
  async #put(batch: Entry[]): Promise<void> {
    const started = Date.now();
    const bytes = batch.reduce((s, e) => s + e.bytes, 0);
    const entries: PutRecordsRequestEntry[] = batch.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey }));
    this.#counters.batches++;
    let out: PutRecordsCommandOutput;
    try {
      out = await this.#client.send(new PutRecordsCommand({ StreamName: this.streamName, Records: entries }));
    } catch (error) {
      const reason: RetryReason | undefined = isThrottle(error) ? 'throttled' : isRetriableCallError(error) ? 'unavailable' : undefined;
      if (reason === 'throttled') this.#counters.throttles++;
      else this.#counters.errors++;
      this.emit('batch', { records: batch.length, bytes, acknowledged: 0, failed: batch.length, durationMs: Date.now() - started });
      if (reason) return this.#retry(batch, reason, error);
      this.#fail(batch, 'KINESIS_REJECTED', `PutRecords refused: ${awsErrorName(error)}: ${(error as Error)?.message ?? String(error)}`, error);
      return;
    }

    const results: PutRecordsResultEntry[] = out.Records ?? [];
    if (results.length !== batch.length) {
      // Which entries landed is unknowable; retrying could duplicate, so report instead of guessing.
      this.#counters.errors++;
      this.emit('batch', { records: batch.length, bytes, acknowledged: 0, failed: batch.length, durationMs: Date.now() - started });
      this.#fail(batch, 'KINESIS_REJECTED', `PutRecords returned ${results.length} results for ${batch.length} records`);
      return;
    }
    const retry: Entry[] = [];
    const fatal: { entry: Entry; code: string; message: string }[] = [];
    let throttled = false;
    let otherError = false;
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      const entry = batch[i]!;
      if (r.SequenceNumber && !r.ErrorCode) {
        this.#counters.recordsSent++;
        if (--entry.ticket.remaining === 0 && !entry.ticket.settled) {
          entry.ticket.settled = true;
          entry.ticket.resolve();
        }
        continue;
      }
      // An entry with neither a sequence number nor an error code is treated as an internal failure.
      const code = r.ErrorCode ?? 'InternalFailure';
      if (code === 'ProvisionedThroughputExceededException') throttled = true;
      else otherError = true;
      if (RETRIABLE_ENTRY_ERRORS.has(code)) retry.push(entry);
      else fatal.push({ entry, code, message: r.ErrorMessage ?? '' });
    }
    const failed = retry.length + fatal.length;
    if (failed > 0) {
      this.#counters.partialFailures++;
      if (throttled) this.#counters.throttles++;
      if (otherError) this.#counters.errors++;
    }
    this.emit('batch', { records: batch.length, bytes, acknowledged: batch.length - failed, failed, durationMs: Date.now() - started });
    for (const f of fatal) this.#fail([f.entry], 'KINESIS_REJECTED', `Kinesis refused the record: ${f.code}: ${f.message}`);
    if (retry.length > 0) return this.#retry(retry, throttled ? 'throttled' : 'partial_failure');
    this.#failureStreak = 0;
  }

  /** Puts entries back at the head of the queue, in their order, after a backoff wait. */
  async #retry(entries: Entry[], reason: RetryReason, error?: unknown): Promise<void> {
    const attempt = this.#failureStreak++;
    const delayMs = backoffDelay(attempt, this.#opts.backoff, this.#opts.random);
    this.#counters.recordsRetried += entries.length;
    this.emit('retry', { reason, records: entries.length, attempt, delayMs, ...(error === undefined ? {} : { error }) });
    this.#backingOff++;
    try {
      await this.#opts.sleep(delayMs);
    } finally {
      this.#backingOff--;
    }
    this.#queue.unshift(...entries);
    for (const e of entries) this.#queuedBytes += e.bytes;
  }

  #fail(entries: Entry[], code: ProducerErrorCode, message: string, cause?: unknown): void {
    this.#counters.recordsFailed += entries.length;
    const first = entries[0]!;
    const error = new ProducerError(code, message, { index: first.index, ...(cause === undefined ? {} : { cause }) });
    this.emit('failed', { records: entries.length, error });
    for (const e of entries) {
      if (e.ticket.settled) continue;
      e.ticket.settled = true;
      e.ticket.reject(e === first ? error : new ProducerError(code, message, { index: e.index, ...(cause === undefined ? {} : { cause }) }));
    }
  }
}

/** Whole-call failures worth retrying besides throttles: network, 5xx, missing stream, SDK-marked. */
function isRetriableCallError(error: unknown): boolean {
  if (isUnavailable(error)) return true;
  const e = error as { $retryable?: unknown; name?: string } | null;
  return Boolean(e?.$retryable) || e?.name === 'InternalFailureException' || e?.name === 'KMSThrottlingException';
}
