import t, { type Test } from 'tap';
import {
  PutRecordsCommand,
  ProvisionedThroughputExceededException,
  type KinesisClient,
  type PutRecordsCommandOutput,
  type PutRecordsRequestEntry,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { readAllRecords, seeded, withKinesis } from './helpers.js';
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
  return (await readAllRecords(client, stream)).map((r) => ({
    key: r.PartitionKey!,
    data: Buffer.from(r.Data!).toString('utf8'),
    shard: r.shardId,
  }));
}

type Fault = { kind: 'entries'; indices: number[]; code?: string } | { kind: 'throw'; error: unknown };

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
  t.same(
    calls.map((c) => c.length),
    [500, 500, 234],
  );
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
  t.ok(
    bytes.every((b) => b <= MAX_BATCH_BYTES),
    `every call within 5 MiB: ${bytes.join(', ')}`,
  );
  // 17 records of 300 KiB + key fit in 5 MiB, 18 do not.
  t.same(
    calls.map((c) => c.length),
    [17, 17, 6],
  );
  const got = await readStream(client, stream);
  t.equal(got.length, 40);
  t.same(new Set(got.map((r) => r.data.slice(0, r.data.indexOf('|')))).size, 40, 'each big record exactly once');

  // The byte limit is configurable, and a batch never splits a record.
  const small = faultyClient(client, new Map());
  const p2 = new KinesisProducer(small.client, stream, { maxBatchBytes: 1000, maxRecordBytes: 1000 });
  await p2.send(Array.from({ length: 10 }, (_, i) => ({ data: Buffer.alloc(300, i), partitionKey: 'abcd' })));
  t.same(
    small.calls.map((c) => c.length),
    [3, 3, 3, 1],
    '3 x 304 bytes fit in 1000, 4 do not',
  );
});

t.test('refuses oversized records and bad keys up front, sending nothing', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 1 });
  const { client: wrapped, calls } = faultyClient(client, new Map());
  const producer = new KinesisProducer(wrapped, stream);
  const failed: number[] = [];
  producer.on('failed', (f) => failed.push(f.records));
  const big = { data: Buffer.alloc(MAX_RECORD_BYTES), partitionKey: 'k' };
  await t.rejects(producer.send([{ data: Buffer.from('ok'), partitionKey: 'k' }, big]), {
    name: 'ProducerError',
    code: 'RECORD_TOO_LARGE',
    index: 1,
    retriable: false,
  });
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
  const invalid = Object.assign(new Error('1 validation error detected'), {
    name: 'ValidationException',
    $metadata: { httpStatusCode: 400 },
  });
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

/**
 * An in-memory stream under load. Each call answers after a random number of event-loop turns, so
 * calls in flight together finish in any order; with probability `callThrowRate` the whole call is
 * throttled, otherwise each entry fails with probability `entryFailRate` (throttled or internal
 * failure, both retriable). Accepted entries get increasing sequence numbers and are appended to
 * `acked` in that order: what a consumer of the stream would read.
 */
function flakyStream(random: () => number, { entryFailRate = 0.15, callThrowRate = 0.05 } = {}) {
  const acked: { key: string; data: string }[] = [];
  const calls: PutRecordsRequestEntry[][] = [];
  const concurrency = { now: 0, max: 0 };
  let sequence = 0;
  const client: PutRecordsClient = {
    async send(command: PutRecordsCommand): Promise<PutRecordsCommandOutput> {
      const records = command.input.Records ?? [];
      calls.push(records);
      concurrency.max = Math.max(concurrency.max, ++concurrency.now);
      try {
        for (let turns = Math.floor(random() * 4); turns > 0; turns--) await new Promise((r) => setImmediate(r));
      } finally {
        concurrency.now--;
      }
      if (random() < callThrowRate) throw new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard', $metadata: {} });
      let failed = 0;
      const results = records.map((e): PutRecordsResultEntry => {
        if (random() < entryFailRate) {
          failed++;
          return { ErrorCode: random() < 0.5 ? 'ProvisionedThroughputExceededException' : 'InternalFailure', ErrorMessage: 'injected' };
        }
        acked.push({ key: e.PartitionKey!, data: Buffer.from(e.Data!).toString() });
        return { SequenceNumber: String(++sequence).padStart(56, '0'), ShardId: 'shardId-000000000000' };
      });
      return { $metadata: {}, FailedRecordCount: failed, Records: results };
    },
  };
  return { client, acked, calls, concurrency };
}

/**
 * `n` records over `keys` card keys drawn at random, one in ten with no order key (partition key
 * `free-*`). Data is `key/rank`, the rank counting that key's records in send order.
 */
function keyedRecords(n: number, keys: number, random: () => number, withOrderKey: boolean): ProducerRecord[] {
  const ranks = new Map<string, number>();
  return Array.from({ length: n }, (_, i) => {
    if (random() < 0.1) return { data: Buffer.from(`free/${i}`), partitionKey: `free-${i % 3}` };
    const key = `card-${Math.floor(random() * keys)}`;
    const rank = ranks.get(key) ?? 0;
    ranks.set(key, rank + 1);
    return { data: Buffer.from(`${key}/${rank}`), partitionKey: key, ...(withOrderKey ? { orderKey: key } : {}) };
  });
}

/** Sends `sent` in chunks of random sizes: some callers wait for their chunk, others do not. */
async function sendInChunks(producer: KinesisProducer, sent: ProducerRecord[], random: () => number): Promise<number> {
  const pending: Promise<void>[] = [];
  for (let at = 0; at < sent.length;) {
    const size = 1 + Math.floor(random() * 900);
    pending.push(producer.send(sent.slice(at, at + size)));
    at += size;
    if (random() < 0.3) await pending[pending.length - 1];
  }
  await Promise.all(pending);
  return pending.length;
}

/** Keys (of records sent with an order key, or all if none) whose acknowledged order differs from their send order. */
function keysOutOfOrder(acked: { key: string; data: string }[], sent: ProducerRecord[]): string[] {
  const byKey = (rs: { key: string; data: string }[]) => {
    const m = new Map<string, string[]>();
    for (const r of rs) if (!r.key.startsWith('free-')) m.set(r.key, [...(m.get(r.key) ?? []), r.data]);
    return m;
  };
  const want = byKey(sent.map((r) => ({ key: r.partitionKey, data: Buffer.from(r.data).toString() })));
  const got = byKey(acked);
  return [...want].filter(([key, data]) => JSON.stringify(got.get(key)) !== JSON.stringify(data)).map(([key]) => key);
}

t.test('orderKey: each key is acknowledged in send order through partial failures, throttles and maxInFlight', async (t) => {
  for (const maxInFlight of [1, 4]) {
    for (const seed of [1, 2, 3]) {
      const random = seeded(seed);
      const { client, acked, calls, concurrency } = flakyStream(seeded(seed * 100 + maxInFlight));
      const { options } = fastOptions({ maxInFlight, lingerMs: 0 });
      const producer = new KinesisProducer(client, 's', options);
      const sent = keyedRecords(4000, 50, random, true);
      const sends = await sendInChunks(producer, sent, random);
      const label = `maxInFlight ${maxInFlight}, seed ${seed}, ${sends} sends`;
      t.ok(concurrency.max <= maxInFlight && (maxInFlight === 1 || concurrency.max > 1), `${label}: up to ${concurrency.max} calls at once`);

      t.same(keysOutOfOrder(acked, sent), [], `${label}: every orderKey acknowledged in send order`);
      t.same(acked.map((r) => r.data).sort(), sent.map((r) => Buffer.from(r.data).toString()).sort(), `${label}: every record acknowledged exactly once`);
      const crowded = calls.filter((c) => {
        const keys = c.map((e) => e.PartitionKey!).filter((k) => !k.startsWith('free-'));
        return new Set(keys).size !== keys.length;
      });
      t.equal(crowded.length, 0, `${label}: no call holds two records of one orderKey`);
      const c = producer.counters;
      t.ok(c.partialFailures > 10 && c.throttles > 10 && c.recordsRetried > 400, `${label}: the faults happened (${JSON.stringify(c)})`);
      t.match(c, { recordsSent: 4000, recordsFailed: 0 }, `${label}: counters`);
      t.equal(producer.buffered, 0);
    }
  }
});

t.test('without orderKey the same faults reorder keys (why orderKey exists)', async (t) => {
  for (const maxInFlight of [1, 4]) {
    const random = seeded(1);
    const { client, acked } = flakyStream(seeded(100 + maxInFlight));
    const { options } = fastOptions({ maxInFlight, lingerMs: 0 });
    const producer = new KinesisProducer(client, 's', options);
    const sent = keyedRecords(4000, 50, random, false);
    await sendInChunks(producer, sent, random);
    const reordered = keysOutOfOrder(acked, sent);
    t.ok(reordered.length > 0, `maxInFlight ${maxInFlight}: ${reordered.length} of 50 keys reordered`);
    t.equal(acked.length, 4000, 'still every record exactly once');
  }
});

t.test('orderKey: other keys go ahead of a blocked record, so batches stay full', async (t) => {
  for (const maxInFlight of [1, 4]) {
    const { client, calls } = flakyStream(seeded(1), { entryFailRate: 0, callThrowRate: 0 });
    const producer = new KinesisProducer(client, 's', { maxInFlight, lingerMs: 60_000 });
    const r = (data: string, orderKey?: string): ProducerRecord => ({
      data: Buffer.from(data),
      partitionKey: orderKey ?? 'free',
      ...(orderKey ? { orderKey } : {}),
    });
    const sends = [producer.send([r('a1', 'a'), r('a2', 'a'), r('u1'), r('b1', 'b')]), producer.send([r('a3', 'a'), r('b2', 'b'), r('u2')])];
    await producer.flush();
    await Promise.all(sends);
    t.same(
      calls.map((c) => c.map((e) => Buffer.from(e.Data!).toString())),
      [['a1', 'u1', 'b1', 'u2'], ['a2', 'b2'], ['a3']],
      `maxInFlight ${maxInFlight}: a key waits for its previous record, the rest goes ahead`,
    );
  }
});

t.test('fence down from the start: send() rejects FENCED and no call is made', async (t) => {
  const { client, calls } = flakyStream(seeded(1), { entryFailRate: 0, callThrowRate: 0 });
  let asked = 0;
  const producer = new KinesisProducer(client, 's', {
    lingerMs: 60_000,
    fence: () => {
      asked++;
      return false;
    },
  });
  const failed: { records: number; code: string }[] = [];
  producer.on('failed', (f) => failed.push({ records: f.records, code: f.error.code }));
  const first = producer.send(records(3));
  const second = producer.send(records(2, 7, 's'));
  void producer.flush();
  await t.rejects(first, { name: 'ProducerError', code: 'FENCED', index: 0, retriable: false });
  await t.rejects(second, { code: 'FENCED', index: 0 });
  t.equal(calls.length, 0, 'the client got no call');
  t.equal(asked, 1, 'asked once, for the one call about to be made');
  t.same(failed, [{ records: 5, code: 'FENCED' }], 'the batch and everything behind it, in one event');
  t.match(producer.counters, { recordsSent: 0, recordsFailed: 5, batches: 0 });
  t.equal(producer.buffered, 0);
});

t.test('fence turning during a backoff: the retry is not sent, acknowledged records stay', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 1 });
  const { client: wrapped, calls } = faultyClient(client, new Map<number, Fault>([[0, { kind: 'entries', indices: [1, 4] }]]));
  let up = true;
  const producer = new KinesisProducer(wrapped, stream, {
    random: () => 0.5,
    // The lease is lost while the producer waits to retry.
    sleep: async () => {
      up = false;
    },
    fence: () => up,
  });
  const sent = records(10, 3);
  await t.rejects(producer.send(sent), { code: 'FENCED', index: 1 });
  t.equal(calls.length, 1, 'the retry was not sent');
  t.match(producer.counters, { recordsSent: 8, recordsRetried: 2, recordsFailed: 2, batches: 1, partialFailures: 1 });
  const got = await readStream(client, stream);
  t.same(
    got.map((r) => r.data).sort(),
    sent
      .filter((_, i) => i !== 1 && i !== 4)
      .map((r) => Buffer.from(r.data).toString())
      .sort(),
    'the stream holds exactly the records acknowledged before the fence turned',
  );

  await t.rejects(producer.send(records(2, 1, 'later')), { code: 'FENCED' }, 'later sends are accepted and fenced too');
  t.equal(calls.length, 1);
  up = true;
  await producer.send(records(2, 1, 'back'));
  t.equal(calls.length, 2, 'the fence is asked again at each call');
  t.match(producer.counters, { recordsSent: 10, recordsFailed: 4 });
});

t.test('fence: records already in flight when it turns are still acknowledged', async (t) => {
  const { client: inner, acked } = flakyStream(seeded(1), { entryFailRate: 0, callThrowRate: 0 });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const client: PutRecordsClient = {
    async send(command) {
      await held;
      return inner.send(command);
    },
  };
  let up = true;
  const producer = new KinesisProducer(client, 's', { maxInFlight: 2, lingerMs: 0, fence: () => up });
  const inFlight = producer.send(records(5, 5, 'in'));
  up = false;
  let refused: string | undefined;
  const out = producer.send(records(3, 3, 'out')).then(
    () => undefined,
    (e: ProducerError) => void (refused = e.code),
  );
  await new Promise((r) => setImmediate(r));
  t.equal(refused, 'FENCED', 'records queued after the fence turned are refused at once, while the earlier call is in flight');
  release();
  await Promise.all([inFlight, out]);
  t.same(
    acked.map((r) => r.data),
    ['in0', 'in1', 'in2', 'in3', 'in4'],
  );
  t.match(producer.counters, { recordsSent: 5, recordsFailed: 3, batches: 1 });
});

t.test('a fence that holds changes nothing and is asked before every call, retries included', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 2 });
  const faults = new Map<number, Fault>([
    [0, { kind: 'entries', indices: [0, 3, 7] }],
    [1, { kind: 'throw', error: new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard', $metadata: {} }) }],
  ]);
  const { client: wrapped, calls } = faultyClient(client, faults);
  let asked = 0;
  const { options } = fastOptions({
    maxBatchRecords: 50,
    fence: () => {
      asked++;
      return true;
    },
  });
  const producer = new KinesisProducer(wrapped, stream, options);
  const sent = records(120, 20);
  await Promise.all([producer.send(sent.slice(0, 60)), producer.send(sent.slice(60))]);
  t.equal(calls.length, 4, '50 (3 failed), 50 (thrown), the same 50 again, 23');
  t.equal(asked, calls.length, 'one fence check per call');
  t.match(producer.counters, { recordsSent: 120, recordsFailed: 0, recordsRetried: 3 + calls[1]!.length });
  assertExactlyOnce(t, await readStream(client, stream), sent);
});

t.test('a fence that throws counts as down; its error is the cause', async (t) => {
  const { client, calls } = flakyStream(seeded(1), { entryFailRate: 0, callThrowRate: 0 });
  const broken = new Error('lease table unreachable');
  const producer = new KinesisProducer(client, 's', {
    lingerMs: 0,
    fence: () => {
      throw broken;
    },
  });
  const error = await producer.send(records(2)).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(error, { code: 'FENCED', index: 0, message: /lease table unreachable/ });
  t.equal((error as Error).cause, broken);
  t.equal(calls.length, 0);
});
