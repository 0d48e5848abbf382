/**
 * Issue 13, point 3: a lease could be held with no task behind it. After a stall longer than the
 * safety margin (GC, a long restore, a frozen container), the task hit its fence and ended, but the
 * lease manager kept renewing the lease: the shard was owned and never read again. Now the
 * coordinator reconciles held leases with running tasks: after the whole process is frozen
 * (SIGSTOP) for longer than FAILOVER_TIME_MS and thawed, every shard is processed again within
 * failover time + one renew interval, alone or in a fleet, and a worker that lost a shard while
 * frozen never emits for it again.
 */
import t from 'tap';
import { startStack } from '../integration/harness.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from '../integration/verify.js';
import { FAILOVER_MS, RENEW_MS, leasedFleet, processing } from './fleet.js';
import { samples, sleep } from './helpers.js';

const FREEZE_MS = FAILOVER_MS + 5_000;
const WITHIN_MS = FAILOVER_MS + RENEW_MS;
/** What a task logs when it stops at its fence (ShardTask: LeaseLostError). */
const FENCE = /lease not renewed in time|lease no longer safe/;

t.test('alone: frozen for failover time + 5 s, then thawed: every shard processed again in time, nothing lost', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const fleet = await leasedFleet(t, stack);
  const w = await fleet.start('solo');
  await stack.waitFor('both leases held', () => fleet.settled(['solo'], 2), 60_000, 250);
  const sim = await stack.startSimulator(['--count', '10000', '--rate', '250', '--disorder-ms', '300', '--seed', '15']);
  await stack.waitFor('processing', () => processing(w.port, 2), 30_000, 200);
  await sleep(3_000);

  w.proc.child.kill('SIGSTOP');
  await sleep(FREEZE_MS);
  // On waking, the tasks see their leases unsafe (no renewal for FREEZE_MS) before the renewal
  // loop has renewed them. DynamoDB hanging until a task has tripped its fence makes that order
  // certain, while the leases are still this worker's. (A fixed 2 s was not always enough: a read
  // on a connection the emulator closed during the freeze fails first, and a task reached its
  // fence only after the renewal in one CI run.)
  w.dynamo.setMode('hang');
  w.proc.child.kill('SIGCONT');
  const thawAt = Date.now();
  await sleep(2_000);
  await stack.waitFor('a task at its fence', () => FENCE.test(w.proc.output.stdout), 8_000, 50).catch(() => undefined);
  w.dynamo.setMode('pass');
  await stack.waitFor('both shards processed again', () => processing(w.port, 2), 60_000, 100);
  const back = Date.now() - thawAt;
  t.comment(
    `frozen ${FREEZE_MS / 1000} s; every shard processed again ${(back / 1000).toFixed(1)} s after the thaw (failover + renew interval = ${WITHIN_MS / 1000} s)`,
  );
  t.ok(back <= WITHIN_MS, `within failover time + one renew interval (${back} ms)`);
  t.same([...(await fleet.owners()).values()], ['solo', 'solo'], 'it still holds both leases');
  t.match(w.proc.output.stdout, FENCE, 'its tasks hit the fence on thawing (then were restarted)');

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack, { allowLate: true });
  verifySummaries(t, out, published, stack, cutoff);
  w.proc.child.kill('SIGTERM');
  t.equal((await w.proc.exit).code, 0);
});

t.test('in a fleet: the other takes over in time, the thawed one never emits for what it lost, all shards owned again', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const fleet = await leasedFleet(t, stack);
  const w1 = await fleet.start('w1');
  const w2 = await fleet.start('w2');
  await stack.waitFor('one lease each', () => fleet.settled(['w1', 'w2'], 1), 90_000, 250);
  const sim = await stack.startSimulator(['--count', '14000', '--rate', '250', '--disorder-ms', '300', '--seed', '16']);
  await stack.waitFor('both processing', async () => (await processing(w1.port, 1)) && (await processing(w2.port, 1)), 30_000, 200);
  await sleep(3_000);

  const freezeAt = Date.now();
  w1.proc.child.kill('SIGSTOP');
  await stack.waitFor('w2 processing both shards', () => processing(w2.port, 2), 60_000, 100);
  const takeover = Date.now() - freezeAt;
  t.comment(`w1 frozen; w2 processing both shards ${(takeover / 1000).toFixed(1)} s later`);
  t.ok(takeover <= WITHIN_MS + 1_000, `taken over within failover + one renew interval (${takeover} ms, 1 s allowed for the poll)`);
  await sleep(Math.max(0, freezeAt + FREEZE_MS - Date.now()));
  w1.proc.child.kill('SIGCONT');

  await stack.waitFor('one lease each again', () => fleet.settled(['w1', 'w2'], 1), 60_000, 250);
  await stack.waitFor('both processing again', async () => (await processing(w1.port, 1)) && (await processing(w2.port, 1)), 60_000, 200);
  t.pass('after the thaw, the spread is even again and every shard processed');
  const { overlapping, spans } = fleet.emitters(freezeAt);
  t.ok(spans.size === 2, 'both shards emitted after the freeze');
  t.same(overlapping, [], 'no shard ever had two emitters at once');
  const w1Shards = (await samples(w1.port, 'payments_shard_state')).map((s) => s.labels.shard);
  const w1Owned = [...(await fleet.owners())].filter(([, o]) => o === 'w1').map(([s]) => s);
  t.same([...new Set(w1Shards)], w1Owned, "w1's shard series are exactly the shards it owns now");

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack, { allowLate: true });
  verifySummaries(t, out, published, stack, cutoff);
  for (const w of [w1, w2]) {
    w.proc.child.kill('SIGTERM');
    t.equal((await w.proc.exit).code, 0, `${w.id} exits 0`);
  }
});
