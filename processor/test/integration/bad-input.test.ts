/**
 * Issue 3, acceptance 4: 1 000 malformed records of every kind mixed into a run. The processor stays
 * up, counts each by reason, publishes each as PAYMENT_EVENT_REJECTED (which lands in the
 * warehouse), and the good records' alerts are all there.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { startStack } from './harness.js';
import { verifyAlerts } from './verify.js';
import { parsePrometheusText } from '../../../common/src/prom-text.js';

function good(card = '4111111111111111') {
  return {
    event_type: 'PAYMENT_EVENT',
    event_id: randomUUID(),
    event_date_origin: new Date().toISOString(),
    data: { card_number: card, amount: 10.5, currency: 'EUR', merchant_id: 'm-1' },
  };
}
const withData = (patch: object) => {
  const e = good();
  return JSON.stringify({ ...e, data: { ...e.data, ...patch } });
};

/** One maker per kind of bad input, with the reason the processor must give. */
const KINDS: [reason: string, make: () => string][] = [
  ['not_json', () => `{"event_type": "PAYMENT_EVENT", ${randomUUID()}`],
  ['bad_envelope', () => JSON.stringify({ ...good(), event_id: 42 })],
  ['bad_data', () => withData({ merchant_id: undefined, currency: 'EUR', extra_field: true })],
  ['bad_card_number', () => withData({ card_number: '4111111111111112' })],
  ['bad_amount', () => withData({ amount: -3 })],
  ['bad_amount', () => withData({ amount: 0 })],
  ['bad_amount', () => withData({ amount: 1.234 })],
  ['bad_amount', () => withData({ amount: 0 }).replace('"amount":0', '"amount":1e400')],
  ['bad_event_time', () => JSON.stringify({ ...good(), event_date_origin: 'yesterday at noon' })],
  ['future_event_time', () => JSON.stringify({ ...good(), event_date_origin: new Date(Date.now() + 25 * 3_600_000).toISOString() })],
  ['oversized', () => JSON.stringify({ ...good(), padding: 'x'.repeat(70 * 1024) })],
];

t.test('1 000 malformed records: counted, published as rejects, good alerts intact', async (t) => {
  const stack = await startStack(t, { cards: 1000, warehouse: true });
  const standin = await stack.startStandin();
  const processor = await stack.startProcessor();
  const sim = await stack.startSimulator(['--count', '6000', '--rate', '600', '--seed', '3']);

  const expectedByReason = new Map<string, number>();
  const k = stack.kinesis;
  for (let sent = 0; sent < 1000;) {
    const records = [];
    for (let i = 0; i < 50 && sent < 1000; i++, sent++) {
      const [reason, make] = KINDS[sent % KINDS.length]!;
      expectedByReason.set(reason, (expectedByReason.get(reason) ?? 0) + 1);
      records.push({ Data: Buffer.from(make()), PartitionKey: randomUUID() });
    }
    const res = await k.client.send(new PutRecordsCommand({ StreamName: k.stream, Records: records }));
    if (res.FailedRecordCount) throw new Error('emulator refused malformed records');
    await new Promise((r) => setTimeout(r, 400));
  }
  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();

  let out = await stack.readStream();
  await stack.waitFor(
    '1 000 rejects and every alert',
    async () => {
      out = await stack.readStream();
      const stolenPayments = published.filter((e) => stack.stolen.has(e.data.card_number)).length;
      return new Set(out.rejected.map((r) => r.event_id)).size >= 1000 && new Set(out.alerts.map((a) => a.event_id)).size >= stolenPayments;
    },
    90_000,
    1000,
  );

  t.equal(processor.child.exitCode, null, 'the processor is still running');
  const health = await fetch(`http://127.0.0.1:${stack.httpPort}/health`);
  t.equal(health.status, 200, '/health answers 200');

  const rejected = new Map(out.rejected.map((r) => [r.event_id, r]));
  t.equal(rejected.size, 1000, 'each malformed record is published once as PAYMENT_EVENT_REJECTED');
  const byReason = new Map<string, number>();
  for (const r of rejected.values()) byReason.set(r.data.reason, (byReason.get(r.data.reason) ?? 0) + 1);
  t.same(Object.fromEntries([...byReason].sort()), Object.fromEntries([...expectedByReason].sort()), 'with the right reason');
  t.ok(
    [...rejected.values()].every((r) => r.data.raw_bytes > 0 && r.data.raw.length > 0 && r.data.sequence_number !== ''),
    'carrying the raw record and its position',
  );

  const metrics = parsePrometheusText(await stack.metrics());
  const counted = new Map<string, number>();
  for (const s of metrics.get('payments_records_rejected_total')?.samples ?? []) counted.set(s.labels.reason!, s.value);
  for (const [reason, n] of expectedByReason) t.equal(counted.get(reason), n, `payments_records_rejected_total{reason="${reason}"} = ${n}`);

  verifyAlerts(t, out, published, stack);

  const w = stack.warehouse!;
  await stack.waitFor(
    'rejects in the warehouse',
    async () =>
      Number(
        (await w.client.query(`SELECT count(DISTINCT event_id) AS n FROM staging.payment_events WHERE event_type = 'PAYMENT_EVENT_REJECTED'`)).rows[0].n,
      ) >= 1000,
    30_000,
    500,
  );
  t.pass('all 1 000 PAYMENT_EVENT_REJECTED rows are in staging.payment_events');

  processor.child.kill('SIGTERM');
  standin.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
  await standin.exit;
});
