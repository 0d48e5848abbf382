/**
 * Reads one Kinesis shard with enhanced fan-out (SubscribeToShard over HTTP/2), behind the same
 * `next(): Promise<ShardBatch>` contract as the polling ShardReader, so the processor can use either.
 *
 * - One subscription at a time. Kinesis ends each one after 5 minutes; the reader then subscribes
 *   again from the last handed-out event's ContinuationSequenceNumber (AFTER_SEQUENCE_NUMBER), so
 *   nothing is skipped or read twice. The same applies after any failure mid-subscription.
 * - Pull-based: an event is taken off the subscription only when next() is called, and the
 *   continuation only advances with the event handed out. Unread events wait in HTTP/2 flow control.
 * - Throttling (one SubscribeToShard per second per consumer and shard), ResourceInUseException
 *   (a new subscription within 5 s of the last one), a missing stream or consumer, an internal
 *   failure and a broken connection are waited out with backoff and jitter; anything else throws.
 * - The shard's end is an event with no ContinuationSequenceNumber and the child shards; it is
 *   returned with `end: true` and its ChildShards are kept in `childShards`.
 *
 * The client must speak HTTP/2: in AWS the SDK's default handler does; against a local emulator use
 * createFanOutKinesisClient() below.
 */
import {
  KinesisClient,
  SubscribeToShardCommand,
  type ChildShard,
  type StartingPosition,
  type SubscribeToShardEvent,
  type SubscribeToShardEventStream,
} from '@aws-sdk/client-kinesis';
import { NodeHttp2Handler } from '@smithy/node-http-handler';
import { DEFAULT_BACKOFF, backoffDelay, sleep, type BackoffOptions } from './retry.js';
import { awsErrorName, isThrottle, isUnavailable, type AwsEndpointConfig } from './kinesis.js';
import type { ShardBatch, ShardRecordSource, StartPosition } from './shard-reader.js';

export interface FanOutShardReaderOptions {
  backoff?: BackoffOptions;
  /**
   * Minimum time between two SubscribeToShard calls on this shard. Kinesis allows one per second
   * per consumer and shard; the pacing also keeps a server that ends subscriptions at once from
   * being called in a loop.
   */
  minSubscribeIntervalMs?: number;
  /**
   * A subscription that delivers no event for this long is given up and renewed from the last
   * continuation, so a connection that died without a reset cannot stall the shard.
   */
  idleTimeoutMs?: number;
  /**
   * Told about every wait that is not the normal pacing, for logs and metrics. The reasons are a
   * subset of ShardReader's, so one callback serves both readers.
   */
  onRetry?: (info: { shardId: string; reason: 'throttled' | 'unavailable'; attempt: number; delayMs: number; error: unknown }) => void;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface Subscription {
  events: AsyncIterator<SubscribeToShardEventStream>;
  /** Aborting it closes the HTTP/2 stream, which frees the subscription on the server side. */
  controller: AbortController;
  unlink: () => void;
}

const ABORTED = Symbol('aborted');
const IDLE = Symbol('idle');

class IdleSubscriptionError extends Error {
  constructor(shardId: string, ms: number) {
    super(`no event on ${shardId} for ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

class MalformedShardEndError extends Error {
  constructor(shardId: string) {
    super(`event with neither ContinuationSequenceNumber nor ChildShards on ${shardId}`);
    this.name = 'MalformedShardEndError';
  }
}

/** Errors of an established subscription that a new subscription may cure. */
function isTransient(error: unknown): boolean {
  if (isUnavailable(error)) return true;
  const name = awsErrorName(error);
  if (name === 'InternalFailureException' || name === 'KMSThrottlingException') return true;
  const e = error as { code?: string; message?: string; $fault?: string } | null;
  // The HTTP/2 stream or session failing under a subscription (reset, GOAWAY, idle timeout).
  return e?.$fault === 'server' || (e?.code ?? '').startsWith('ERR_HTTP2') || /HTTP\/2 stream/.test(e?.message ?? '');
}

/** Exception members of the event stream union; the SDK normally throws them itself. */
const EXCEPTION_MEMBERS = [
  'ResourceNotFoundException',
  'ResourceInUseException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSAccessDeniedException',
  'KMSNotFoundException',
  'KMSOptInRequired',
  'KMSThrottlingException',
  'InternalFailureException',
] as const;

export class FanOutShardReader implements ShardRecordSource {
  readonly shardId: string;
  #client: KinesisClient;
  #consumerArn: string;
  #start: StartPosition;
  /** ContinuationSequenceNumber of the last event handed out; where a new subscription starts. */
  #continuation: string | undefined;
  #lastReturned: string | undefined;
  #childShards: ChildShard[] | undefined;
  #subscription: Subscription | undefined;
  #lastSubscribeAt = -Infinity;
  #ended = false;
  #opts: Required<Omit<FanOutShardReaderOptions, 'onRetry' | 'signal'>> & Pick<FanOutShardReaderOptions, 'onRetry' | 'signal'>;

  constructor(client: KinesisClient, consumerArn: string, shardId: string, start: StartPosition, options: FanOutShardReaderOptions = {}) {
    this.#client = client;
    this.#consumerArn = consumerArn;
    this.shardId = shardId;
    this.#start = start;
    this.#opts = {
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      minSubscribeIntervalMs: options.minSubscribeIntervalMs ?? 1_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      onRetry: options.onRetry,
      signal: options.signal,
      now: options.now ?? Date.now,
      sleep: options.sleep ?? sleep,
    };
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sequence number of the last record returned by next(), if any. */
  get lastSequenceNumber(): string | undefined {
    return this.#lastReturned;
  }

  /**
   * ContinuationSequenceNumber of the last event returned by next(): the shard position reached,
   * even while no records arrive (AWS recommends checkpointing it). Undefined before the first
   * event and after the shard's end.
   */
  get continuationSequenceNumber(): string | undefined {
    return this.#continuation;
  }

  /** The child shards announced by the shard's last event; undefined until then. */
  get childShards(): ChildShard[] | undefined {
    return this.#childShards;
  }

  #resumePosition(): StartingPosition {
    if (this.#continuation) return { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: this.#continuation };
    const p = this.#start;
    if (p.type === 'AFTER_SEQUENCE_NUMBER') return { Type: p.type, SequenceNumber: p.sequenceNumber };
    if (p.type === 'AT_TIMESTAMP') return { Type: p.type, Timestamp: new Date(p.timestampMs) };
    return { Type: p.type };
  }

  async #subscribe(): Promise<Subscription> {
    this.#lastSubscribeAt = this.#opts.now();
    const controller = new AbortController();
    const { signal } = this.#opts;
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const unlink = () => signal?.removeEventListener('abort', onAbort);
    try {
      const out = await this.#client.send(
        new SubscribeToShardCommand({ ConsumerARN: this.#consumerArn, ShardId: this.shardId, StartingPosition: this.#resumePosition() }),
        { abortSignal: controller.signal },
      );
      if (!out.EventStream) throw new Error(`SubscribeToShard returned no event stream for ${this.shardId}`);
      return { events: out.EventStream[Symbol.asyncIterator](), controller, unlink };
    } catch (error) {
      unlink();
      controller.abort();
      throw error;
    }
  }

  #closeSubscription(): void {
    const s = this.#subscription;
    if (!s) return;
    this.#subscription = undefined;
    s.unlink();
    s.controller.abort();
  }

  /** Takes one event off the subscription: the batch to hand out, or undefined for no batch. */
  #accept(item: SubscribeToShardEventStream): ShardBatch | undefined {
    for (const member of EXCEPTION_MEMBERS) {
      const exception = (item as unknown as Record<string, unknown>)[member];
      if (exception) throw Object.assign(new Error(String((exception as { message?: string }).message ?? member)), { name: member });
    }
    const event: SubscribeToShardEvent | undefined = item.SubscribeToShardEvent;
    if (!event) return undefined; // an event type this SDK does not know: nothing to read
    const records = event.Records ?? [];
    if (!event.ContinuationSequenceNumber) {
      // The shard's end. Without the child shards it is not a well-formed end (the KCL refuses it
      // too); subscribing again from the last continuation cannot lose anything.
      if (!event.ChildShards?.length) throw new MalformedShardEndError(this.shardId);
      this.#ended = true;
      this.#childShards = event.ChildShards;
      this.#continuation = undefined;
      this.#closeSubscription();
    } else {
      this.#continuation = event.ContinuationSequenceNumber;
    }
    const last = records[records.length - 1];
    if (last?.SequenceNumber) this.#lastReturned = last.SequenceNumber;
    return { records, millisBehindLatest: event.MillisBehindLatest ?? 0, end: this.#ended };
  }

  /**
   * The next event's records: subscribes (again) as needed and retries until an event arrives or
   * the signal aborts. Returns an empty, non-final batch when aborted, and closes the subscription.
   */
  async next(): Promise<ShardBatch> {
    if (this.#ended) return { records: [], millisBehindLatest: 0, end: true };
    const { signal } = this.#opts;
    for (let attempt = 0; !signal?.aborted;) {
      try {
        if (!this.#subscription) {
          const wait = this.#lastSubscribeAt + this.#opts.minSubscribeIntervalMs - this.#opts.now();
          if (wait > 0) await this.#opts.sleep(wait, signal);
          if (signal?.aborted) break;
          this.#subscription = await this.#subscribe();
        }
        const step = await race(this.#subscription.events.next(), signal, this.#opts.idleTimeoutMs);
        if (step === ABORTED) break;
        if (step === IDLE) throw new IdleSubscriptionError(this.shardId, this.#opts.idleTimeoutMs);
        if (step.done) {
          // The server ended the subscription (after 5 minutes in AWS): renew it.
          this.#closeSubscription();
          continue;
        }
        const batch = this.#accept(step.value);
        if (batch) return batch;
      } catch (error) {
        this.#closeSubscription();
        if (signal?.aborted) break;
        let reason: 'throttled' | 'unavailable';
        if (isThrottle(error)) reason = 'throttled';
        else if (isTransient(error) || error instanceof MalformedShardEndError) reason = 'unavailable';
        else throw error;
        const delayMs = backoffDelay(attempt, this.#opts.backoff);
        this.#opts.onRetry?.({ shardId: this.shardId, reason, attempt, delayMs, error });
        attempt++;
        if (delayMs > 0) await this.#opts.sleep(delayMs, signal);
      }
    }
    this.#closeSubscription();
    return { records: [], millisBehindLatest: 0, end: false };
  }

  /** Closes the current subscription, if any; a later next() subscribes again where it left off. */
  close(): void {
    this.#closeSubscription();
  }
}

/** The promise's outcome, or ABORTED as soon as the signal aborts, or IDLE after `idleMs`. */
function race<T>(promise: Promise<T>, signal: AbortSignal | undefined, idleMs: number): Promise<T | typeof ABORTED | typeof IDLE> {
  // The abandoned promise may still reject when its stream is closed; nobody waits for it then.
  promise.catch(() => undefined);
  if (signal?.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => settle(() => resolve(ABORTED));
    const timer = setTimeout(() => settle(() => resolve(IDLE)), idleMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    function settle(done: () => void) {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      done();
    }
    promise.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error as Error)),
    );
  });
}

/**
 * Local emulators' HTTP/2 servers (kinesis-local's http4s ember) answer the GOAWAY that the SDK
 * sends on a SubscribeToShard connection (it closes the connection's session as soon as the
 * response starts) with an unsolicited PING ACK, which Node treats as a connection error
 * (ERR_HTTP2_ERROR "Protocol error") and so kills the subscription. Serving event streams on the
 * shared session, as ordinary requests are, sends no GOAWAY.
 */
class EmulatorHttp2Handler extends NodeHttp2Handler {
  override handle(...[request, options]: Parameters<NodeHttp2Handler['handle']>): ReturnType<NodeHttp2Handler['handle']> {
    return super.handle(request, { ...options, isEventStream: false });
  }
}

/**
 * A Kinesis client for enhanced fan-out: the SDK's own HTTP/2 handler in AWS, and an HTTP/2
 * handler fit for the emulator on a local (cleartext, prior-knowledge h2c) endpoint. Retries off,
 * as in createKinesisClient: the reader retries itself.
 */
export function createFanOutKinesisClient(config: AwsEndpointConfig): KinesisClient {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const local = Boolean(config.endpoint) && !process.env.AWS_ACCESS_KEY_ID;
  return new KinesisClient({
    region: config.region,
    maxAttempts: 1,
    ...(config.endpoint ? { endpoint: config.endpoint, requestHandler: new EmulatorHttp2Handler({ requestTimeout: 30_000 }) } : {}),
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}
