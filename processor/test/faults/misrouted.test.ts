/**
 * Issue 13, point 8: nothing checked the partition key. A producer keying payments by something
 * else than the card number spread one card over several shards; each shard emitted a partial
 * summary under the same id, and a consumer keeping the first one kept a wrong total. Now a payment
 * whose key is not its card is re-published keyed by its card (Kafka Streams' repartition, with the
 * input stream as the topic) and counted only where that copy lands: summaries stay exact, every
 * alert is there once per id, and payments_irregular_payments_total{reason="misrouted"} counts them.
 *
 * The re-publication adds up to a batch's time of disorder between the copies of different source
 * shards, so the run gives the out-of-orderness bound room (docs/semantics.md says so).
 */
import t from 'tap';
import { startStack } from '../integration/harness.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from '../integration/verify.js';
import { sample } from './helpers.js';

t.test('a producer keying by event id: summaries exact, alerts once per id, misrouted counted', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 4 });
  const processor = await stack.startProcessor({ OUT_OF_ORDERNESS_MS: '3000', IDLE_LAG_MS: '3000' });
  await stack.untilServing();
  const sim = await stack.startSimulator(['--count', '6000', '--rate', '400', '--disorder-ms', '300', '--seed', '12', '--partition-key', 'event-id']);
  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack, { allowLate: true });
  verifySummaries(t, out, published, stack, cutoff);
  const ids = new Map<string, string>();
  let doubled = 0;
  for (const a of out.alerts) {
    const id = ids.get(a.data.payment_event_id);
    if (id !== undefined && id !== a.event_id) doubled++;
    ids.set(a.data.payment_event_id, a.event_id);
  }
  t.equal(doubled, 0, 'no payment alerted under two ids');
  t.equal(out.alerts.length, ids.size, 'and none twice (no crash in this run)');
  t.equal(out.payments.length, 2 * published.length, 'every payment is on the stream twice: as published, and its copy keyed by card');
  t.equal(await sample(stack.httpPort, 'payments_irregular_payments_total', { reason: 'misrouted' }), published.length, 'every one counted as misrouted');
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
