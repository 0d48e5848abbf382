/**
 * payments_decode_path_total: classify counts what decided each record, and the metric reads it.
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { classifyRecord, DECODE_PATHS, decodePathCounts, type DecodePath } from '../src/source/classify.js';
import { stolenCards } from './engine/helpers.js';
import { createMetrics } from '../src/metrics.js';
import { parsePrometheusText } from '../../common/src/prom-text.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const payment = {
  event_type: 'PAYMENT_EVENT',
  event_id: '3f0c5a4e-9b1d-4c2e-8f3a-1b2c3d4e5f60',
  event_date_origin: new Date(T0).toISOString(),
  data: { card_number: '4111111111111111', amount: 19.99, currency: 'EUR', merchant_id: 'm-1' },
};
const opts = { maxRecordBytes: 1_000, nowMs: T0, stolen: stolenCards([]) };

t.test('each record is counted once, under the path that decided it', async (t) => {
  const cases: [string, Uint8Array, DecodePath][] = [
    ['a canonical payment', Buffer.from(JSON.stringify(payment)), 'scanner'],
    ['a payment with whitespace', Buffer.from(JSON.stringify(payment, null, 1)), 'compiled'],
    ['an event of another type', Buffer.from(JSON.stringify({ ...payment, event_type: 'SOMETHING_ELSE' })), 'compiled'],
    ['a Luhn failure', Buffer.from(JSON.stringify({ ...payment, data: { ...payment.data, card_number: '4111111111111112' } })), 'zod'],
    ['not JSON', Buffer.from('{"event_type":'), 'parse'],
    ['a repeated key', Buffer.from(JSON.stringify(payment).replace('"amount":', '"amount":1,"amount":')), 'parse'],
    ['over the size limit', Buffer.alloc(1_001, 0x20), 'skipped'],
    ['our own alert', Buffer.from('{"event_type":"PAYMENT_ALERT","event_id":"x"}'), 'skipped'],
  ];
  for (const [name, bytes, path] of cases) {
    const before = { ...decodePathCounts };
    classifyRecord(bytes, opts);
    const moved = DECODE_PATHS.filter((p) => decodePathCounts[p] !== before[p]);
    t.same(moved, [path], name);
    t.equal(decodePathCounts[path], before[path] + 1, `${name}: by one`);
  }
});

t.test('the metric reads the tally at each scrape, every path from 0', async (t) => {
  const registry = new Registry();
  createMetrics(registry);
  const scrape = async () =>
    Object.fromEntries(
      parsePrometheusText(await registry.metrics())
        .get('payments_decode_path_total')!
        .samples.map((s) => [s.labels.path, s.value]),
    );
  const first = await scrape();
  t.same(Object.keys(first).sort(), [...DECODE_PATHS].sort());
  t.same(first, { ...decodePathCounts });
  classifyRecord(Buffer.from(JSON.stringify(payment)), opts);
  const second = await scrape();
  t.equal(second.scanner, first.scanner! + 1);
});
