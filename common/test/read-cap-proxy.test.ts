/**
 * The read-cap proxy: its per-shard budget on a fake clock, then in front of a real kinesalite with
 * real SDK clients and the repo's ShardReader. Each cap is shown to refuse what it must (and, for the
 * byte cap, that the same read without it goes faster than the cap, so the bound is not vacuous).
 */
import t, { type Test } from 'tap';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { awsErrorName, createKinesisClient, isThrottle } from '../src/kinesis.js';
import { ShardReader } from '../src/shard-reader.js';
import { readAllRecords, withKinesis } from './helpers.js';
import { KINESIS_READ_CAPS, MiB, ReadCapProxy, ShardReadBudget, recordBytes, type ReadCaps } from './read-cap-proxy.js';

const SHARD0 = 'shardId-000000000000';
const SHARD1 = 'shardId-000000000001';

/** Kinesalite, the read-cap proxy in front of it, and a way to make SDK clients that go through it. */
async function kinesisBehindCap(t: Test, options: { shards?: number; stream?: string } & Partial<ReadCaps> = {}) {
  const { shards = 2, stream = 'payments', ...caps } = options;
  const kinesis = await withKinesis(t, { shards, stream });
  const proxy = new ReadCapProxy({ target: kinesis.endpoint, ...caps });
  const endpoint = await proxy.start();
  t.teardown(() => proxy.stop());
  /** A new SDK client through the proxy: one per reader, as separate processes would have. */
  const reader = () => {
    const client = createKinesisClient({ region: 'us-east-1', endpoint });
    t.teardown(() => client.destroy());
    return client;
  };
  return { ...kinesis, proxy, proxyEndpoint: endpoint, reader };
}

/** One GetRecords call on a chained iterator; throttled calls keep the iterator for the next try. */
function shardPoller(client: KinesisClient, stream: string, shardId: string) {
  let iterator: string | undefined;
  return async (): Promise<'ok' | string> => {
    iterator ??= (await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    try {
      const out = await client.send(new GetRecordsCommand({ ShardIterator: iterator }));
      iterator = out.NextShardIterator;
      return 'ok';
    } catch (error) {
      return awsErrorName(error);
    }
  };
}

const PTEE = 'ProvisionedThroughputExceededException';

t.test('ShardReadBudget: a sliding one-second window of 5 calls; N bytes block the shard N / 2 MiB s', async (t) => {
  const budget = new ShardReadBudget(() => KINESIS_READ_CAPS, 0);
  t.same(
    [0, 100, 200, 300, 400].map((at) => budget.admit(at)),
    [undefined, undefined, undefined, undefined, undefined],
    'five calls in 400 ms are admitted',
  );
  t.equal(budget.admit(999), 'calls', 'the sixth within a second is refused');
  t.equal(budget.admit(1_000), undefined, 'the window slides: the call at 0 no longer counts at 1000');
  t.equal(budget.admit(1_099), 'calls', 'a refused call took no place in the window (100..400 and 1000 are 5)');
  t.equal(budget.admit(1_100), undefined);

  const bytes = new ShardReadBudget(() => KINESIS_READ_CAPS, 0);
  t.equal(bytes.admit(0), undefined, 'a call is admitted however much it will return');
  bytes.charge(10 * MiB, 0);
  t.equal(bytes.admit(4_999), 'bytes', '10 MiB returned: the shard is throttled for 5 s');
  t.equal(bytes.admit(5_000), undefined, 'and no longer');
  bytes.charge(MiB, 5_000);
  t.equal(bytes.admit(5_499), 'bytes', '1 MiB: 0.5 s');
  t.equal(bytes.admit(5_500), undefined);
  t.equal(bytes.admit(60_000), undefined);
  bytes.charge(MiB, 60_000);
  t.equal(bytes.admit(60_499), 'bytes', 'an idle shard saves no credit by default (as AWS documents)');

  const burst = new ShardReadBudget(() => ({ ...KINESIS_READ_CAPS, burstBytes: 2 * MiB }), 0);
  burst.charge(10 * MiB, 0);
  t.equal(burst.admit(3_999), 'bytes', 'with 2 MiB of saved credit, 10 MiB is 8 MiB of debt');
  t.equal(burst.admit(4_000), undefined);

  const off = new ShardReadBudget(() => ({ callsPerSecond: Infinity, bytesPerSecond: Infinity, burstBytes: 0 }), 0);
  off.charge(100 * MiB, 0);
  t.same(
    Array.from({ length: 20 }, () => off.admit(1)),
    Array.from({ length: 20 }, () => undefined),
    'Infinity turns the caps off',
  );
});

t.test('the 6th GetRecords on one shard within a second is refused the way Kinesis refuses it', async (t) => {
  const { stream, proxy, proxyEndpoint, reader } = await kinesisBehindCap(t);
  const client = reader();
  const poll = shardPoller(client, stream, SHARD1);
  const started = Date.now();
  const outcomes = [await poll()];
  for (let i = 0; i < 5; i++) outcomes.push(await poll());
  const elapsed = Date.now() - started;
  t.ok(elapsed < 900, `the calls were rapid (${elapsed} ms for six)`);
  t.same(outcomes, ['ok', 'ok', 'ok', 'ok', 'ok', PTEE], 'five pass, the sixth is throttled');

  // The SDK's view of the refusal.
  const { ShardIterator } = await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: SHARD1, ShardIteratorType: 'LATEST' }));
  const error = await client.send(new GetRecordsCommand({ ShardIterator })).catch((e: unknown) => e);
  t.equal(awsErrorName(error), PTEE, 'the SDK names the error ProvisionedThroughputExceededException');
  t.ok(isThrottle(error), 'and the repo classifies it as a throttle');
  t.equal((error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, 400);
  t.equal((error as Error).message, `Rate exceeded for shard ${SHARD1} in stream payments under account 000000000000.`);

  // The wire: status, content type and body exactly as Kinesis sends them.
  const raw = await fetch(proxyEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Kinesis_20131202.GetRecords' },
    body: JSON.stringify({ ShardIterator }),
  });
  t.equal(raw.status, 400);
  t.equal(raw.headers.get('content-type'), 'application/x-amz-json-1.1');
  t.same(await raw.json(), { __type: PTEE, message: `Rate exceeded for shard ${SHARD1} in stream payments under account 000000000000.` });

  t.same(proxy.shardStats(stream, SHARD1), {
    stream,
    shardId: SHARD1,
    calls: 5,
    records: 0,
    bytes: 0,
    throttles: 3,
    throttledByCalls: 3,
    throttledByBytes: 0,
  });
  t.equal(proxy.unmappedCalls, 0, 'every iterator was learnt (GetShardIterator, then NextShardIterator)');

  // The window slides: a second after the fifth admitted call, the shard is readable again.
  await new Promise((r) => setTimeout(r, 1_000 - (Date.now() - started) + 50));
  t.equal(await poll(), 'ok', 'a second later the shard answers again');
});

t.test('readers of one shard share its 5 calls/s; readers of another shard do not', async (t) => {
  const { stream, proxy, reader } = await kinesisBehindCap(t);
  // Three SDK clients, as the processor and the Firehose stand-in would each have their own.
  const a = shardPoller(reader(), stream, SHARD0);
  const b = shardPoller(reader(), stream, SHARD0);
  const c = shardPoller(reader(), stream, SHARD1);
  // Iterators first, so that the timed part is GetRecords only.
  await Promise.all([a(), b(), c()]);
  proxy.resetStats();
  await new Promise((r) => setTimeout(r, 1_050));

  const started = Date.now();
  const shared = [await a(), await b(), await a(), await b(), await a(), await b(), await a()];
  const other = [await c(), await c(), await c(), await c(), await c()];
  const elapsed = Date.now() - started;
  t.ok(elapsed < 900, `the calls were rapid (${elapsed} ms)`);
  t.same(shared, ['ok', 'ok', 'ok', 'ok', 'ok', PTEE, PTEE], 'A and B together get five calls on shard 0');
  t.same(other, ['ok', 'ok', 'ok', 'ok', 'ok'], 'C on shard 1 has its own five');
  t.match(proxy.shardStats(stream, SHARD0), { calls: 5, throttles: 2, throttledByCalls: 2 });
  t.match(proxy.shardStats(stream, SHARD1), { calls: 5, throttles: 0 });
});

t.test('the byte cap: ShardReader reads 4 MiB at no more than 2 MiB/s, every record once', async (t) => {
  const { client: direct, stream, proxy, reader } = await kinesisBehindCap(t, { shards: 1 });
  const RECORD = 32 * 1024;
  const COUNT = 128; // 4 MiB of data
  for (let i = 0; i < COUNT; i += 32) {
    const Records = Array.from({ length: 32 }, (_, j) => {
      const data = Buffer.alloc(RECORD, 'x');
      data.write(String(i + j).padStart(6, '0'));
      return { PartitionKey: `k-${i + j}`, Data: data };
    });
    const put = await direct.send(new PutRecordsCommand({ StreamName: stream, Records }));
    t.equal(put.FailedRecordCount, 0);
  }
  const client = reader();

  /** Reads the shard from TRIM_HORIZON until caught up; timed from the first call to the first empty batch. */
  async function readAll() {
    let throttled = 0;
    // 16 records = 512 KiB a call, so 2 MiB/s is 4 calls/s: the byte cap binds, not the 5 calls/s.
    const shardReader = new ShardReader(
      client,
      stream,
      SHARD0,
      { type: 'TRIM_HORIZON' },
      {
        limit: 16,
        minCallIntervalMs: 0,
        backoff: { initialMs: 10, factor: 1.5, maxMs: 50, jitter: 0.2 },
        onRetry: (info) => {
          if (info.reason === 'throttled') throttled++;
        },
      },
    );
    const seen: number[] = [];
    let bytes = 0;
    const started = performance.now();
    for (;;) {
      const batch = await shardReader.next();
      if (batch.records.length === 0) break;
      for (const r of batch.records) {
        seen.push(Number(Buffer.from(r.Data!).subarray(0, 6).toString()));
        bytes += r.Data!.length + Buffer.byteLength(r.PartitionKey!);
      }
    }
    const seconds = (performance.now() - started) / 1_000;
    return { seen, bytes, seconds, rate: bytes / MiB / seconds, throttled };
  }

  const capped = await readAll();
  const stats = proxy.shardStats(stream, SHARD0);
  t.comment(
    `capped: ${(capped.bytes / MiB).toFixed(2)} MiB in ${capped.seconds.toFixed(2)} s = ${capped.rate.toFixed(2)} MiB/s; ` +
      `${stats.calls} calls admitted, ${stats.throttles} throttled (${stats.throttledByBytes} by bytes, ${stats.throttledByCalls} by calls)`,
  );
  t.same(
    capped.seen,
    Array.from({ length: COUNT }, (_, i) => i),
    'every record once, in order',
  );
  t.ok(capped.rate <= 2 * 1.02, `throughput ${capped.rate.toFixed(3)} MiB/s <= 2 MiB/s (+2 %)`);
  t.ok(capped.throttled > 0 && stats.throttledByBytes > 0, 'the byte cap throttled the reader');
  t.equal(capped.throttled, stats.throttles, 'every throttle reached ShardReader, which retried it');
  t.equal(stats.bytes, capped.bytes, 'the proxy counts record bytes as the reader sees them (data + partition key)');
  t.equal(stats.records, COUNT);

  // The same read without the caps, to show the bound above is the proxy's doing.
  proxy.setCaps({ callsPerSecond: Infinity, bytesPerSecond: Infinity });
  const free = await readAll();
  t.comment(`uncapped: ${(free.bytes / MiB).toFixed(2)} MiB in ${free.seconds.toFixed(2)} s = ${free.rate.toFixed(2)} MiB/s`);
  t.ok(free.rate > 3, `without the cap the same read is well above 2 MiB/s (${free.rate.toFixed(2)} MiB/s)`);
  t.equal(free.throttled, 0);
  t.equal(free.seen.length, COUNT);
});

t.test('every other call passes through untouched and uncapped', async (t) => {
  const { client: direct, endpoint, stream, proxy, proxyEndpoint, reader } = await kinesisBehindCap(t);
  const client = reader();
  // Well over 5 calls/s of each: none is counted or capped.
  for (let i = 0; i < 12; i++) {
    const put = await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: [
          { PartitionKey: `pk-${i}`, Data: Buffer.from(`record ${i}`) },
          { PartitionKey: `pk-${i}-b`, Data: Buffer.from('b') },
        ],
      }),
    );
    t.equal(put.FailedRecordCount, 0);
  }
  for (let i = 0; i < 12; i++) t.equal((await client.send(new ListShardsCommand({ StreamName: stream }))).Shards?.length, 2);
  for (let i = 0; i < 12; i++) await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  t.equal((await readAllRecords(direct, stream)).length, 24, 'every put reached kinesalite');

  // Byte for byte: the same request straight to kinesalite and through the proxy gets the same body.
  const auth = {
    'content-type': 'application/x-amz-json-1.1',
    // kinesalite wants a SigV4-shaped header and never checks the signature.
    authorization: 'AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
    'x-amz-date': '20240101T000000Z',
  };
  for (const [op, body] of [
    ['ListShards', { StreamName: stream }],
    ['DescribeStream', { StreamName: stream }],
    ['ListStreams', {}],
    ['DescribeStreamSummary', { StreamName: 'no-such-stream' }],
  ] as const) {
    const call = (url: string) =>
      fetch(url, { method: 'POST', headers: { ...auth, 'x-amz-target': `Kinesis_20131202.${op}` }, body: JSON.stringify(body) }).then(async (r) => ({
        status: r.status,
        type: r.headers.get('content-type'),
        body: await r.text(),
      }));
    const [straight, proxied] = [await call(endpoint), await call(proxyEndpoint)];
    t.same(proxied, straight, `${op}: ${straight.status}, same body`);
  }
  t.same(proxy.stats(), [], 'no shard was charged');
  t.equal(proxy.unmappedCalls, 0);

  // GetRecords with an iterator from around the proxy: forwarded uncapped, and counted as such.
  const { ShardIterator } = await direct.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: SHARD0, ShardIteratorType: 'TRIM_HORIZON' }));
  for (let i = 0; i < 7; i++) await client.send(new GetRecordsCommand({ ShardIterator }));
  t.equal(proxy.unmappedCalls, 7, 'an iterator the proxy never saw is not capped, but is counted');
});

t.test('recordBytes counts the decoded data blob and the partition key', async (t) => {
  t.equal(recordBytes({ Data: Buffer.alloc(1000).toString('base64'), PartitionKey: 'kéy' }), 1004);
  t.equal(recordBytes({}), 0);
});
