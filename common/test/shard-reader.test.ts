import t from 'tap';
import { GetRecordsCommand, GetShardIteratorCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { withKinesis } from './helpers.js';
import { ShardReader, listAllShards } from '../src/shard-reader.js';

/** A real client whose next GetRecords calls fail with the AWS errors queued in `failures`. */
function faulty(client: KinesisClient) {
  const failures: string[] = [];
  const iteratorRequests: unknown[] = [];
  const wrapped = {
    send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) iteratorRequests.push(command.input);
      if (command instanceof GetRecordsCommand && failures.length > 0) {
        const error = new Error('injected');
        error.name = failures.shift()!;
        return Promise.reject(error);
      }
      return client.send(command as never);
    },
  } as unknown as KinesisClient;
  return { client: wrapped, failures, iteratorRequests };
}

async function fill(client: KinesisClient, stream: string, n: number) {
  for (let i = 0; i < n; i += 500) {
    await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ Data: Buffer.from(String(i + j)), PartitionKey: 'one-key' })),
      }),
    );
  }
}

const fastBackoff = { initialMs: 1, factor: 2, maxMs: 5, jitter: 0.2 };

t.test('throttling and an expired iterator are retried; nothing is skipped or read twice', async (t) => {
  const k = await withKinesis(t, { shards: 1 });
  await fill(k.client, k.stream, 1200);
  const [shard] = await listAllShards(k.client, k.stream);
  const f = faulty(k.client);
  const retries: string[] = [];
  const reader = new ShardReader(
    f.client,
    k.stream,
    shard!.ShardId!,
    { type: 'TRIM_HORIZON' },
    {
      limit: 500,
      minCallIntervalMs: 0,
      backoff: fastBackoff,
      onRetry: (i) => retries.push(i.reason),
    },
  );
  const seen: string[] = [];
  const first = await reader.next();
  seen.push(...first.records.map((r) => Buffer.from(r.Data!).toString()));
  // Mid-shard: two throttles, then the iterator has expired.
  f.failures.push('ProvisionedThroughputExceededException', 'ProvisionedThroughputExceededException', 'ExpiredIteratorException');
  for (;;) {
    const b = await reader.next();
    seen.push(...b.records.map((r) => Buffer.from(r.Data!).toString()));
    if (b.records.length === 0 && b.millisBehindLatest === 0) break;
  }
  t.same(
    seen,
    Array.from({ length: 1200 }, (_, i) => String(i)),
    'every record once, in order',
  );
  t.same(retries, ['throttled', 'throttled', 'iterator_expired']);
  const last = f.iteratorRequests.at(-1) as { ShardIteratorType: string; StartingSequenceNumber: string };
  t.equal(last.ShardIteratorType, 'AFTER_SEQUENCE_NUMBER', 'the new iterator starts after the last record returned');
  t.equal(last.StartingSequenceNumber, first.records.at(-1)!.SequenceNumber);
});

t.test('prefetch: the next call is in flight while a batch is worked on; lastSequenceNumber follows what was handed out', async (t) => {
  const k = await withKinesis(t, { shards: 1 });
  await fill(k.client, k.stream, 1_000);
  const [shard] = await listAllShards(k.client, k.stream);
  let calls = 0;
  const counting = {
    send(command: unknown) {
      if (command instanceof GetRecordsCommand) calls++;
      return k.client.send(command as never);
    },
  } as unknown as KinesisClient;
  const f = faulty(counting);
  // Aborted at the end: the last prefetch would otherwise retry the emulator after its teardown.
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const reader = new ShardReader(
    f.client,
    k.stream,
    shard!.ShardId!,
    { type: 'TRIM_HORIZON' },
    { limit: 300, minCallIntervalMs: 0, backoff: fastBackoff, prefetch: true, signal: stop.signal },
  );
  const seen: string[] = [];
  const first = await reader.next();
  t.equal(calls, 2, 'the second call started when the first batch was handed out');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(reader.lastSequenceNumber, first.records.at(-1)!.SequenceNumber, 'not the prefetched batch');
  seen.push(...first.records.map((r) => Buffer.from(r.Data!).toString()));
  // A throttle and an expired iterator hit the prefetched calls: still every record once, in order.
  f.failures.push('ProvisionedThroughputExceededException', 'ExpiredIteratorException');
  for (;;) {
    const b = await reader.next();
    seen.push(...b.records.map((r) => Buffer.from(r.Data!).toString()));
    if (b.records.length > 0) t.equal(reader.lastSequenceNumber, b.records.at(-1)!.SequenceNumber);
    if (b.records.length === 0 && b.millisBehindLatest === 0) break;
  }
  t.same(
    seen,
    Array.from({ length: 1_000 }, (_, i) => String(i)),
    'every record once, in order',
  );
});

t.test('calls are paced to the per-shard limit', async (t) => {
  const k = await withKinesis(t, { shards: 1 });
  const [shard] = await listAllShards(k.client, k.stream);
  let clock = 1_000_000;
  const slept: number[] = [];
  const reader = new ShardReader(
    k.client,
    k.stream,
    shard!.ShardId!,
    { type: 'LATEST' },
    {
      minCallIntervalMs: 200,
      now: () => clock,
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
    },
  );
  for (let i = 0; i < 5; i++) {
    await reader.next();
    clock += 30; // the caller's own work between calls
  }
  t.same(slept, [170, 170, 170, 170], 'at most one call per 200 ms: 5 calls per second');
});

t.test('a missing stream is waited for, not fatal', async (t) => {
  const k = await withKinesis(t, { shards: 1 });
  const retries: string[] = [];
  const controller = new AbortController();
  const reader = new ShardReader(
    k.client,
    'no-such-stream',
    'shardId-000000000000',
    { type: 'TRIM_HORIZON' },
    {
      minCallIntervalMs: 0,
      backoff: fastBackoff,
      signal: controller.signal,
      onRetry: (i) => {
        retries.push(i.reason);
        if (retries.length === 3) controller.abort();
      },
    },
  );
  const b = await reader.next();
  t.same(retries, ['unavailable', 'unavailable', 'unavailable']);
  t.same(b, { records: [], millisBehindLatest: 0, end: false }, 'returns empty once aborted');
});

t.test('regression: AT_TIMESTAMP with no record after the timestamp answers at once (kinesalite hung until the 30 s request timeout)', async (t) => {
  const k = await withKinesis(t, { shards: 1 });
  const [shard] = await listAllShards(k.client, k.stream);
  const reader = new ShardReader(k.client, k.stream, shard!.ShardId!, { type: 'AT_TIMESTAMP', timestampMs: Date.now() - 3_600_000 }, { minCallIntervalMs: 0 });
  const started = Date.now();
  const first = await Promise.race([reader.next(), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5_000))]);
  t.not(first, 'hung', `answered in ${Date.now() - started} ms`);
  await fill(k.client, k.stream, 3);
  const next = await reader.next();
  t.same(
    next.records.map((r) => Buffer.from(r.Data!).toString()),
    ['0', '1', '2'],
    'and then reads what arrives',
  );
});
