/**
 * A sole owner (source/ownership.ts): one processor without a lease table owns every shard the
 * parent rule lets it read, is never fenced and shares nothing.
 */
import t from 'tap';
import { SOLE_TENURE, SoleOwnership } from '../../src/source/ownership.js';
import { openStateStore } from '../../src/state/index.js';
import { shard, shardId } from '../lease/helpers.js';

const ids = (s: ReadonlySet<string>) => [...s].sort();

t.test('a sole owner owns every listed shard whose parents are finished', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  const ownership = new SoleOwnership(store);
  const signal = new AbortController().signal;
  await ownership.prepare();
  await ownership.run();
  // 0 and 1 merged into 2, which split into 3 and 4; 5 is a root; 7's parent 6 is no longer listed.
  const stream = [
    shard(0, { closed: true }),
    shard(1, { closed: true }),
    shard(2, { parents: [0, 1], closed: true }),
    shard(3, { parents: [2] }),
    shard(4, { parents: [2] }),
    shard(5),
    shard(7, { parents: [6] }),
  ];
  await ownership.sync(stream, signal);
  t.same(ids(ownership.owned()), [shardId(0), shardId(1), shardId(5), shardId(7)], 'roots, and a child whose parent is gone');

  ownership.finished(shardId(0));
  await ownership.sync(stream, signal);
  t.same(ids(ownership.owned()), [shardId(1), shardId(5), shardId(7)], 'a merge waits for both parents');

  // A restart: shards 0 and 1 were read to their end before it, and their checkpoints say so.
  for (const i of [0, 1]) await store.commitShard(shardId(i), { puts: [], dels: [] }, { sequenceNumber: String(10 * i + 9), watermarkMs: 0, shardEnd: true });
  const restarted = new SoleOwnership(store);
  await restarted.sync(stream, signal);
  t.same(ids(restarted.owned()), [shardId(2), shardId(5), shardId(7)], 'a closed shard checkpointed at its end is finished');

  restarted.finished(shardId(2));
  await restarted.sync(stream, signal);
  t.same(ids(restarted.owned()), [shardId(3), shardId(4), shardId(5), shardId(7)], 'a split: both children');

  const aborted = new AbortController();
  aborted.abort();
  const other = new SoleOwnership(store);
  await other.sync(stream, aborted.signal);
  t.same(ids(other.owned()), [], 'nothing assigned once aborted');
});

t.test('a sole owner starts only listed shards, keeps their state, and is never fenced', async (t) => {
  const ownership = new SoleOwnership(await openStateStore({ kind: 'memory' }));
  await ownership.sync([shard(0), shard(1)], new AbortController().signal);
  t.equal(ownership.tenure(shardId(0)), SOLE_TENURE);
  await ownership.sync([shard(1)], new AbortController().signal);
  t.same(ids(ownership.owned()), [shardId(0), shardId(1)], 'still owned once no longer listed');
  t.equal(ownership.tenure(shardId(0)), undefined, 'but not started: nothing left to read');
  t.ok(ownership.keepsStateOf(shardId(1)), 'a listed shard keeps its state, finished or not');
  t.notOk(ownership.keepsStateOf(shardId(0)));
  t.ok(ownership.isSafe());
  await ownership.release();
  await ownership.releaseAll();
  t.same(ids(ownership.owned()), [shardId(0), shardId(1)], 'giving up is a no-op');

  t.equal(SOLE_TENURE.lease, undefined, 'nothing shared to restore from');
  t.ok(SOLE_TENURE.isSafe());
  t.equal(SOLE_TENURE.stillHeld(), SOLE_TENURE);
  t.equal(await SOLE_TENURE.leaseOf(shardId(0)), undefined);
  await SOLE_TENURE.checkpoint({ sequenceNumber: '1', watermarkMs: 0, shardEnd: true }, true);
});
