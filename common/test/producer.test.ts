import t, { type Test } from 'tap';
import {
  PutRecordsCommand,
  ProvisionedThroughputExceededException,
  type KinesisClient,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { readAllRecords, withKinesis } from './helpers.js';
import {
  KinesisProducer,
  MAX_BATCH_BYTES,
  MAX_RECORD_BYTES,
  ProducerError,
  type ProducerOptions,
  type ProducerRecord,
  type PutRecordsClient,
} from '../src/producer.js';

/** Every record of every shard, from TRIM_HORIZON, as key, data text and shard. */
async function readStream(client: KinesisClient, stream: string): Promise<{ key: string; data: string; shard: string }[]> {
  return (await readAllRecords(client, stream)).map((r) => ({ key: r.PartitionKey!, data: Buffer.from(r.Data!).toString('utf8'), shard: r.shardId }));
}

type Fault =
  | { kind: 'entries'; indices: number[]; code?: string }
  | { kind: 'throw'; error: unknown };

/**
 * Wraps the real client. For the PutRecords call number `n` (0-based) in `faults`, either throws,
 * or forwards only the entries not listed and answers as Kinesis would for a partial failure, so
 * the stream really lacks the "failed" entries.
 */
function faultyClient(real: KinesisClient, faults: Map<number, Fault>) {
  const calls: PutRecordsRequestEntry[][] = [];
  const client: PutRecordsClient = {
    async send(command: PutRecordsCommand): Promise<PutRecordsCommandOutput> {
      const n = calls.length;
      const records = command.input.Records ?? [];
      calls.push(records);
      const fault = faults.get(n);
      if (!fault) return real.send(command);
      if (fault.kind === 'throw') throw fault.error;
      const failed = new Set(fault.indices);
      const keep = records.filter((_, i) => !failed.has(i));
      const forwarded = keep.length
        ? await real.send(new PutRecordsCommand({ StreamName: command.input.StreamName, Records: keep }))
        : { Records: [] as PutRecordsResultEntry[] };
      const realResults = [...(forwarded.Records ?? [])];
      const code = fault.code ?? 'ProvisionedThroughputExceededException';
      return {
        $metadata: {},
        FailedRecordCount: failed.size,
        Records: records.map((_, i) => (failed.has(i) ? { ErrorCode: code, ErrorMessage: 'injected' } : realResults.shift()!)),
      };
    },
  };
  return { client, calls };
}

function records(n: number, keys = 7, prefix = 'r'): ProducerRecord[] {
  return Array.from({ length: n }, (_, i) => ({ data: Buffer.from(`${prefix}${i}`), partitionKey: `key-${i % keys}` }));
}

/** Instant backoff that remembers the delays asked for; random 0.5 = no jitter. */
function fastOptions(extra: ProducerOptions = {}) {
  const delays: number[] = [];
  const options: ProducerOptions = {
    random: () => 0.5,
    sleep: async (ms) => {
      delays.push(ms);
    },
    ...extra,
  };
  return { options, delays };
}

function assertExactlyOnce(t: Test, got: { data: string }[], sent: ProducerRecord[]) {
  const counts = new Map<string, number>();
  for (const r of got) counts.set(r.data, (counts.get(r.data) ?? 0) + 1);
  const missing = sent.filter((r) => !counts.has(Buffer.from(r.data).toString()));
  const dup = [...counts].filter(([, c]) => c > 1);
  t.equal(got.length, sent.length, 'stream holds as many records as were sent');
  t.same(missing, [], 'no record missing');
  t.same(dup, [], 'no record twice');
}

t.test('the real KinesisClient satisfies PutRecordsClient', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 1 });
  const producer = new KinesisProducer(client, stream);
  await producer.send([{ data: Buffer.from('x'), partitionKey: 'k' }]);
  t.equal(producer.counters.recordsSent, 1);
});

t.test('splits batches by record count', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 2 });
  const { client: wrapped, calls } = faultyClient(client, new Map());
  const producer = new KinesisProducer(wrapped, stream);
  const batchEvents: number[] = [];
  producer.on('batch', (b) => batchEvents.push(b.records));
  const sent = records(1234);
  await producer.send(sent);
  t.same(calls.map((c) => c.length), [500, 500, 234]);
  t.same(batchEvents, [500, 500, 234], 'one batch event per call');
  t.match(producer.counters, { recordsSent: 1234, batches: 3, recordsRetried: 0, throttles: 0, errors: 0 });
  assertExactlyOnce(t, await readStream(client, stream), sent);
});

t.test('splits batches by bytes (data + partition key)', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 2 });
  const { client: wrapped, calls } = faultyClient(client, new Map());
  const producer = new KinesisProducer(wrapped, stream);
  const size = 300 * 1024;
  const sent = Array.from({ length: 40 }, (_, i) => {
    const data = Buffer.alloc(size, 'a');
    data.write(`big-${i}|`);
    return { data, partitionKey: `key-${i}` };
  });
  await producer.send(sent);
  const bytes = calls.map((c) => c.reduce((s, e) => s + e.Data!.byteLength + Buffer.byteLength(e.PartitionKey!), 0));
  t.ok(bytes.every((b) => b <= MAX_BATCH_BYTES), `every call within 5 MiB: ${bytes.join(', ')}`);
  // 17 records of 300 KiB + key fit in 5 MiB, 18 do not.
  t.same(calls.map((c) => c.length), [17, 17, 6]);
  const got = await readStream(client, stream);
  t.equal(got.length, 40);
  t.same(new Set(got.map((r) => r.data.slice(0, r.data.indexOf('|')))).size, 40, 'each big record exactly once');

  // The byte limit is configurable, and a batch never splits a record.
  const small = faultyClient(client, new Map());
  const p2 = new KinesisProducer(small.client, stream, { maxBatchBytes: 1000, maxRecordBytes: 1000 });
  await p2.send(Array.from({ length: 10 }, (_, i) => ({ data: Buffer.alloc(300, i), partitionKey: 'abcd' })));
  t.same(small.calls.map((c) => c.length), [3, 3, 3, 1], '3 x 304 bytes fit in 1000, 4 do not');
});

t.test('refuses oversized records and bad keys up front, sending nothing', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 1 });
  const { client: wrapped, calls } = faultyClient(client, new Map());
  const producer = new KinesisProducer(wrapped, stream);
  const failed: number[] = [];
  producer.on('failed', (f) => failed.push(f.records));
  const big = { data: Buffer.alloc(MAX_RECORD_BYTES), partitionKey: 'k' };
  await t.rejects(producer.send([{ data: Buffer.from('ok'), partitionKey: 'k' }, big]), { name: 'ProducerError', code: 'RECORD_TOO_LARGE', index: 1, retriable: false });
  await t.rejects(producer.send([{ data: Buffer.from('x'), partitionKey: '' }]), { code: 'INVALID_PARTITION_KEY', index: 0 });
  await t.rejects(producer.send([{ data: Buffer.from('x'), partitionKey: 'k'.repeat(257) }]), { code: 'INVALID_PARTITION_KEY' });
  t.equal(calls.length, 0, 'no call made');
  t.same(failed, [2, 1, 1]);
  t.equal(producer.counters.recordsFailed, 4);
  // Exactly 1 MiB including the key is accepted.
  await producer.send([{ data: Buffer.alloc(MAX_RECORD_BYTES - 1), partitionKey: 'k' }]);
  t.equal((await readStream(client, stream)).length, 1);
});

t.test('partial failures retry only the failed entries, before newer records; throttled calls retry whole', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 2 });
  const faults = new Map<number, Fault>([
    [0, { kind: 'entries', indices: [0, 3, 7] }],
    [1, { kind: 'throw', error: new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard', $metadata: {} }) }],
    [2, { kind: 'entries', indices: [1, 2] }],
    [4, { kind: 'entries', indices: [0], code: 'InternalFailure' }],
  ]);
  const { client: wrapped, calls } = faultyClient(client, faults);
  const { options, delays } = fastOptions({ maxBatchRecords: 50 });
  const producer = new KinesisProducer(wrapped, stream, options);
  const retries: { reason: string; records: number; attempt: number }[] = [];
  producer.on('retry', ({ reason, records, attempt }) => retries.push({ reason, records, attempt }));

  const sent = records(200, 20);
  // Twenty callers of ten records each, all waiting at once.
  await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send(sent.slice(i * 10, i * 10 + 10))));

  const data = (call: number) => calls[call]!.map((e) => Buffer.from(e.Data!).toString());
  const firstCall = data(0);
  t.same(data(1).slice(0, 3), [firstCall[0], firstCall[3], firstCall[7]], 'failed entries go out first in the next call');
  t.same(data(2), data(1), 'a throttled call is retried whole, unchanged');
  t.same(data(3).slice(0, 2), [data(2)[1], data(2)[2]]);
  t.equal(calls.length, 6, '206 submissions in 50s = 5 calls, plus the throttled one');

  const thrown = calls[1]!.length;
  t.same(retries, [
    { reason: 'throttled', records: 3, attempt: 0 },
    { reason: 'throttled', records: thrown, attempt: 1 },
    { reason: 'throttled', records: 2, attempt: 2 },
    { reason: 'partial_failure', records: 1, attempt: 0 },
  ]);
  t.same(delays, [100, 200, 400, 100], 'exponential backoff, reset after a clean call');
  t.match(producer.counters, {
    recordsSent: 200,
    recordsRetried: 3 + thrown + 2 + 1,
    recordsFailed: 0,
    batches: 6,
    partialFailures: 3,
    throttles: 3,
    errors: 1,
  });
  assertExactlyOnce(t, await readStream(client, stream), sent);
});

t.test('an unavailable endpoint is retried; a validation error rejects with a typed error', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 1 });
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const invalid = Object.assign(new Error('1 validation error detected'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
  const faults = new Map<number, Fault>([
    [0, { kind: 'throw', error: refused }],
    [1, { kind: 'throw', error: refused }],
    [4, { kind: 'throw', error: invalid }],
  ]);
  const { client: wrapped } = faultyClient(client, faults);
  const { options, delays } = fastOptions();
  const producer = new KinesisProducer(wrapped, stream, options);
  const sent = records(30);
  await producer.send(sent);
  t.same(delays, [100, 200]);
  t.match(producer.counters, { recordsSent: 30, recordsRetried: 60, errors: 2, throttles: 0 });

  const more = records(5, 1, 'ok');
  await producer.send(more);
  const error = await producer.send(records(4, 1, 'refused')).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, ProducerError);
  t.match(error, { code: 'KINESIS_REJECTED', index: 0, retriable: false, message: /ValidationException/ });
  t.equal((error as Error).cause, invalid, 'the AWS error is the cause');
  t.match(producer.counters, { recordsSent: 35, recordsFailed: 4, errors: 3 });
  await producer.send(records(2, 1, 'after'));
  t.equal((await readStream(client, stream)).length, 37, 'the producer keeps working after a refused call');
});

t.test('per-key order is kept across calls when nothing fails', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 3 });
  const producer = new KinesisProducer(client, stream, { maxBatchRecords: 40 });
  const sent = records(600, 5);
  await Promise.all([producer.send(sent.slice(0, 250)), producer.send(sent.slice(250, 251)), producer.send(sent.slice(251))]);
  const got = await readStream(client, stream);
  for (let k = 0; k < 5; k++) {
    const key = `key-${k}`;
    t.same(
      got.filter((r) => r.key === key).map((r) => r.data),
      sent.filter((r) => r.partitionKey === key).map((r) => Buffer.from(r.data).toString()),
      `${key} in send order`,
    );
  }
});

t.test('linger groups records; flush skips it; ready() applies backpressure', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 1 });
  let release: (() => void) | undefined;
  const gated: PutRecordsClient = {
    async send(command) {
      if (release === undefined) await new Promise<void>((r) => (release = r));
      return client.send(command);
    },
  };
  const producer = new KinesisProducer(gated, stream, { lingerMs: 60_000, maxBufferedRecords: 5 });
  const first = producer.send(records(3));
  const second = producer.send(records(3, 7, 's'));
  t.equal(producer.buffered, 6);
  let ready = false;
  const readyP = producer.ready().then(() => (ready = true));
  const flushed = producer.flush();
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(ready, 'ready() waits while 6 >= 5 records are buffered');
  release!();
  await Promise.all([first, second, flushed, readyP]);
  t.ok(ready);
  t.equal(producer.counters.batches, 1, 'both sends in one call');

  const lingering = new KinesisProducer(client, stream, { lingerMs: 40 });
  const started = Date.now();
  await Promise.all([lingering.send(records(1)), lingering.send(records(1, 1, 'b'))]);
  t.ok(Date.now() - started >= 35, 'waited for the linger');
  t.equal(lingering.counters.batches, 1);
  await lingering.close();
  await t.rejects(lingering.send(records(1)), { code: 'PRODUCER_CLOSED' });
});

t.test('constructor checks its options together', async (t) => {
  const client: PutRecordsClient = { send: async () => ({ $metadata: {}, Records: [] }) };
  t.throws(() => new KinesisProducer(client, 's', { maxBatchRecords: 501, maxInFlight: 0 }), /maxBatchRecords.*maxInFlight/);
  t.throws(() => new KinesisProducer(client, 's', { maxBatchBytes: 100 }), /maxBatchBytes/);
});
