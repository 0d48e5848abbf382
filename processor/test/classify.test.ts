/**
 * classifyRecord: payments are processed, anything else valid is skipped, the rest rejected; the
 * processor's own output, read back from the shared stream, is skipped on its first bytes.
 */
import t from 'tap';
import { classifyRecord } from '../src/source/classify.js';
import { StolenCards } from '../src/source/stolen-cards.js';
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

t.test('with the stolen set given, a payment is `payment` only for a stolen card, by both decoders', async (t) => {
  const stolenCard = card(3);
  const withStolen = { ...opts, stolen: new StolenCards([stolenCard]) };
  const event = (cardNumber: string) => ({ event_type: 'PAYMENT_EVENT', event_id: pid(`c${cardNumber}`), event_date_origin: new Date(T0).toISOString(), data: { card_number: cardNumber, amount: 12.5, currency: 'EUR', merchant_id: 'm-1' } });
  // Canonical (the producers' JSON.stringify) goes through the scanner; with a space, the general path.
  const forms = { canonical: (v: unknown) => bytes(v), general: (v: unknown) => bytes(JSON.stringify(v, null, 1)) };
  for (const [name, form] of Object.entries(forms)) {
    t.same(classifyRecord(form(event(card(4))), withStolen), { kind: 'not_stolen', eventTimeMs: T0 }, `${name}: another card's payment carries its time only`);
    t.same(classifyRecord(form(event(stolenCard)), withStolen), { kind: 'payment', event: event(stolenCard), eventTimeMs: T0 }, `${name}: a stolen card's payment carries the whole event`);
    const future = { ...event(card(4)), event_date_origin: new Date(T0 + 25 * 3_600_000).toISOString() };
    t.match(classifyRecord(form(future), withStolen), { kind: 'reject', reason: 'future_event_time' }, `${name}: a time 25 h ahead is still rejected`);
    t.match(classifyRecord(form({ ...event(card(4)), data: { ...event(card(4)).data, amount: -1 } }), withStolen), { kind: 'reject', reason: 'bad_amount' }, `${name}: a bad payment is still rejected`);
  }
  const alert = new ShardEngine();
  alert.onPayment(toEvent(pay({ id: pid(2), at: T0, card: stolenCard })), true);
  alert.onIdle({ nowMs: T0 + 60_000, caughtUp: true, lastRecordAtMs: T0 });
  for (const o of alert.drain(10, T0 + 60_000)) t.same(classifyRecord(encodeOutput(o), withStolen), { kind: 'skip', eventType: o.event_type }, 'output is still skipped');
});
