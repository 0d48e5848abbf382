/**
 * Housekeeping of the lease table (issue 15): a finished lease is deleted once every child has
 * checkpointed past its end by the retention, as KCL's lease cleanup does, and never before; a
 * shard whose lease was deleted is never given a lease again while Kinesis still lists it.
 */
import t from 'tap';
import { FakeClock, makeWorker, shard, shardId, withDynamo } from './helpers.js';

const RETENTION = 60_000;

t.test('a finished lease is deleted only when every child has checkpointed the retention past its end', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w = makeWorker(client, 'leases', 'w1', clock, { finishedRetentionMs: RETENTION });
  await w.ensureTable();
  // Shard 0 split into 1 and 2; shard 5 is an unrelated open shard.
  const shards = [shard(0, { closed: true }), shard(1, { parents: [0] }), shard(2, { parents: [0] }), shard(5)];
  await w.syncShards([shard(0), shard(5)]);
  await w.rebalance();
  const END = 1_700_000_000_000;
  await w.checkpoint(shardId(0), { sequenceNumber: 'SHARD_END', watermarkMs: 0, checkpointAtMs: END });
  await w.syncShards(shards);
  const ids = async () => (await w.snapshot()).map((l) => l.leaseKey);
  t.same(await ids(), [shardId(0), shardId(1), shardId(2), shardId(5)]);

  t.same(await w.cleanupFinished(), [], 'children not started (TRIM_HORIZON): kept');
  await w.rebalance();
  t.same(w.held().sort(), [shardId(1), shardId(2), shardId(5)]);
  await w.checkpoint(shardId(1), { sequenceNumber: '11', watermarkMs: 0, checkpointAtMs: END + RETENTION });
  await w.checkpoint(shardId(2), { sequenceNumber: '21', watermarkMs: 0, checkpointAtMs: END + RETENTION - 1 });
  t.same(await w.cleanupFinished(), [], 'one child 1 ms short of the retention: kept (its rebuild may still read the parent)');
  await w.checkpoint(shardId(2), { sequenceNumber: '22', watermarkMs: 0, checkpointAtMs: END + RETENTION });
  t.same(await w.cleanupFinished(), [shardId(0)], 'both children past it: deleted');
  t.same(await ids(), [shardId(1), shardId(2), shardId(5)], 'the children and the open shard keep theirs');

  // Kinesis still lists the closed parent (24 h retention): it is not given a lease again.
  t.same(await w.syncShards(shards), [], 'no lease created');
  t.same(await ids(), [shardId(1), shardId(2), shardId(5)]);
  t.same(await w.cleanupFinished(), [], 'nothing left to delete');
});

t.test('a parent with a child missing from the table, or a lease not finished, is never deleted', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w = makeWorker(client, 'leases', 'w1', clock, { finishedRetentionMs: 0 });
  await w.ensureTable();
  await w.syncShards([shard(0)]);
  await w.rebalance();
  await w.checkpoint(shardId(0), { sequenceNumber: '5', watermarkMs: 0, checkpointAtMs: 1 });
  t.same(await w.cleanupFinished(), [], 'not at SHARD_END');
  await w.checkpoint(shardId(0), { sequenceNumber: 'SHARD_END', watermarkMs: 0, checkpointAtMs: 2 });
  t.same(await w.cleanupFinished(), [], 'no child known yet');
  // Children recorded, but only one has a lease.
  await w.syncShards([shard(0, { closed: true }), shard(1, { parents: [0] })]);
  const { LeaseTable } = await import('../../src/lease/table.js');
  const table = new LeaseTable(client, 'leases');
  const parent = (await table.get(shardId(0)))!;
  await table.addChildren(shardId(0), parent.leaseCounter, [shardId(1), shardId(2)]);
  await w.rebalance();
  await w.checkpoint(shardId(1), { sequenceNumber: '9', watermarkMs: 0, checkpointAtMs: 10 });
  t.same(await w.cleanupFinished(), [], 'a child without a lease: kept');
});

t.test('a closed shard whose grandchild has a lease is not given one either', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w = makeWorker(client, 'leases', 'w1', clock);
  await w.ensureTable();
  // 0 split into 1 and 2, 1 split again into 3 and 4: only 3, 4 and 2 have leases now.
  const shards = [
    shard(0, { closed: true }),
    shard(1, { parents: [0], closed: true }),
    shard(2, { parents: [0] }),
    shard(3, { parents: [1] }),
    shard(4, { parents: [1] }),
  ];
  const { LeaseTable } = await import('../../src/lease/table.js');
  const table = new LeaseTable(client, 'leases');
  for (const id of [2, 3, 4]) await table.create(shardId(id), 'TRIM_HORIZON', []);
  t.same(await w.syncShards(shards), []);
  t.same(
    (await w.snapshot()).map((l) => l.leaseKey),
    [shardId(2), shardId(3), shardId(4)],
  );
});
