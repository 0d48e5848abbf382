/**
 * ShardTask's commits: a commit is written while the next batch is processed, but commits land
 * one at a time and in order, the last one is durable when the task ends, and a failed commit
 * stops the task with its error.
 */
import t from 'tap';
import { ShardTask } from '../../src/source/shard-task.js';
import { openStateStore, type ChangeSet, type ShardCheckpoint, type StateStore } from '../../src/state/index.js';
import { card, pay, type Pay } from '../engine/helpers.js';
import { T0, paymentRecords, taskDeps } from './task-kit.js';

const SHARD = 'shardId-000000000000';

/** Ten batches of ten payments of one stolen card, a second apart, so every batch has state to commit. */
function payments(): Pay[][] {
  return Array.from({ length: 10 }, (_, b) => Array.from({ length: 10 }, (_, i) => pay({ at: T0 + b * 1_000 + i, card: card(1) })));
}

function task(store: StateStore, batches: Pay[][]): ShardTask {
  return new ShardTask({ shardId: SHARD }, taskDeps(paymentRecords(batches), store));
}

t.test('commits land one at a time, in order, and the last is durable when the task ends', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  const commit = store.commitShard.bind(store);
  const log: string[] = [];
  let writing = 0;
  let overlapped = false;
  store.commitShard = async (shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint) => {
    overlapped ||= writing > 0;
    writing++;
    log.push(`start ${checkpoint.sequenceNumber}`);
    await new Promise((r) => setTimeout(r, 5));
    await commit(shardId, changes, checkpoint);
    log.push(`end ${checkpoint.sequenceNumber}`);
    writing--;
  };
  const run = task(store, payments());
  await run.run(new AbortController().signal);
  t.ok(run.finished);
  t.notOk(overlapped, 'no commit started before the one before it had landed');
  const sequences = log.filter((l) => l.startsWith('start')).map((l) => Number(l.split(' ')[1]));
  t.same(
    sequences,
    [...sequences].sort((a, b) => a - b),
    'in sequence-number order',
  );
  t.equal(log.at(-1), 'end 100', 'the last commit landed before run() returned');
  const saved = await store.loadCheckpoint(SHARD);
  t.same(saved, { sequenceNumber: '100', watermarkMs: saved?.watermarkMs, shardEnd: true, stateId: saved?.stateId });
});

t.test('a failed commit stops the task with its error', async (t) => {
  const store = await openStateStore({ kind: 'memory' });
  const commit = store.commitShard.bind(store);
  let calls = 0;
  store.commitShard = async (shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint) => {
    if (++calls === 3) throw new Error('disk full');
    await commit(shardId, changes, checkpoint);
  };
  await t.rejects(task(store, payments()).run(new AbortController().signal), /disk full/);
  t.equal((await store.loadCheckpoint(SHARD))?.sequenceNumber, '20', 'the store keeps the last commit that landed');
  t.ok(calls <= 4, `at most one more commit was started after the failed one (${calls} calls)`);
});
