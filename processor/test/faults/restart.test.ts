/**
 * Issue 13, point 5: every restart replayed an hour. The lease checkpoint trailed the local one (at
 * most once a second, never when a task failed), so a restarted processor almost never found them
 * equal, threw its valid LevelDB state away and replayed ~65 minutes of every shard. Now the lease
 * checkpoint names the local state it came from, is written whenever a task ends, and a processor
 * whose own state continues it reuses it: kill -9 and restart replays nothing, and loses nothing.
 * (npm run bench measures the same with 60 minutes of state at 1 000 events/s.)
 */
import t from 'tap';
import { startStack } from '../integration/harness.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from '../integration/verify.js';
import { withDynamo } from '../lease/helpers.js';
import { payment, put, sample, sleep } from './helpers.js';

t.test('kill -9 of a leased processor and restart on the same disk: nothing replayed, nothing lost', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const dynamo = await withDynamo(t);
  const env = { LEASE_TABLE: 'leases', DYNAMODB_ENDPOINT: dynamo.endpoint, LOG_LEVEL: 'info' };
  let processor = await stack.startProcessor({ ...env, WORKER_ID: 'first' });
  await stack.untilServing();
  const sim = await stack.startSimulator(['--count', '8000', '--rate', '400', '--disorder-ms', '300', '--seed', '14']);
  await sleep(8_000);
  processor.child.kill('SIGKILL');
  await processor.exit;

  // Same disk, new process (a new worker id, as after any restart). Its own lease expired or not,
  // it takes both leases back once they are free or expired.
  const restartedAt = Date.now();
  processor = await stack.startProcessor({ ...env, WORKER_ID: 'second' });
  await stack.untilServing();
  await stack.waitFor(
    'both shards RUNNING again',
    async () => {
      const r = await fetch(`http://127.0.0.1:${stack.httpPort}/ready`).then((x) => x.json() as Promise<{ shards: Array<{ state: string }> }>);
      return r.shards.length === 2 && r.shards.every((s) => s.state === 'RUNNING');
    },
    60_000,
    100,
  );
  const running = Date.now() - restartedAt;
  t.equal(await sample(stack.httpPort, 'payments_records_replayed_total'), 0, 'no record replayed to rebuild state');
  t.match(processor.output.stdout, /local state continues the lease checkpoint: reused/, 'the local state was reused');
  t.notMatch(processor.output.stdout, /rebuilding shard state by replay/, 'and nothing was rebuilt');

  // Time to the first new alert after the restart.
  const e = payment([...stack.stolen][0]!, Date.now());
  await put(stack.kinesis.client, stack.kinesis.stream, [{ data: e, key: e.data.card_number }]);
  await stack.waitFor(
    'an alert for a new payment',
    async () => (await stack.readStream()).alerts.some((a) => a.data.payment_event_id === e.event_id),
    30_000,
    200,
  );
  t.comment(
    `restart to both shards RUNNING: ${(running / 1000).toFixed(1)} s (lease failover included); restart to the new payment's alert: ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`,
  );

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = [...(await stack.published()), e];
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack, { allowLate: true });
  verifySummaries(t, out, published, stack, cutoff);
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
