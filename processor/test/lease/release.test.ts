import t from 'tap';
import type { Lease } from '../../src/lease/types.js';
import { FakeClock, makeWorker, openShards, ownerCounts, round, shard, shardId, withDynamo } from './helpers.js';

t.test('released leases are taken by another worker at once, with their checkpoint', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w1 = makeWorker(client, 'leases', 'w1', clock);
  const w2 = makeWorker(client, 'leases', 'w2', clock);
  await w1.ensureTable();
  await w1.syncShards(openShards(4));
  for (let r = 0; r < 4; r++) await round(t, [w1, w2], `round ${r}`);
  t.equal(w1.held().length, 2);
  const mine = w1.held();
  await w1.checkpoint(mine[0]!, { sequenceNumber: '4242', watermarkMs: 111, checkpointAtMs: 222 });

  const releasing = w1.releaseAll();
  for (const id of mine) t.notOk(w1.isSafe(id), `${id} is unsafe as soon as release is called`);
  t.same(w1.held(), []);
  await releasing;
  const table = await w1.snapshot();
  for (const id of mine) t.equal(table.find((l) => l.leaseKey === id)?.leaseOwner, undefined, `${id} has no owner`);

  // No time passes: an ownerless lease is available immediately.
  const statsBefore = w2.stats();
  const acquired: Array<[Lease, string]> = [];
  w2.on('acquired', (lease, how) => acquired.push([lease, how]));
  const won = await w2.rebalance();
  t.same(won.map((l) => l.leaseKey).sort(), mine);
  t.same(
    acquired.map(([, how]) => how),
    ['take', 'take'],
  );
  const withCheckpoint = acquired.find(([l]) => l.leaseKey === mine[0])![0];
  t.equal(withCheckpoint.checkpoint, '4242', 'acquired carries the checkpoint');
  t.equal(withCheckpoint.checkpointWatermarkMs, 111);
  t.equal(withCheckpoint.checkpointAtMs, 222);
  t.same(w2.heldLease(mine[0]!), withCheckpoint);
  t.equal(w2.held().length, 4);
  t.same(w2.stats(), { ...statsBefore, leasesHeld: 4, takes: statsBefore.takes + 2 }, 'two more takes, no steal');
  t.equal(await w1.release(mine[0]!), false, 'releasing a lease not held is a no-op');
});

t.test('a child lease is not taken while a parent is unfinished, and is after SHARD_END', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w1 = makeWorker(client, 'leases', 'w1', clock);
  const w2 = makeWorker(client, 'leases', 'w2', clock);
  await w1.ensureTable();
  await w1.syncShards([shard(0), shard(1)]);
  for (let r = 0; r < 3; r++) await round(t, [w1, w2], `before resharding ${r}`);

  // Shards 0 and 1 merge into 2, which then splits into 3 and 4.
  const resharded = [
    shard(0, { closed: true }),
    shard(1, { closed: true }),
    shard(2, { parents: [0, 1], closed: true }),
    shard(3, { parents: [2] }),
    shard(4, { parents: [2] }),
  ];
  await w2.syncShards(resharded);
  const children = [shardId(2), shardId(3), shardId(4)];
  const takenChildren = () => [w1, w2].flatMap((w) => w.held()).filter((id) => children.includes(id));

  for (let r = 0; r < 3; r++) await round(t, [w1, w2], `parents open ${r}`);
  t.same(takenChildren(), [], 'no child while both parents run');

  const finish = async (id: string) => {
    const owner = [w1, w2].find((w) => w.held().includes(id))!;
    await owner.checkpoint(id, { sequenceNumber: 'SHARD_END', watermarkMs: 5, checkpointAtMs: 6 });
    t.notOk(owner.held().includes(id), `${id} is no longer held once finished`);
    t.notOk(owner.isSafe(id));
  };
  await finish(shardId(0));
  for (let r = 0; r < 3; r++) await round(t, [w1, w2], `one parent finished ${r}`);
  t.same(takenChildren(), [], 'the merge child waits for both parents');

  await finish(shardId(1));
  for (let r = 0; r < 3; r++) await round(t, [w1, w2], `both parents finished ${r}`);
  t.same(takenChildren(), [shardId(2)], 'the merge child is taken, its own children wait');

  await finish(shardId(2));
  for (let r = 0; r < 4; r++) await round(t, [w1, w2], `grandchildren ${r}`);
  t.same(takenChildren().sort(), [shardId(3), shardId(4)]);
  t.same(w1.held().length, 1, 'one grandchild each');
  t.same(w2.held().length, 1);
  const table = await w1.snapshot();
  for (const id of [shardId(0), shardId(1), shardId(2)]) {
    t.equal(table.find((l) => l.leaseKey === id)?.checkpoint, 'SHARD_END', `${id} stays finished and is never taken again`);
  }
  const counts = ownerCounts(
    table.filter((l) => l.checkpoint !== 'SHARD_END'),
    ['w1', 'w2'],
  );
  t.same([...counts.values()], [1, 1]);
});

t.test("the caller's readable predicate can hold back a lease", async (t) => {
  const { client } = await withDynamo(t);
  const w1 = makeWorker(client, 'leases', 'w1', new FakeClock());
  await w1.ensureTable();
  await w1.syncShards(openShards(3));
  const won = await w1.rebalance((lease) => lease.leaseKey !== shardId(1));
  t.same(won.map((l) => l.leaseKey).sort(), [shardId(0), shardId(2)]);
  t.same(
    (await w1.rebalance()).map((l) => l.leaseKey),
    [shardId(1)],
  );
});
