/**
 * Issue 13, point 4: lease durations used Date.now(), so a wall-clock step broke the safety
 * argument of docs/leases.md, and output was fenced only once before an emit. Each worker here
 * runs under libfaketime (its wall clock stepped by a file the test writes; its monotonic clock
 * untouched, as with an NTP step or a VM resume) and reaches Kinesis through a proxy that records
 * who emits for which shard, on the test's clock. An injected step of ±30 s never yields two
 * emitters for one shard:
 *   +30 s on one worker: it must not take the other's leases as expired;
 *   −30 s on a worker cut off from DynamoDB: it must stop emitting within the safe window
 *   (failover − margin) of its last renewal, before the other may take over.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack } from '../integration/harness.js';
import { FAILOVER_MS, leasedFleet, processing } from './fleet.js';
import { fakeWallClock, sleep } from './helpers.js';

/**
 * Only lease timing is under test: with the shared checkpoint written once a minute instead of
 * every second, no checkpoint write (which DynamoDB refuses while cut off) stands in for the fence.
 */
const RARE_LEASE_CHECKPOINTS = { LEASE_CHECKPOINT_INTERVAL_MS: '60000' };

/** How far a processor's wall clock is from the test's: the Date header of its HTTP answers (1 s resolution). */
async function wallAhead(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
  return Date.parse(res.headers.get('date') ?? '') - Date.now();
}

t.test('a wall clock stepped +30 s on one worker: no lease changes hands, no shard has two emitters', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const fleet = await leasedFleet(t, stack);
  const clock = join(stack.dir, 'w2.faketime');
  writeFileSync(clock, '+0');
  await fleet.start('w1', RARE_LEASE_CHECKPOINTS);
  await fleet.start('w2', { ...RARE_LEASE_CHECKPOINTS, ...fakeWallClock(clock) });
  await stack.waitFor('one lease each', () => fleet.settled(['w1', 'w2'], 1), 90_000, 250);
  const sim = await stack.startSimulator(['--count', '8000', '--rate', '300', '--seed', '17']);
  await stack.waitFor(
    'both processing',
    async () => (await processing(fleet.workers.get('w1')!.port, 1)) && (await processing(fleet.workers.get('w2')!.port, 1)),
    60_000,
    200,
  );
  await sleep(2_000);
  const before = await fleet.owners();

  // w1's counter stands still for a moment around the step (its DynamoDB cut for 3 s, well inside
  // its safe window): w2's first scan after the step then sees the counter it saw before it, as it
  // does about half the time anyway. Judged on a wall clock, that counter has "not moved for 30 s".
  fleet.workers.get('w1')!.dynamo.setMode('refuse');
  await sleep(1_500);
  writeFileSync(clock, '+30');
  const stepAt = Date.now();
  // The step took: w2's own wall clock, as its /ready shows (now − watermark), is 30 s ahead.
  await stack.waitFor("w2's clock 30 s ahead", async () => (await wallAhead(fleet.workers.get('w2')!.port)) > 25_000, 10_000, 200);
  await sleep(Math.max(0, stepAt + 1_500 - Date.now()));
  fleet.workers.get('w1')!.dynamo.setMode('pass');
  await sleep(FAILOVER_MS + 5_000);
  t.same(await fleet.owners(), before, 'every lease has the owner it had before the step');
  const { overlapping, spans } = fleet.emitters(stepAt);
  t.equal(spans.size, 2, 'both shards emitted after the step');
  t.same(overlapping, [], 'no shard had two emitters at once');
  t.equal((await sim.exit).code, 0);
  for (const w of fleet.workers.values()) w.proc.child.kill('SIGTERM');
  // Their last lease writes must land before dynalite closes at teardown (it throws, in this process, at a write after close).
  await Promise.race([Promise.all([...fleet.workers.values()].map((w) => w.proc.exit)), sleep(20_000)]);
});

t.test('a worker cut off from DynamoDB steps −30 s: it stops emitting before the other takes over', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const fleet = await leasedFleet(t, stack);
  const clock = join(stack.dir, 'w1.faketime');
  writeFileSync(clock, '+0');
  const w1 = await fleet.start('w1', { ...RARE_LEASE_CHECKPOINTS, ...fakeWallClock(clock) });
  await fleet.start('w2', RARE_LEASE_CHECKPOINTS);
  await stack.waitFor('one lease each', () => fleet.settled(['w1', 'w2'], 1), 90_000, 250);
  const sim = await stack.startSimulator(['--count', '10000', '--rate', '300', '--seed', '18']);
  await stack.waitFor('both processing', async () => (await processing(w1.port, 1)) && (await processing(fleet.workers.get('w2')!.port, 1)), 60_000, 200);
  await sleep(2_000);
  const w1Shard = [...(await fleet.owners())].find(([, o]) => o === 'w1')![0];

  // w1 can still read and write Kinesis, but no longer renew its lease; its wall clock goes back.
  const cutAt = Date.now();
  w1.dynamo.setMode('refuse');
  writeFileSync(clock, '-30');
  await stack.waitFor("w1's clock 30 s behind", async () => (await wallAhead(w1.port)) < -25_000, 10_000, 200);
  await stack.waitFor("w2 to take over w1's shard", async () => (await fleet.owners()).get(w1Shard) === 'w2', 60_000, 250);
  const takenAfter = Date.now() - cutAt;
  await sleep(10_000);
  const { overlapping, spans } = fleet.emitters(cutAt);
  const w1Last = spans.get(w1Shard)?.get('w1')?.[1];
  t.comment(
    `w2 took ${w1Shard} ${(takenAfter / 1000).toFixed(1)} s after the cut; w1's last emission for it ${w1Last === undefined ? 'none' : `${((w1Last - cutAt) / 1000).toFixed(1)} s after the cut`} (safe window ${(FAILOVER_MS * 0.8) / 1000} s)`,
  );
  t.ok(spans.get(w1Shard)?.has('w2'), 'w2 emits for it');
  t.same(overlapping, [], 'no shard had two emitters at once');
  t.ok(w1Last === undefined || w1Last - cutAt < FAILOVER_MS, 'w1 stopped within failover time of its last renewal');
  w1.dynamo.setMode('pass');
  t.equal((await sim.exit).code, 0);
  for (const w of fleet.workers.values()) w.proc.child.kill('SIGTERM');
  // Their last lease writes must land before dynalite closes at teardown (it throws, in this process, at a write after close).
  await Promise.race([Promise.all([...fleet.workers.values()].map((w) => w.proc.exit)), sleep(20_000)]);
});
