import t from 'tap';
import { CreateTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Shard } from '@aws-sdk/client-kinesis';
import { FakeClock, makeWorker, openShards, shard, shardId, withDynamo } from './helpers.js';
import { parentsFirst } from '../../src/lease/sync.js';
import { decodeLease } from '../../src/lease/table.js';

t.test('ensureTable creates an on-demand table keyed by leaseKey, and is idempotent', async (t) => {
  const { client } = await withDynamo(t);
  const worker = makeWorker(client, 'leases', 'w1', new FakeClock());
  await worker.ensureTable();
  await worker.ensureTable();
  const { Table } = await client.send(new DescribeTableCommand({ TableName: 'leases' }));
  t.equal(Table?.TableStatus, 'ACTIVE');
  t.same(Table?.KeySchema, [{ AttributeName: 'leaseKey', KeyType: 'HASH' }]);
  t.same(Table?.AttributeDefinitions, [{ AttributeName: 'leaseKey', AttributeType: 'S' }]);
  t.equal(Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
});

t.test('ensureTable refuses a table with another key schema', async (t) => {
  const { client } = await withDynamo(t);
  await client.send(
    new CreateTableCommand({
      TableName: 'other',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    }),
  );
  await t.rejects(makeWorker(client, 'other', 'w1', new FakeClock()).ensureTable(), /not a lease table/);
});

for (const count of [4, 8]) {
  t.test(`syncShards creates one free lease per shard with KCL attribute names (${count} shards)`, async (t) => {
    const { client } = await withDynamo(t);
    const worker = makeWorker(client, 'leases', 'w1', new FakeClock());
    await worker.ensureTable();
    const created = await worker.syncShards(openShards(count));
    t.equal(created.length, count);
    t.same(await worker.syncShards(openShards(count)), [], 'a second sync creates nothing');

    const { Items = [] } = await client.send(new ScanCommand({ TableName: 'leases' }));
    t.equal(Items.length, count);
    for (const item of Items) {
      t.same(Object.keys(item).sort(), ['checkpoint', 'leaseCounter', 'leaseKey', 'ownerSwitchesSinceCheckpoint'], 'a new lease has no owner and no parents');
      t.same(item.leaseCounter, { N: '0' });
      t.same(item.checkpoint, { S: 'TRIM_HORIZON' });
      t.same(item.ownerSwitchesSinceCheckpoint, { N: '0' });
    }
    const snapshot = await worker.snapshot();
    t.same(
      snapshot.map((l) => l.leaseKey),
      Array.from({ length: count }, (_, i) => shardId(i)),
    );
  });
}

/** Shard 0 split into 1 and 2; shards 1 and 2 merged into 3. 0, 1, 2 are closed. */
function reshardedStream(): Shard[] {
  return [shard(3, { parents: [1, 2] }), shard(2, { parents: [0], closed: true }), shard(1, { parents: [0], closed: true }), shard(0, { closed: true })];
}

t.test('parents are recorded as a string set and children of closed shards as childShardIds', async (t) => {
  const { client } = await withDynamo(t);
  const worker = makeWorker(client, 'leases', 'w1', new FakeClock(), { initialPosition: 'AT_TIMESTAMP' });
  await worker.ensureTable();
  const created = await worker.syncShards(reshardedStream());
  t.equal(created.length, 4);
  t.equal(created[0], shardId(0), 'the root is created first');
  t.equal(created[3], shardId(3), 'the merge child is created last');

  const raw = async (i: number) => (await client.send(new GetItemCommand({ TableName: 'leases', Key: { leaseKey: { S: shardId(i) } } }))).Item!;
  const root = await raw(0);
  t.notOk(root.parentShardId, 'a root shard has no parentShardId');
  t.same(root.checkpoint, { S: 'AT_TIMESTAMP' }, 'a root starts at the configured position');
  t.same(root.childShardIds?.SS?.sort(), [shardId(1), shardId(2)]);
  const merged = await raw(3);
  t.same(merged.parentShardId?.SS?.sort(), [shardId(1), shardId(2)]);
  t.same(merged.checkpoint, { S: 'TRIM_HORIZON' }, 'a child always starts at its beginning');
  t.notOk(merged.childShardIds, 'an open shard has no children');
  t.same((await raw(1)).childShardIds?.SS, [shardId(3)]);
  t.same((await raw(1)).parentShardId?.SS, [shardId(0)]);
  t.same((await raw(0)).leaseCounter, { N: '0' }, 'recording children does not move the counter');
});

t.test('childShardIds are recorded even while the parent lease is held and renewed', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const worker = makeWorker(client, 'leases', 'w1', clock);
  await worker.ensureTable();
  await worker.syncShards([shard(0)]);
  await worker.rebalance();
  await worker.renew();
  await worker.syncShards(reshardedStream());
  await worker.renew();
  t.ok(worker.isSafe(shardId(0)), 'the holder keeps its lease');
  const [root] = await worker.snapshot();
  t.same(root?.childShardIds, [shardId(1), shardId(2)]);
  t.equal(root?.leaseOwner, 'w1');
});

t.test('parentsFirst puts every listed parent before its children', async (t) => {
  const order = parentsFirst(reshardedStream()).map((s) => s.ShardId);
  const pos = (i: number) => order.indexOf(shardId(i));
  t.ok(pos(0) < pos(1) && pos(0) < pos(2), 'root before the split children');
  t.ok(pos(1) < pos(3) && pos(2) < pos(3), 'merge parents before the merge child');
});

t.test('a lease written by KCL (parents as a list) is read the same', async (t) => {
  const { client } = await withDynamo(t);
  const worker = makeWorker(client, 'leases', 'w1', new FakeClock());
  await worker.ensureTable();
  await client.send(
    new PutItemCommand({
      TableName: 'leases',
      Item: {
        leaseKey: { S: 'shardId-x' },
        leaseCounter: { N: '7' },
        checkpoint: { S: '4963' },
        ownerSwitchesSinceCheckpoint: { N: '2' },
        parentShardId: { L: [{ S: 'b' }, { S: 'a' }] },
        leaseOwner: { S: 'kcl-worker' },
      },
    }),
  );
  const [lease] = await worker.snapshot();
  t.same(
    lease,
    decodeLease({
      leaseKey: { S: 'shardId-x' },
      leaseCounter: { N: '7' },
      checkpoint: { S: '4963' },
      ownerSwitchesSinceCheckpoint: { N: '2' },
      parentShardId: { SS: ['a', 'b'] },
      leaseOwner: { S: 'kcl-worker' },
    }),
  );
  t.same(lease?.parentShardIds, ['a', 'b']);
  t.equal(lease?.leaseCounter, 7);
  t.equal(lease?.checkpointWatermarkMs, undefined);
});

t.test('the emulator keeps the lease table on disk when given a path', async (t) => {
  const { withTempDir } = await import('../../../common/test/helpers.js');
  const { startDynamoEmulator } = await import('../../../deploy/local/dynamodb-emulator.js');
  const { createDynamoClient } = await import('../../src/lease/dynamo.js');
  const dir = await withTempDir(t, 'leases-');
  const first = await startDynamoEmulator({ path: dir });
  const client1 = createDynamoClient({ region: 'us-east-1', endpoint: first.endpoint });
  const w1 = makeWorker(client1, 'leases', 'w1', new FakeClock());
  await w1.ensureTable();
  await w1.syncShards(openShards(2));
  await w1.rebalance();
  client1.destroy();
  await first.close();

  const second = await startDynamoEmulator({ path: dir });
  const client2 = createDynamoClient({ region: 'us-east-1', endpoint: second.endpoint });
  t.teardown(async () => {
    client2.destroy();
    await second.close();
  });
  const w2 = makeWorker(client2, 'leases', 'w2', new FakeClock());
  await w2.ensureTable();
  const leases = await w2.snapshot();
  t.same(
    leases.map((l) => [l.leaseKey, l.leaseOwner]),
    [
      [shardId(0), 'w1'],
      [shardId(1), 'w1'],
    ],
  );
});

t.test('docs/leases.md names every attribute and every event', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { ATTR } = await import('../../src/lease/types.js');
  const doc = await readFile(new URL('../../../docs/leases.md', import.meta.url), 'utf8');
  for (const name of Object.values(ATTR)) t.match(doc, `\`${name}\``, `attribute ${name} is documented`);
  for (const event of ['acquired', 'lost', 'stolen', 'renewFailed']) t.match(doc, `\`${event}\``, `event ${event} is documented`);
});
