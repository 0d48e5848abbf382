/**
 * classifyRecord: payments are processed, anything else valid is skipped, the rest rejected; the
 * processor's own output, read back from the shared stream, is skipped on its first bytes.
 */
import t from 'tap';
import { classifyRecord } from '../src/source/classify.js';
import { ShardEngine } from '../src/engine/index.js';
import { encodeOutput } from '../src/sink/encode.js';
import { card, pay, pid, toEvent } from './engine/helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const opts = { maxRecordBytes: 65_536, nowMs: T0 };
const bytes = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');

t.test('own output read back (alerts, summaries, rejects) is skipped by type', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ id: pid(1), at: T0, card: card(1) })), true);
  e.onIdle({ nowMs: T0 + 60_000, caughtUp: true, lastRecordAtMs: T0 });
  const out = e.drain(10, T0 + 60_000);
  t.same([...new Set(out.map((o) => o.event_type))].sort(), ['PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY']);
  for (const o of out) t.same(classifyRecord(encodeOutput(o), opts), { kind: 'skip', eventType: o.event_type });
  const reject = { event_type: 'PAYMENT_EVENT_REJECTED', event_id: pid('r'), event_date_origin: new Date(T0).toISOString(), data: { reason: 'not_json', detail: 'x', raw: 'x', raw_bytes: 1, raw_truncated: false, shard_id: 's', sequence_number: '1' } };
  t.same(classifyRecord(bytes(reject), opts), { kind: 'skip', eventType: 'PAYMENT_EVENT_REJECTED' });
});

t.test('payments are not mistaken for output; other records keep their verdicts', async (t) => {
  const payment = { event_type: 'PAYMENT_EVENT', event_id: pid('p'), event_date_origin: new Date(T0).toISOString(), data: { card_number: card(2), amount: 1.5, currency: 'EUR', merchant_id: 'm' } };
  t.equal(classifyRecord(bytes(payment), opts).kind, 'payment');
  // A broken payment that merely starts like one is still rejected, not skipped.
  t.match(classifyRecord(bytes('{"event_type":"PAYMENT_EVENT","'), opts), { kind: 'reject', reason: 'not_json' });
  t.match(classifyRecord(bytes('{"event_type":"PAYMENT_EVENTS","event_id":1}'), opts), { kind: 'reject' });
  // Another type with whitespace (not our producers' form) is decoded and validated as before.
  t.match(classifyRecord(bytes('{ "event_type": "PAYMENT_ALERT", "x": 1 }'), opts), { kind: 'reject', reason: 'bad_event_time' });
  t.same(classifyRecord(bytes({ event_type: 'SOMETHING_ELSE', event_id: pid('s'), event_date_origin: new Date(T0).toISOString(), data: {} }), opts), { kind: 'skip', eventType: 'SOMETHING_ELSE' });
  t.match(classifyRecord(bytes('P'.repeat(40)), opts), { kind: 'reject', reason: 'not_json' });
});
