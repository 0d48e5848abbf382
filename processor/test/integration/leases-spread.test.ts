/** Issue 4: 3 processors on 8 shards end within one lease of even; a 4th joins and one leaves, and the spread evens out again, never with two workers RUNNING one shard. */
import t from 'tap';
import { startStack } from './harness.js';
import { fleet } from './fleet.js';

t.test('3 processors on 8 shards split evenly; a 4th joins, one leaves; never two owners at once', async (t) => {
  const stack = await startStack(t, { cards: 500, shards: 8 });
  const f = await fleet(t, stack);
  const sim = await stack.startSimulator(['--rate', '200', '--seed', '2']);
  for (const id of ['w1', 'w2', 'w3']) await f.start(id);
  let began = Date.now();
  await stack.waitFor('3 workers within one lease of even on 8 shards', () => f.settled(['w1', 'w2', 'w3'], 8), 90_000, 250);
  t.comment(
    `3 workers settled on 8 shards in ${((Date.now() - began) / 1000).toFixed(1)} s: ${JSON.stringify(Object.fromEntries([...(await f.owners()).byWorker].map(([w, s]) => [w, s.length])))}`,
  );
  t.pass('3 workers: every lease owned, counts within one');

  began = Date.now();
  await f.start('w4');
  await stack.waitFor('4 workers even', () => f.settled(['w1', 'w2', 'w3', 'w4'], 8), 90_000, 250);
  t.comment(`after w4 joined: settled in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  t.pass('a 4th worker: 2 leases each');

  began = Date.now();
  f.procs.get('w2')!.child.kill('SIGTERM');
  t.equal((await f.procs.get('w2')!.exit).code, 0, 'w2 stops cleanly');
  await stack.waitFor('3 workers even again', () => f.settled(['w1', 'w3', 'w4'], 8), 90_000, 250);
  t.comment(`after w2 left: settled in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  t.pass('one worker gone: the others even out');

  sim.child.kill('SIGTERM');
  await sim.exit;
  for (const [id, p] of f.procs) if (id !== 'w2') p.child.kill('SIGTERM');
  for (const [id, p] of f.procs) if (id !== 'w2') t.equal((await p.exit).code, 0, `${id} exits 0`);
  const { intervals, found } = f.overlaps();
  t.ok(intervals >= 8, `${intervals} RUNNING intervals read from the logs`);
  t.same(found, [], 'no shard ever RUNNING on two workers at once');
});
