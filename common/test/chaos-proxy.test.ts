/**
 * The chaos proxy against real emulators and real SDK clients: what passes through is untouched,
 * and each fault reaches the SDK the way the real service's would.
 */
import t, { type Test } from 'tap';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { CreateTableCommand, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { awsErrorName, createKinesisClient, isThrottle, isUnavailable } from '../src/kinesis.js';
import { KinesisProducer } from '../src/producer.js';
import { createDynamoClient } from '../../processor/src/lease/dynamo.js';
import { withDynamo } from '../../processor/test/lease/helpers.js';
import { readAllRecords, withKinesis } from './helpers.js';
import { startChaosProxy, type ChaosRequest } from './chaos-proxy.js';

const entries = (n: number, prefix = 'pk') => Array.from({ length: n }, (_, i) => ({ PartitionKey: `${prefix}-${i}`, Data: Buffer.from(`record ${i}`) }));

const text = (data: Uint8Array | undefined) => Buffer.from(data ?? []).toString('utf8');

/** Kinesalite, a proxy in front of it, and an SDK client that goes through the proxy. */
async function kinesisBehindProxy(t: Test, shards = 2) {
  const kinesis = await withKinesis(t, { shards });
  const proxy = await startChaosProxy(t, kinesis.endpoint);
  const client = createKinesisClient({ region: 'us-east-1', endpoint: proxy.endpoint });
  t.teardown(() => client.destroy());
  return { ...kinesis, proxy, viaProxy: client };
}

async function putRecords(client: KinesisClient, stream: string, records: ReturnType<typeof entries>, abortSignal?: AbortSignal) {
  return client.send(new PutRecordsCommand({ StreamName: stream, Records: records }), abortSignal ? { abortSignal } : {});
}

t.test('Kinesis calls pass through unchanged; the SDK sends AWS JSON 1.1', async (t) => {
  const { client: direct, stream, proxy, viaProxy } = await kinesisBehindProxy(t);
  const seen: ChaosRequest[] = [];
  proxy.onRequest((_op, _body, request) => {
    seen.push(request);
    return undefined;
  });

  const put = await putRecords(viaProxy, stream, entries(20));
  t.equal(put.FailedRecordCount, 0);
  t.equal(put.Records?.length, 20);
  t.ok(
    put.Records?.every((r) => r.SequenceNumber && r.ShardId),
    'every entry has a sequence number',
  );

  const listed = await viaProxy.send(new ListShardsCommand({ StreamName: stream }));
  t.same(
    listed.Shards?.map((s) => s.ShardId),
    ['shardId-000000000000', 'shardId-000000000001'],
  );

  const read: string[] = [];
  for (const shard of listed.Shards ?? []) {
    const { ShardIterator } = await viaProxy.send(
      new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const page = await viaProxy.send(new GetRecordsCommand({ ShardIterator }));
    for (const r of page.Records ?? []) read.push(`${r.PartitionKey}=${text(r.Data)}`);
  }
  const expected = entries(20).map((e) => `${e.PartitionKey}=${text(e.Data)}`);
  t.same(read.sort(), [...expected].sort(), 'GetRecords through the proxy reads what was put');
  t.same(
    (await readAllRecords(direct, stream)).map((r) => `${r.PartitionKey}=${text(r.Data)}`).sort(),
    [...expected].sort(),
    'and so does kinesalite directly',
  );

  const first = seen[0]!;
  t.comment(`Kinesis request: ${first.method} ${first.path} content-type=${first.headers['content-type']} x-amz-target=${first.headers['x-amz-target']}`);
  t.equal(first.headers['content-type'], 'application/x-amz-json-1.1', 'JSON, not CBOR');
  t.equal(first.headers['x-amz-target'], 'Kinesis_20131202.PutRecords');
  t.same(proxy.stats(), {
    requests: { PutRecords: 1, ListShards: 1, GetShardIterator: 2, GetRecords: 2 },
    faults: {},
    failedRecords: 0,
    refusedConnections: 0,
  });
});

t.test('an injected error reaches the SDK under its AWS name; nothing is forwarded', async (t) => {
  const { client: direct, stream, proxy, viaProxy } = await kinesisBehindProxy(t);
  proxy.onRequest((op) =>
    op === 'PutRecords' ? { kind: 'error', status: 400, type: 'ProvisionedThroughputExceededException', message: 'Rate exceeded' } : undefined,
  );
  const throttled = await putRecords(viaProxy, stream, entries(3)).catch((e: unknown) => e);
  t.equal(awsErrorName(throttled), 'ProvisionedThroughputExceededException');
  t.ok(isThrottle(throttled), 'the callers classify it as a throttle');
  t.equal((throttled as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, 400);
  t.equal((throttled as Error).message, 'Rate exceeded');

  proxy.onRequest((op) => (op === 'PutRecords' ? { kind: 'error', status: 500, type: 'InternalFailure' } : undefined));
  const internal = await putRecords(viaProxy, stream, entries(3)).catch((e: unknown) => e);
  t.equal(awsErrorName(internal), 'InternalFailure');
  t.ok(isUnavailable(internal), 'a 500 is classified as unavailable');

  t.same(await viaProxy.send(new ListShardsCommand({ StreamName: stream })).then((r) => r.Shards?.length), 2, 'other operations still pass');
  t.equal((await readAllRecords(direct, stream)).length, 0, 'no record reached kinesalite');
  t.match(proxy.stats(), { requests: { PutRecords: 2, ListShards: 1 }, faults: { PutRecords: 2 } });
});

t.test('putRecordsPartial fails the chosen entries the way Kinesis does', async (t) => {
  const { client: direct, stream, proxy, viaProxy } = await kinesisBehindProxy(t);
  const seenKeys: string[] = [];
  proxy.onRequest((op) =>
    op === 'PutRecords'
      ? {
          kind: 'putRecordsPartial',
          fail: (i, entry) => {
            seenKeys.push(entry.PartitionKey);
            return i % 2 === 1 ? (i % 4 === 1 ? 'ProvisionedThroughputExceededException' : 'InternalFailure') : undefined;
          },
        }
      : undefined,
  );
  const put = await putRecords(viaProxy, stream, entries(10));
  t.same(
    seenKeys,
    entries(10).map((e) => e.PartitionKey),
    'fail() sees every entry in order',
  );
  t.equal(put.FailedRecordCount, 5);
  t.equal(put.Records?.length, 10);
  for (const [i, r] of (put.Records ?? []).entries()) {
    if (i % 2 === 0) {
      t.ok(r.SequenceNumber && r.ShardId && !r.ErrorCode, `entry ${i} acknowledged`);
    } else {
      t.equal(r.ErrorCode, i % 4 === 1 ? 'ProvisionedThroughputExceededException' : 'InternalFailure', `entry ${i} failed`);
      t.type(r.ErrorMessage, 'string');
      t.notOk(r.SequenceNumber ?? r.ShardId, `entry ${i} has no sequence number`);
    }
  }
  const inStream = (await readAllRecords(direct, stream)).map((r) => r.PartitionKey).sort();
  t.same(
    inStream,
    entries(10)
      .filter((_, i) => i % 2 === 0)
      .map((e) => e.PartitionKey)
      .sort(),
    'only the acknowledged entries are in the stream',
  );

  proxy.onRequest(() => ({ kind: 'putRecordsPartial', fail: () => 'InternalFailure' }));
  const none = await putRecords(viaProxy, stream, entries(3, 'all'));
  t.equal(none.FailedRecordCount, 3, 'every entry failed: nothing forwarded, still a 200');
  t.ok(none.Records?.every((r) => r.ErrorCode === 'InternalFailure'));
  t.equal((await readAllRecords(direct, stream)).length, 5);
  t.match(proxy.stats(), { requests: { PutRecords: 2 }, faults: { PutRecords: 2 }, failedRecords: 8 });
});

t.test('the producer redelivers entries failed by putRecordsPartial, each exactly once', async (t) => {
  const { client: direct, stream, proxy, viaProxy } = await kinesisBehindProxy(t);
  const attempts = new Map<string, number>();
  proxy.onRequest((op) =>
    op === 'PutRecords'
      ? {
          kind: 'putRecordsPartial',
          // Each entry's first attempt fails when its index is odd.
          fail: (i, entry) => {
            const n = (attempts.get(entry.PartitionKey) ?? 0) + 1;
            attempts.set(entry.PartitionKey, n);
            return n === 1 && i % 2 === 1 ? 'ProvisionedThroughputExceededException' : undefined;
          },
        }
      : undefined,
  );
  const producer = new KinesisProducer(viaProxy, stream, { backoff: { initialMs: 1, factor: 2, maxMs: 5, jitter: 0 } });
  const records = entries(50).map((e) => ({ partitionKey: e.PartitionKey, data: e.Data }));
  await producer.send(records);
  await producer.close();
  const inStream = (await readAllRecords(direct, stream)).map((r) => r.PartitionKey!).sort();
  t.same(inStream, records.map((r) => r.partitionKey).sort(), 'every record in the stream once');
  t.ok(producer.counters.partialFailures >= 1, `partial failures seen: ${producer.counters.partialFailures}`);
  t.equal(producer.counters.recordsRetried, proxy.stats().failedRecords, 'retried exactly the failed entries');
});

t.test("'refuse' fails calls with a network error, in flight or new; 'pass' works again", async (t) => {
  const { stream, proxy, viaProxy } = await kinesisBehindProxy(t);
  const list = (abortSignal?: AbortSignal) => viaProxy.send(new ListShardsCommand({ StreamName: stream }), abortSignal ? { abortSignal } : {});
  await list(); // leaves a kept-alive connection in the client's pool

  proxy.setMode('refuse');
  const started = Date.now();
  const refused = await list().catch((e: unknown) => e);
  t.ok(refused instanceof Error, 'the call fails');
  t.ok(isUnavailable(refused), `a network error: ${(refused as { code?: string }).code} ${(refused as Error).message}`);
  t.ok(['ECONNRESET', 'ECONNREFUSED', 'EPIPE'].includes((refused as { code?: string }).code ?? ''), 'ECONNRESET-like');
  t.ok(Date.now() - started < 2_000, 'at once');
  const again = await list().catch((e: unknown) => e);
  t.ok(isUnavailable(again), 'and keeps failing');
  t.ok(proxy.stats().refusedConnections >= 1, 'new connections are reset on arrival');

  proxy.setMode('pass');
  t.equal((await list()).Shards?.length, 2, "'pass' works at once");

  proxy.setMode('hang');
  const inFlight = list().catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 200));
  proxy.setMode('refuse');
  t.ok(isUnavailable(await inFlight), 'a call in flight fails when the endpoint goes down');
  proxy.setMode('pass');
  t.equal((await list()).Shards?.length, 2);
});

t.test("'hang' never answers until the mode changes; 'pass' afterwards works", async (t) => {
  const { client: direct, stream, proxy, viaProxy } = await kinesisBehindProxy(t);
  proxy.setMode('hang');
  const started = Date.now();
  const timedOut = await putRecords(viaProxy, stream, entries(2), AbortSignal.timeout(500)).catch((e: unknown) => e);
  const waited = Date.now() - started;
  t.equal(awsErrorName(timedOut), 'AbortError', 'no answer: the caller gives up');
  t.ok(waited >= 450 && waited < 3_000, `after its own timeout (${waited} ms)`);
  t.same(proxy.stats().faults, { PutRecords: 1 }, 'the request reached the proxy');

  const held = putRecords(viaProxy, stream, entries(2)).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 300));
  const released = Date.now();
  proxy.setMode('pass');
  t.ok(isUnavailable(await held), 'leaving hang closes the held request: a network error');
  t.ok(Date.now() - released < 2_000, 'at once');

  const put = await putRecords(viaProxy, stream, entries(2));
  t.equal(put.FailedRecordCount, 0, "'pass' works again");
  t.same((await readAllRecords(direct, stream)).map((r) => r.PartitionKey).sort(), ['pk-0', 'pk-1'], 'only the call made in pass mode wrote');
});

t.test('DynamoDB: UpdateItem passes through (AWS JSON 1.0) and an injected error reaches the client', async (t) => {
  const dynamo = await withDynamo(t);
  const proxy = await startChaosProxy(t, dynamo.endpoint);
  const client = createDynamoClient({ region: 'us-east-1', endpoint: proxy.endpoint });
  t.teardown(() => client.destroy());
  const contentTypes = new Set<string>();
  proxy.onRequest((_op, _body, request) => {
    contentTypes.add(String(request.headers['content-type']));
    return undefined;
  });
  await client.send(
    new CreateTableCommand({
      TableName: 'leases',
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const update = (owner: string) =>
    client.send(
      new UpdateItemCommand({
        TableName: 'leases',
        Key: { leaseKey: { S: 'shard-0' } },
        UpdateExpression: 'SET leaseOwner = :o',
        ExpressionAttributeValues: { ':o': { S: owner } },
      }),
    );
  await update('w1');
  const stored = await dynamo.client.send(new GetItemCommand({ TableName: 'leases', Key: { leaseKey: { S: 'shard-0' } } }));
  t.equal(stored.Item?.leaseOwner?.S, 'w1', 'the update reached dynalite');
  t.comment(`DynamoDB content-type: ${[...contentTypes].join(', ')}`);
  t.same([...contentTypes], ['application/x-amz-json-1.0']);

  proxy.onRequest((op, body: { Key?: { leaseKey?: { S?: string } } }) =>
    op === 'UpdateItem' && body.Key?.leaseKey?.S === 'shard-0' ? { kind: 'error', status: 400, type: 'ProvisionedThroughputExceededException' } : undefined,
  );
  const throttled = await update('w2').catch((e: unknown) => e);
  t.equal(awsErrorName(throttled), 'ProvisionedThroughputExceededException');
  proxy.onRequest(() => ({ kind: 'error', status: 500, type: 'InternalServerError' }));
  t.equal(awsErrorName(await update('w2').catch((e: unknown) => e)), 'InternalServerError');
  const after = await dynamo.client.send(new GetItemCommand({ TableName: 'leases', Key: { leaseKey: { S: 'shard-0' } } }));
  t.equal(after.Item?.leaseOwner?.S, 'w1', 'the refused updates were not forwarded');
  t.match(proxy.stats(), { requests: { CreateTable: 1, UpdateItem: 3 }, faults: { UpdateItem: 2 } });
});
