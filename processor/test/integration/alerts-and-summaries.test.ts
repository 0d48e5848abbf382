/**
 * Issue 3, acceptance 2: cardgen (1 000 cards) + simulator (--count 20000, --disorder-ms 500) →
 * processor → stand-in → warehouse. The alerts are exactly the stolen-card payments, every summary
 * equals one computed independently from the published events, and all of them land in the
 * staging table.
 */
import t from 'tap';
import { startStack } from './harness.js';
import { parsePrometheusText } from '../../../common/src/prom-text.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

t.test('alerts and summaries from a 20 000-event run, checked independently', async (t) => {
  const stack = await startStack(t, { cards: 1000, warehouse: true });
  const standin = await stack.startStandin();
  const processor = await stack.startProcessor();
  const sim = await stack.startSimulator(['--count', '20000', '--rate', '2000', '--disorder-ms', '500', '--seed', '11']);
  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  t.equal(published.length, 20000, 'all 20 000 published');

  const { out, cutoff } = await untilFinalSummaries(stack, published);

  const alerts = verifyAlerts(t, out, published, stack);
  const summaries = verifySummaries(t, out, published, stack, cutoff);
  t.comment(`alerts ${alerts.alerts} for ${alerts.stolenPayments} stolen payments; summaries ${summaries.emitted} (${summaries.due} checked)`);
  t.equal(out.rejected.length, 0, 'nothing rejected');

  const w = stack.warehouse!;
  const ids = new Set([...out.alerts, ...out.summaries].map((e) => e.event_id));
  const landed = async () =>
    Number(
      (await w.client.query(`SELECT count(DISTINCT event_id) AS n FROM staging.payment_events WHERE event_type IN ('PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY')`))
        .rows[0].n,
    );
  await stack.waitFor('alerts and summaries in the staging table', async () => (await landed()) >= ids.size, 30_000, 500);
  const rows = (await w.client.query(`SELECT DISTINCT event_id FROM staging.payment_events WHERE event_type IN ('PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY')`))
    .rows;
  const inTable = new Set(rows.map((r) => r.event_id as string));
  t.equal([...ids].filter((id) => !inTable.has(id)).length, 0, `every alert and summary is in staging.payment_events (${ids.size})`);
  // In the warehouse each carries its card's token (computed here with the stack's key), no card number.
  const tokenOf = new Map([...out.alerts, ...out.summaries].map((e) => [e.event_id, e.data.card_token]));
  const landedData = (await w.client.query(`SELECT event_id, event_json_data FROM staging.payment_events`)).rows;
  let wrongToken = 0;
  const pans = new Set(out.payments.map((p) => p.data.card_number));
  let withPan = 0;
  for (const r of landedData) {
    const data = JSON.parse(r.event_json_data as string) as Record<string, unknown>;
    if ('card_number' in data || [...(r.event_json_data as string).matchAll(/\d{12,19}/g)].some((m) => pans.has(m[0]))) withPan++;
    const token = tokenOf.get(r.event_id as string);
    if (token !== undefined && data.card_token !== token) wrongToken++;
  }
  t.equal(withPan, 0, `no card number in the warehouse (${landedData.length} rows)`);
  t.equal(wrongToken, 0, 'every alert and summary lands in the warehouse with the token it was emitted with');

  // Operations: the running processor is ready and its metrics parse and carry every family.
  const ready = await fetch(`http://127.0.0.1:${stack.httpPort}/ready`);
  t.equal(ready.status, 200, `/ready is 200 once every shard runs: ${await ready.text()}`);
  const families = parsePrometheusText(await stack.metrics());
  for (const name of [
    'payments_records_read_total',
    'payments_records_rejected_total',
    'payments_alerts_emitted_total',
    'payments_summaries_emitted_total',
    'payments_shard_behind_latest_seconds',
    'payments_shard_watermark_lag_seconds',
    'payments_shard_state',
    'payments_alert_latency_seconds',
    'payments_window_fire_duration_seconds',
    'payments_state_keys',
    'payments_state_bytes',
    'payments_put_records_retries_total',
    'payments_put_records_total',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
  ]) {
    t.ok(families.has(name), `/metrics has ${name}`);
  }
  const alertsCounted = families.get('payments_alerts_emitted_total')!.samples.reduce((n, s) => n + s.value, 0);
  t.equal(alertsCounted, new Set(out.alerts.map((a) => a.event_id)).size, 'payments_alerts_emitted_total counts the alerts emitted');
  const shardLabels = families
    .get('payments_shard_state')!
    .samples.filter((s) => s.value === 1)
    .map((s) => s.labels.state);
  t.same(shardLabels, ['RUNNING', 'RUNNING', 'RUNNING', 'RUNNING'], 'each of the 4 shards is RUNNING');

  processor.child.kill('SIGTERM');
  standin.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0, 'processor exits 0 on SIGTERM');
  t.equal((await standin.exit).code, 0);
});
