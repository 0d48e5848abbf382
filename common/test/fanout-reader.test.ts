/**
 * Enhanced fan-out reading (common/src/fanout-reader.ts, common/src/stream-consumer.ts).
 *
 * Two servers:
 * - kinesis-local (npm, a build of kinesis-mock), which implements RegisterStreamConsumer,
 *   DescribeStreamConsumer and SubscribeToShard over cleartext HTTP/2. Its subscriptions last a fixed
 *   5 minutes and never announce a shard's end (no ChildShards, ever), so here it proves the real
 *   SDK path: registration, subscribing, renewal from the continuation, abort.
 * - EventStreamDouble, a test double: a minimal HTTP/2 server that answers SubscribeToShard with
 *   scripted event-stream frames. It is not an emulator and no product code uses it; it exists for
 *   what kinesis-local cannot do: subscriptions that end early, the shard end with ChildShards,
 *   exception events, reset streams.
 */
import { startKinesisLocal } from '../../deploy/local/kinesis-local.js';
import t, { type Test } from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
  type KinesisClient,
  type StartingPosition,
  type SubscribeToShardCommandInput,
  type SubscribeToShardEventStream,
} from '@aws-sdk/client-kinesis';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { FanOutShardReader, createFanOutKinesisClient } from '../src/fanout-reader.js';
import { ensureStreamConsumer } from '../src/stream-consumer.js';
import { listAllShards, type ShardRecordSource } from '../src/shard-reader.js';

const fastBackoff = { initialMs: 20, factor: 2, maxMs: 300, jitter: 0.2 };
const text = (r: { Data?: Uint8Array | undefined }) => Buffer.from(r.Data!).toString();

// ---------------------------------------------------------------------------------------------
// Test double: a scripted HTTP/2 event-stream server (not an emulator, not used by product code).
// ---------------------------------------------------------------------------------------------

const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (s) => new Uint8Array(Buffer.from(s, 'utf8')),
);
const str = (value: string) => ({ type: 'string' as const, value });

interface DoubleRecord {
  seq: string;
  data: string;
}

interface DoubleEvent {
  records: DoubleRecord[];
  continuation: string | null;
  millisBehindLatest?: number;
  childShards?: Array<{ ShardId: string; ParentShards: string[]; HashKeyRange: { StartingHashKey: string; EndingHashKey: string } }>;
}

function eventFrame(e: DoubleEvent): Uint8Array {
  const body = {
    Records: e.records.map((r) => ({
      SequenceNumber: r.seq,
      Data: Buffer.from(r.data).toString('base64'),
      PartitionKey: 'k',
      ApproximateArrivalTimestamp: 1_700_000_000,
    })),
    ContinuationSequenceNumber: e.continuation,
    MillisBehindLatest: e.millisBehindLatest ?? 0,
    ...(e.childShards ? { ChildShards: e.childShards } : {}),
  };
  return codec.encode({
    headers: { ':message-type': str('event'), ':event-type': str('SubscribeToShardEvent'), ':content-type': str('application/json') },
    body: new Uint8Array(Buffer.from(JSON.stringify(body))),
  });
}

function exceptionFrame(type: string, message: string): Uint8Array {
  return codec.encode({
    headers: { ':message-type': str('exception'), ':exception-type': str(type), ':content-type': str('application/json') },
    body: new Uint8Array(Buffer.from(JSON.stringify({ message }))),
  });
}

/** What one subscription does; `respond` is called with the request's starting position. */
interface SubscriptionHandle {
  startingPosition: StartingPosition;
  /** Answers with an HTTP error instead of an event stream (as AWS does for errors at subscribe time). */
  httpError(status: number, type: string, message?: string): void;
  event(e: DoubleEvent): void;
  exception(type: string, message?: string): void;
  /** Ends the subscription normally, as Kinesis does after 5 minutes. */
  end(): void;
  /** Resets the HTTP/2 stream mid-subscription. */
  reset(): void;
  closed: Promise<void>;
}

async function withEventStreamDouble(t: Test, onSubscribe: (s: SubscriptionHandle) => void | Promise<void>) {
  const requests: StartingPosition[] = [];
  let openStreams = 0;
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    // A reset stream reports an error on this side too; the test reads the client's view.
    stream.on('error', () => undefined);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (headers['x-amz-target'] !== 'Kinesis_20131202.SubscribeToShard') {
        stream.respond({ ':status': 400, 'content-type': 'application/x-amz-json-1.1' });
        stream.end(JSON.stringify({ __type: 'UnknownOperationException' }));
        return;
      }
      const input = JSON.parse(Buffer.concat(chunks).toString()) as { StartingPosition: StartingPosition };
      requests.push(input.StartingPosition);
      openStreams++;
      const closed = new Promise<void>((resolve) =>
        stream.once('close', () => {
          openStreams--;
          resolve();
        }),
      );
      let started = false;
      const start = () => {
        if (started) return;
        started = true;
        stream.respond({ ':status': 200, 'content-type': 'application/vnd.amazon.eventstream' });
      };
      const handle: SubscriptionHandle = {
        startingPosition: input.StartingPosition,
        httpError(status, type, message = type) {
          stream.respond({ ':status': status, 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
          stream.end(JSON.stringify({ __type: type, message }));
        },
        event(e) {
          start();
          if (!stream.closed) stream.write(eventFrame(e));
        },
        exception(type, message = type) {
          start();
          stream.end(exceptionFrame(type, message));
        },
        end() {
          start();
          stream.end();
        },
        reset() {
          start();
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        },
        closed,
      };
      void Promise.resolve(onSubscribe(handle)).catch((e: unknown) => t.fail(`double script failed: ${String(e)}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const client = createFanOutKinesisClient({ region: 'us-east-1', endpoint });
  t.teardown(async () => {
    client.destroy();
    for (const s of sessions) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { client, requests, openStreams: () => openStreams };
}

/** A shard of `n` records, sequence numbers 1000.., served from any position in `size` events. */
function shard(n: number) {
  const records = Array.from({ length: n }, (_, i) => ({ seq: String(1000 + i), data: String(i) }));
  const indexAfter = (p: StartingPosition) => (p.Type === 'AFTER_SEQUENCE_NUMBER' ? records.findIndex((r) => r.seq === p.SequenceNumber) + 1 : 0);
  return { records, indexAfter };
}

const CHILDREN = [
  { ShardId: 'shardId-000000000001', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' } },
  { ShardId: 'shardId-000000000002', ParentShards: ['shardId-000000000000'], HashKeyRange: { StartingHashKey: '2', EndingHashKey: '3' } },
];

async function drain(reader: ShardRecordSource, max = 1_000) {
  const seen: string[] = [];
  const ends: number[] = [];
  for (let i = 0; i < max; i++) {
    const b = await reader.next();
    seen.push(...b.records.map(text));
    if (b.end) {
      ends.push(i);
      break;
    }
  }
  return { seen, ends };
}

t.test(
  'test double: ended subscriptions are renewed from the continuation; every record once, in order; the shard end once, with its child shards',
  async (t) => {
    const s = shard(25);
    const d = await withEventStreamDouble(t, async (sub) => {
      // Each subscription serves at most 2 events of 4 records, then ends (Kinesis ends at 5 min).
      let i = s.indexAfter(sub.startingPosition);
      for (let e = 0; e < 2; e++) {
        const records = s.records.slice(i, i + 4);
        i += records.length;
        if (i >= s.records.length) {
          sub.event({ records, continuation: null, childShards: CHILDREN });
          sub.end();
          return;
        }
        sub.event({ records, continuation: records.at(-1)!.seq, millisBehindLatest: 1000 * (s.records.length - i) });
        await new Promise((r) => setTimeout(r, 5));
      }
      sub.end();
    });
    const reader = new FanOutShardReader(
      d.client,
      'arn:consumer',
      'shardId-000000000000',
      { type: 'TRIM_HORIZON' },
      { minSubscribeIntervalMs: 0, backoff: fastBackoff },
    );
    const first = await reader.next();
    t.equal(first.millisBehindLatest, 21_000, 'MillisBehindLatest comes from the event');
    const rest = await drain(reader);
    t.same(
      [...first.records.map(text), ...rest.seen],
      s.records.map((r) => r.data),
      'every record once, in order',
    );
    t.equal(rest.ends.length, 1, 'end reported with the last records');
    t.same(
      reader.childShards?.map((c) => c.ShardId),
      ['shardId-000000000001', 'shardId-000000000002'],
    );
    t.same(await reader.next(), { records: [], millisBehindLatest: 0, end: true }, 'after the end: empty, still end');
    t.equal(d.requests.length, 4, '25 records in 7 events of ≤ 4 over 4 subscriptions');
    t.same(d.requests[0], { Type: 'TRIM_HORIZON' });
    t.same(
      d.requests.slice(1),
      ['1007', '1015', '1023'].map((seq) => ({ Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: seq })),
      'each renewal starts after the last continuation handed out',
    );
    t.equal(reader.lastSequenceNumber, '1024');
    t.equal(reader.continuationSequenceNumber, undefined, 'no continuation past the end');
  },
);

t.test('test double: throttling, ResourceInUse, exception events and a reset stream are retried from the last continuation', async (t) => {
  const s = shard(12);
  // One fault per subscription, in this order; then a clean subscription.
  const faults = ['LimitExceeded', 'ResourceInUse', 'eventThenInternalFailure', 'eventThenReset', 'endWithoutChildren', 'eventThenInUseEvent'];
  const d = await withEventStreamDouble(t, (sub) => {
    const i = s.indexAfter(sub.startingPosition);
    const two = s.records.slice(i, i + 2);
    const fault = faults.shift();
    if (fault === 'LimitExceeded') return sub.httpError(400, 'LimitExceededException');
    if (fault === 'ResourceInUse') return sub.httpError(400, 'ResourceInUseException');
    if (fault === 'endWithoutChildren') {
      sub.event({ records: [], continuation: null });
      return sub.end();
    }
    sub.event({ records: two, continuation: two.at(-1)!.seq });
    if (fault === 'eventThenInternalFailure') return sub.exception('InternalFailureException');
    if (fault === 'eventThenReset') return sub.reset();
    if (fault === 'eventThenInUseEvent') return sub.exception('ResourceInUseException', 'another subscription took over');
    const tail = s.records.slice(i + 2);
    sub.event({ records: tail, continuation: null, childShards: CHILDREN });
    sub.end();
  });
  const retries: string[] = [];
  const reader = new FanOutShardReader(
    d.client,
    'arn:consumer',
    'shardId-000000000000',
    { type: 'TRIM_HORIZON' },
    {
      minSubscribeIntervalMs: 0,
      backoff: fastBackoff,
      onRetry: (i) => retries.push(`${i.reason}:${(i.error as { code?: string }).code ?? (i.error as Error).name}`),
    },
  );
  const { seen, ends } = await drain(reader);
  t.same(
    seen,
    s.records.map((r) => r.data),
    'every record once, in order',
  );
  t.equal(ends.length, 1);
  t.same(retries, [
    'throttled:LimitExceededException',
    'unavailable:ResourceInUseException',
    'unavailable:InternalFailureException',
    'unavailable:ERR_HTTP2_STREAM_ERROR',
    'unavailable:MalformedShardEndError',
    'unavailable:ResourceInUseException',
  ]);
  t.same(
    d.requests.map((p) => p.SequenceNumber ?? p.Type),
    ['TRIM_HORIZON', 'TRIM_HORIZON', 'TRIM_HORIZON', '1001', '1003', '1003', '1005'],
    'a failed subscription resumes after the last continuation handed out',
  );
  await waitUntil(() => d.openStreams() === 0);
  t.pass('no subscription left open');
});

t.test('test double: an error no retry cures is thrown', async (t) => {
  const d = await withEventStreamDouble(t, (sub) => sub.httpError(400, 'AccessDeniedException', 'not allowed'));
  const reader = new FanOutShardReader(
    d.client,
    'arn:consumer',
    'shardId-000000000000',
    { type: 'LATEST' },
    { minSubscribeIntervalMs: 0, backoff: fastBackoff },
  );
  await t.rejects(reader.next(), { name: 'AccessDeniedException' });
});

t.test('test double: abort returns a pending next() at once, empty and not final, and closes the HTTP/2 stream', async (t) => {
  let subscribed!: () => void;
  const isSubscribed = new Promise<void>((r) => (subscribed = r));
  let streamClosed: Promise<void> | undefined;
  const d = await withEventStreamDouble(t, (sub) => {
    // A quiet shard: the stream is open, no event comes.
    sub.event({ records: [{ seq: '1000', data: 'only' }], continuation: '1000' });
    streamClosed = sub.closed;
    subscribed();
  });
  const stop = new AbortController();
  const reader = new FanOutShardReader(d.client, 'arn:consumer', 'shardId-000000000000', { type: 'TRIM_HORIZON' }, { signal: stop.signal });
  t.same((await reader.next()).records.map(text), ['only']);
  await isSubscribed;
  const pending = reader.next();
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  stop.abort();
  t.same(await pending, { records: [], millisBehindLatest: 0, end: false });
  t.ok(Date.now() - started < 500, 'returned at once');
  await streamClosed;
  t.equal(d.openStreams(), 0, 'the subscription stream was closed');
  t.same(await reader.next(), { records: [], millisBehindLatest: 0, end: false }, 'stays aborted, subscribes no more');
  t.equal(d.requests.length, 1);
});

t.test('test double: a subscription silent for idleTimeoutMs is given up and renewed from the continuation', async (t) => {
  const d = await withEventStreamDouble(t, (sub) => {
    // The first subscription goes silent after one event (a dead connection without a reset).
    if (sub.startingPosition.Type === 'TRIM_HORIZON') return sub.event({ records: [{ seq: '1000', data: 'a' }], continuation: '1000' });
    sub.event({ records: [{ seq: '1001', data: 'b' }], continuation: null, childShards: CHILDREN });
    sub.end();
  });
  const retries: string[] = [];
  const reader = new FanOutShardReader(
    d.client,
    'arn:consumer',
    'shardId-000000000000',
    { type: 'TRIM_HORIZON' },
    { minSubscribeIntervalMs: 0, idleTimeoutMs: 200, backoff: fastBackoff, onRetry: (i) => retries.push(`${i.reason}:${(i.error as Error).name}`) },
  );
  const { seen, ends } = await drain(reader);
  t.same(seen, ['a', 'b']);
  t.equal(ends.length, 1);
  t.same(retries, ['unavailable:TimeoutError']);
  t.same(d.requests[1], { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: '1000' });
  await waitUntil(() => d.openStreams() === 0);
  t.pass('the silent stream was closed');
});

async function waitUntil(check: () => boolean, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------------------------
// kinesis-local (npm): the real SDK path against an emulator that implements EFO.
// ---------------------------------------------------------------------------------------------

/**
 * kinesis-local on a free port, data in memory (deploy/local/kinesis-local.ts). It takes seconds
 * to start, so the tests below share one (each with its own stream); stopped when this file ends.
 */
let kinesisLocal: Promise<{ client: KinesisClient }> | undefined;
const withKinesisLocal = () => (kinesisLocal ??= startShared(t));

async function startShared(t: Test) {
  const emulator = await startKinesisLocal();
  t.teardown(() => emulator.close());
  const client = createFanOutKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint });
  t.teardown(() => client.destroy());
  return { client };
}

async function createStream(client: KinesisClient, name: string, shards = 1): Promise<string> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (;;) {
    const { StreamDescriptionSummary: s } = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s?.StreamStatus === 'ACTIVE') return s.StreamARN!;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function put(client: KinesisClient, stream: string, from: number, n: number) {
  await client.send(
    new PutRecordsCommand({
      StreamName: stream,
      Records: Array.from({ length: n }, (_, j) => ({ Data: Buffer.from(String(from + j)), PartitionKey: 'one-key' })),
    }),
  );
}

/** The real client, with each subscription cut after `events` events, as if the server ended it. */
function endingEarly(client: KinesisClient, events: number) {
  const subscriptions: SubscribeToShardCommandInput[] = [];
  const wrapped = {
    async send(command: unknown, options?: unknown) {
      const out = await client.send(command as never, options as never);
      if (!(command instanceof SubscribeToShardCommand)) return out;
      subscriptions.push(command.input);
      const inner = (out as { EventStream: AsyncIterable<SubscribeToShardEventStream> }).EventStream[Symbol.asyncIterator]();
      let left = events;
      const cut: AsyncIterator<SubscribeToShardEventStream> = {
        next: () => (left-- > 0 ? inner.next() : Promise.resolve({ done: true, value: undefined })),
      };
      return { ...out, EventStream: { [Symbol.asyncIterator]: () => cut } };
    },
  } as unknown as KinesisClient;
  return { client: wrapped, subscriptions };
}

t.test('kinesis-local: ensureStreamConsumer registers, waits until ACTIVE, and finds the same consumer again', async (t) => {
  const k = await withKinesisLocal();
  const streamArn = await createStream(k.client, 'consumers');
  let registers = 0;
  const counting = {
    send(command: unknown) {
      if (command instanceof RegisterStreamConsumerCommand) registers++;
      return k.client.send(command as never);
    },
  } as unknown as KinesisClient;
  const started = Date.now();
  const arn = await ensureStreamConsumer(counting, streamArn, 'efo-app', { pollMs: 50 });
  t.match(arn, /consumer\/efo-app/);
  t.ok(Date.now() - started >= 250, 'waited for the 300 ms activation');
  t.equal(await ensureStreamConsumer(counting, streamArn, 'efo-app', { pollMs: 50 }), arn, 'found again');
  t.equal(registers, 1, 'registered once');
  const [a, b] = await Promise.all([
    ensureStreamConsumer(counting, streamArn, 'efo-other', { pollMs: 50 }),
    ensureStreamConsumer(counting, streamArn, 'efo-other', { pollMs: 50 }),
  ]);
  t.equal(a, b, 'two workers registering at once get the same consumer');
  t.not(a, arn);
  await t.rejects(ensureStreamConsumer(k.client, `${streamArn}-missing`, 'efo-app', { pollMs: 50 }), { name: 'ResourceNotFoundException' });
});

t.test('kinesis-local: every record once, in order, across subscriptions that end early', async (t) => {
  const k = await withKinesisLocal();
  const stream = 'efo-read';
  const streamArn = await createStream(k.client, stream);
  const consumerArn = await ensureStreamConsumer(k.client, streamArn, 'efo-app', { pollMs: 50 });
  const [s] = await listAllShards(k.client, stream);
  await put(k.client, stream, 0, 300);
  const cut = endingEarly(k.client, 2);
  const retries: string[] = [];
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const reader = new FanOutShardReader(
    cut.client,
    consumerArn,
    s!.ShardId!,
    { type: 'TRIM_HORIZON' },
    { minSubscribeIntervalMs: 0, backoff: fastBackoff, signal: stop.signal, onRetry: (i) => retries.push(`${i.reason}:${(i.error as Error).name}`) },
  );
  const seen: string[] = [];
  let written = 300;
  const deadline = Date.now() + 60_000;
  while (seen.length < 600 && Date.now() < deadline) {
    const b = await reader.next();
    seen.push(...b.records.map(text));
    t.notOk(b.end, 'an open shard does not end');
    if (written < 600) {
      await put(k.client, stream, written, 60);
      written += 60;
    }
  }
  t.same(
    seen,
    Array.from({ length: 600 }, (_, i) => String(i)),
    'every record once, in order',
  );
  t.ok(cut.subscriptions.length >= 3, `renewed: ${cut.subscriptions.length} subscriptions`);
  t.same(cut.subscriptions[0]!.StartingPosition, { Type: 'TRIM_HORIZON' });
  for (const sub of cut.subscriptions.slice(1)) t.equal(sub.StartingPosition?.Type, 'AFTER_SEQUENCE_NUMBER');
  t.ok(
    retries.every((r) => r === 'unavailable:ResourceInUseException'),
    `the only waits (${retries.length}) are for the emulator to release the previous subscription`,
  );
});

t.test('kinesis-local: abort ends next() at once and releases the subscription', async (t) => {
  const k = await withKinesisLocal();
  const stream = 'efo-abort';
  const streamArn = await createStream(k.client, stream);
  const consumerArn = await ensureStreamConsumer(k.client, streamArn, 'efo-app', { pollMs: 50 });
  const [s] = await listAllShards(k.client, stream);
  await put(k.client, stream, 0, 3);
  const stop = new AbortController();
  const reader = new FanOutShardReader(k.client, consumerArn, s!.ShardId!, { type: 'TRIM_HORIZON' }, { signal: stop.signal });
  t.same((await reader.next()).records.map(text), ['0', '1', '2']);
  const pending = reader.next();
  const started = Date.now();
  stop.abort();
  t.same(await pending, { records: [], millisBehindLatest: 0, end: false });
  t.ok(Date.now() - started < 200, `returned in ${Date.now() - started} ms`);
  // The emulator lets a new subscription in once the old stream is gone (it notices within ~1 s).
  const retries: string[] = [];
  const next = new FanOutShardReader(
    k.client,
    consumerArn,
    s!.ShardId!,
    { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: reader.lastSequenceNumber! },
    { minSubscribeIntervalMs: 0, backoff: fastBackoff, onRetry: (i) => retries.push((i.error as Error).name) },
  );
  await put(k.client, stream, 3, 1);
  t.same((await next.next()).records.map(text), ['3'], 'a new reader continues after the last record');
  next.close();
  t.ok(retries.length < 15, `in-use waits before the release: ${retries.length}`);
});
