/**
 * The registered stream consumer that enhanced fan-out reads through. Registration is idempotent
 * across workers: whoever comes first registers, everyone else finds it, and all wait until it is
 * ACTIVE (SubscribeToShard refuses a consumer that is still CREATING).
 */
import {
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  RegisterStreamConsumerCommand,
  type Consumer,
  type ConsumerDescription,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { DEFAULT_BACKOFF, backoffDelay, sleep, type BackoffOptions } from './retry.js';
import { awsErrorName, isThrottle } from './kinesis.js';

export interface StreamConsumerOptions {
  /** Time between two DescribeStreamConsumer calls while waiting (Kinesis allows 20 per second per stream). */
  pollMs?: number;
  /** Give up (throw) after this long; AWS usually needs a few seconds to activate a consumer. */
  timeoutMs?: number;
  backoff?: BackoffOptions;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

async function describe(client: KinesisClient, streamArn: string, name: string): Promise<ConsumerDescription | undefined> {
  try {
    const out = await client.send(new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }));
    return out.ConsumerDescription;
  } catch (error) {
    if (awsErrorName(error) === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/**
 * Registers the consumer `name` on the stream, or finds it, and waits until it is ACTIVE. Returns
 * its ARN. A consumer being deleted is waited out and registered again. Throttling is retried with
 * backoff; other errors, the signal aborting and the timeout throw.
 */
export async function ensureStreamConsumer(client: KinesisClient, streamArn: string, name: string, options: StreamConsumerOptions = {}): Promise<string> {
  const pollMs = options.pollMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const { signal } = options;
  const deadline = now() + timeoutMs;
  let last: ConsumerDescription | Consumer | undefined;
  for (let throttles = 0; ;) {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    if (now() > deadline) throw new Error(`stream consumer ${name} not ACTIVE after ${timeoutMs} ms (last status ${last?.ConsumerStatus ?? 'none'})`);
    let delayMs = pollMs;
    try {
      last = await describe(client, streamArn, name);
      if (last?.ConsumerStatus === 'ACTIVE' && last.ConsumerARN) return last.ConsumerARN;
      if (last === undefined) {
        try {
          last = (await client.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }))).Consumer;
          if (last?.ConsumerStatus === 'ACTIVE' && last.ConsumerARN) return last.ConsumerARN;
        } catch (error) {
          // Another worker registered it meanwhile (or it is being deleted): describe again.
          if (awsErrorName(error) !== 'ResourceInUseException') throw error;
        }
      }
      throttles = 0;
    } catch (error) {
      if (!isThrottle(error)) throw error;
      delayMs = backoffDelay(throttles++, backoff);
    }
    await wait(delayMs, signal);
  }
}

/** ensureStreamConsumer on the stream named `stream` (its ARN looked up first): the consumer's ARN. */
export async function ensureStreamConsumerOf(client: KinesisClient, stream: string, name: string, options: StreamConsumerOptions = {}): Promise<string> {
  const { StreamDescriptionSummary: s } = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }), {
    ...(options.signal ? { abortSignal: options.signal } : {}),
  });
  if (!s?.StreamARN) throw new Error(`stream ${stream}: DescribeStreamSummary gave no ARN`);
  return ensureStreamConsumer(client, s.StreamARN, name, options);
}
