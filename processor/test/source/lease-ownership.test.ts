/**
 * Ownership through the lease table (source/lease-ownership.ts), against a real dynalite with a
 * fake clock: which shards are owned, when a task may start, what its tenure writes.
 */
import t, { type Test } from 'tap';
import { LeaseLostError } from '../../src/lease/index.js';
import { LeaseOwnership } from '../../src/source/lease-ownership.js';
import type { Ownership } from '../../src/source/ownership.js';
import { Dependencies } from '../../src/dependencies.js';
import { FAILOVER_MS, FakeClock, makeWorker, openShards, shardId, silent, withDynamo } from '../lease/helpers.js';

const checkpoint = (sequenceNumber: string, shardEnd = false) => ({ sequenceNumber, watermarkMs: 5, shardEnd, stateId: 's1' });

async function setup(t: Test, shards = 1) {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w1 = makeWorker(client, 'leases', 'w1', clock);
  const w2 = makeWorker(client, 'leases', 'w2', clock);
  const dependencies = new Dependencies(clock.now);
  const ownership = new LeaseOwnership(w1, {
    log: silent,
    now: () => 1_000_000,
    monotonic: clock.now,
    dependencies,
    checkpointIntervalMs: 1_000,
  });
  await ownership.prepare(new AbortController().signal);
  await ownership.sync(openShards(shards));
  return { clock, w1, w2, ownership, dependencies };
}

t.test('a shard is owned while its lease is held; a task starts only while it is safe', async (t) => {
  const { clock, w1, ownership } = await setup(t, 2);
  const id = shardId(0);
  t.same([...ownership.owned()], [], 'nothing held yet');
  t.equal(ownership.tenure(id), undefined);
  await w1.rebalance();
  t.same([...ownership.owned()].sort(), [shardId(0), shardId(1)]);
  const tenure = ownership.tenure(id);
  t.ok(tenure, 'held and safe');
  t.equal(tenure!.lease?.leaseKey, id);
  t.equal(tenure!.lease?.checkpoint, 'TRIM_HORIZON', 'the shared checkpoint the restore starts from');
  t.ok(tenure!.isSafe());
  t.ok(ownership.isSafe(id));
  t.equal((await tenure!.leaseOf(shardId(1)))?.leaseOwner, 'w1', 'another shard read from the table');
  t.equal((ownership as Ownership).keepsStateOf(id), false, 'state of a shard not owned is never kept for its own sake');

  clock.advance(FAILOVER_MS);
  t.notOk(tenure!.isSafe(), 'not renewed in time: fenced');
  t.equal(ownership.tenure(id), undefined, 'held but not safe: no task starts');
  t.equal(tenure!.stillHeld(), undefined);
  await w1.renew();
  t.ok(ownership.tenure(id), 'renewed: a task may start again');
  t.ok(tenure!.stillHeld(), 'the same tenure');

  await ownership.release(id);
  t.same([...ownership.owned()], [shardId(1)]);
  await ownership.releaseAll();
  t.same([...ownership.owned()], []);
});

t.test('the tenure writes the shared checkpoint at most every interval, always when forced, never twice the same', async (t) => {
  const { clock, w1, ownership } = await setup(t);
  const id = shardId(0);
  await w1.rebalance();
  const tenure = ownership.tenure(id)!;
  const table = async () => (await w1.snapshot()).find((l) => l.leaseKey === id)!;

  await tenure.checkpoint(checkpoint('100'), false);
  let lease = await table();
  t.same([lease.checkpoint, lease.checkpointWatermarkMs, lease.checkpointAtMs, lease.checkpointStateId], ['100', 5, 1_000_000, 's1']);
  const counter = lease.leaseCounter;

  clock.advance(500);
  await tenure.checkpoint(checkpoint('200'), false);
  t.equal((await table()).checkpoint, '100', 'within the interval: not written');
  await tenure.checkpoint(checkpoint('200'), true);
  t.equal((await table()).checkpoint, '200', 'forced: written');

  clock.advance(1_000);
  await tenure.checkpoint(checkpoint('200'), true);
  t.equal((await table()).leaseCounter, counter + 1, 'the same checkpoint again: not written');
  await tenure.checkpoint({ sequenceNumber: null, watermarkMs: 5, shardEnd: false }, true);
  t.equal((await table()).leaseCounter, counter + 1, 'a local checkpoint that never read a record: nothing to share');

  await tenure.checkpoint(checkpoint('300', true), true);
  lease = await table();
  t.equal(lease.checkpoint, 'SHARD_END', "the shard's end");
  t.same(w1.held(), [], 'a finished lease is no longer held');
});

t.test('a tenure that continues a lease checkpoint does not write it again', async (t) => {
  const { w1, ownership } = await setup(t);
  const id = shardId(0);
  await w1.rebalance();
  await w1.checkpoint(id, { sequenceNumber: '100', watermarkMs: 1, checkpointAtMs: 2 });
  const tenure = ownership.tenure(id)!;
  const before = (await w1.snapshot())[0]!;
  await tenure.checkpoint(checkpoint('100'), true);
  t.same((await w1.snapshot())[0], before, 'the lease already says 100');
});

t.test('a checkpoint that fails is retried at the next interval, unless it must land', async (t) => {
  const { clock, w1, ownership, dependencies } = await setup(t);
  const id = shardId(0);
  await w1.rebalance();
  const tenure = ownership.tenure(id)!;
  const real = w1.checkpoint.bind(w1);
  let calls = 0;
  w1.checkpoint = async () => {
    calls++;
    throw new Error('DynamoDB unreachable');
  };
  await tenure.checkpoint(checkpoint('100'), false);
  t.equal(calls, 1, 'tried');
  t.match(dependencies.snapshot(), [{ name: 'lease_table', up: false }], 'the lease table is marked down');
  await tenure.checkpoint(checkpoint('100'), false);
  t.equal(calls, 1, 'not again within the interval');
  await t.rejects(tenure.checkpoint(checkpoint('100'), true), /DynamoDB unreachable/, 'forced: thrown to the task');
  w1.checkpoint = real;
  clock.advance(1_000);
  await tenure.checkpoint(checkpoint('100'), false);
  t.equal((await w1.snapshot())[0]!.checkpoint, '100', 'written at the next interval');
});

t.test('a tenure ends when its lease is lost, even if this worker wins it back', async (t) => {
  const { clock, w1, w2, ownership } = await setup(t, 2);
  await w1.rebalance();
  const id = shardId(0);
  const first = ownership.tenure(id)!;
  // w2 steals one of w1's two leases; it may be the other one, so steal until it is this one.
  for (let r = 0; r < 10 && !w2.held().includes(id); r++) {
    await w2.releaseAll();
    await w1.rebalance();
    await w2.rebalance();
  }
  t.ok(w2.held().includes(id), 'stolen');
  await w1.renew();
  t.notOk(w1.held().includes(id), 'w1 learns it lost the lease');
  await w2.release(id);
  clock.advance(1);
  await w1.rebalance();
  t.ok(w1.held().includes(id), 'won back: a new tenure');
  t.equal(first.stillHeld(), undefined, 'the first tenure does not stand any more');
  await t.rejects(first.checkpoint(checkpoint('100'), true), LeaseLostError, "the first tenure's checkpoint is refused");
  await ownership.tenure(id)!.checkpoint(checkpoint('100'), true);
  t.equal((await w1.snapshot()).find((l) => l.leaseKey === id)!.checkpoint, '100', "the new tenure's is written");
});

t.test('run() tells the coordinator of leases won (a steal waits) and lost', async (t) => {
  const { w1, w2, ownership } = await setup(t, 2);
  const events: string[] = [];
  const stop = new AbortController();
  stop.abort();
  await ownership.run(stop.signal, {
    gained: (id, waitMs) => events.push(`gained ${id} ${waitMs}`),
    lost: (id) => events.push(`lost ${id}`),
  });
  await w1.rebalance();
  t.same(events.sort(), [`gained ${shardId(0)} 0`, `gained ${shardId(1)} 0`], 'taken: start at once');
  events.length = 0;
  const w2Ownership = new LeaseOwnership(w2, { log: silent, now: Date.now, monotonic: () => 0 });
  const w2Events: string[] = [];
  await w2Ownership.run(stop.signal, { gained: (id, waitMs) => w2Events.push(`gained ${id} ${waitMs}`), lost: () => {} });
  await w2.rebalance();
  const stolen = w2.held()[0]!;
  t.same(w2Events, [`gained ${stolen} ${w2.options.failoverTimeMs - w2.options.safetyMarginMs}`], 'stolen: start once the previous owner must have stopped');
  await w1.renew();
  t.same(events, [`lost ${stolen}`]);
});
