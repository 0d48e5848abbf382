/**
 * classifyRecord: payments are processed, anything else valid is skipped, the rest rejected; the
 * processor's own output, read back from the shared stream, is skipped on its first bytes.
 */
import t from 'tap';
import { classifyKinesisRecord, classifyRecord, DEFAULT_MAX_CLOCK_SKEW_MS } from '../src/source/classify.js';
import { ShardEngine } from '../src/engine/index.js';
import { encodeOutput } from '../src/sink/encode.js';
import { card, pay, pid, ref, stolenCards, testTokenizer, toEvent } from './engine/helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const opts = { maxRecordBytes: 65_536, nowMs: T0, stolen: stolenCards([card(2)]) };

/** What classify hands the engine for a stolen card's payment: its card as a card ref, no card number. */
const asCardPayment = (e: {
  event_id: string;
  event_date_origin: string;
  data: { card_number: string; amount: number; currency: string; merchant_id: string };
}) => ({
  event_id: e.event_id,
  event_date_origin: e.event_date_origin,
  card: ref(e.data.card_number),
  data: { amount: e.data.amount, currency: e.data.currency, merchant_id: e.data.merchant_id },
});
const bytes = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');

t.test('own output read back (alerts, summaries, rejects) is skipped by type', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ id: pid(1), at: T0, card: card(1) })), true);
  e.onIdle({ nowMs: T0 + 60_000, caughtUp: true, lastProgressAtMs: T0 });
  const out = e.drain(10, T0 + 60_000);
  t.same([...new Set(out.map((o) => o.event_type))].sort(), ['PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY']);
  for (const o of out) t.same(classifyRecord(encodeOutput(o), opts), { kind: 'skip', eventType: o.event_type });
  const reject = {
    event_type: 'PAYMENT_EVENT_REJECTED',
    event_id: pid('r'),
    event_date_origin: new Date(T0).toISOString(),
    data: { reason: 'not_json', detail: 'x', raw: 'x', raw_bytes: 1, raw_truncated: false, shard_id: 's', sequence_number: '1' },
  };
  t.same(classifyRecord(bytes(reject), opts), { kind: 'skip', eventType: 'PAYMENT_EVENT_REJECTED' });
});

t.test('payments are not mistaken for output; other records keep their verdicts', async (t) => {
  const payment = {
    event_type: 'PAYMENT_EVENT',
    event_id: pid('p'),
    event_date_origin: new Date(T0).toISOString(),
    data: { card_number: card(2), amount: 1.5, currency: 'EUR', merchant_id: 'm' },
  };
  t.equal(classifyRecord(bytes(payment), opts).kind, 'payment');
  // A broken payment that merely starts like one is still rejected, not skipped.
  t.match(classifyRecord(bytes('{"event_type":"PAYMENT_EVENT","'), opts), { kind: 'reject', reason: 'not_json' });
  t.match(classifyRecord(bytes('{"event_type":"PAYMENT_EVENTS","event_id":1}'), opts), { kind: 'reject' });
  // Another type with whitespace (not our producers' form) is decoded and validated as before.
  t.match(classifyRecord(bytes('{ "event_type": "PAYMENT_ALERT", "x": 1 }'), opts), { kind: 'reject', reason: 'bad_event_time' });
  t.same(classifyRecord(bytes({ event_type: 'SOMETHING_ELSE', event_id: pid('s'), event_date_origin: new Date(T0).toISOString(), data: {} }), opts), {
    kind: 'skip',
    eventType: 'SOMETHING_ELSE',
  });
  t.match(classifyRecord(bytes('P'.repeat(40)), opts), { kind: 'reject', reason: 'not_json' });
});

t.test('with the stolen set given, a payment is `payment` only for a stolen card, by both decoders', async (t) => {
  const stolenCard = card(3);
  const withStolen = { ...opts, stolen: stolenCards([stolenCard]) };
  const event = (cardNumber: string) => ({
    event_type: 'PAYMENT_EVENT',
    event_id: pid(`c${cardNumber}`),
    event_date_origin: new Date(T0).toISOString(),
    data: { card_number: cardNumber, amount: 12.5, currency: 'EUR', merchant_id: 'm-1' },
  });
  // Canonical (the producers' JSON.stringify) goes through the scanner; with a space, the general path.
  const forms = { canonical: (v: unknown) => bytes(v), general: (v: unknown) => bytes(JSON.stringify(v, null, 1)) };
  for (const [name, form] of Object.entries(forms)) {
    t.same(classifyRecord(form(event(card(4))), withStolen), { kind: 'not_stolen', eventTimeMs: T0 }, `${name}: another card's payment carries its time only`);
    t.same(
      classifyRecord(form(event(stolenCard)), withStolen),
      { kind: 'payment', event: asCardPayment(event(stolenCard)), eventTimeMs: T0 },
      `${name}: a stolen card's payment carries the payment, its card as a card ref`,
    );
    const future = { ...event(card(4)), event_date_origin: new Date(T0 + 25 * 3_600_000).toISOString() };
    t.match(
      classifyRecord(form(future), withStolen),
      { kind: 'clock_ahead', event: undefined, reject: { reason: 'future_event_time' } },
      `${name}: a time 25 h ahead of arrival is set aside and published as a reject`,
    );
    t.match(
      classifyRecord(form({ ...event(card(4)), data: { ...event(card(4)).data, amount: -1 } }), withStolen),
      { kind: 'reject', reason: 'bad_amount' },
      `${name}: a bad payment is still rejected`,
    );
  }
  const alert = new ShardEngine();
  alert.onPayment(toEvent(pay({ id: pid(2), at: T0, card: stolenCard })), true);
  alert.onIdle({ nowMs: T0 + 60_000, caughtUp: true, lastProgressAtMs: T0 });
  for (const o of alert.drain(10, T0 + 60_000))
    t.same(classifyRecord(encodeOutput(o), withStolen), { kind: 'skip', eventType: o.event_type }, 'output is still skipped');
});

const paymentOf = (cardNumber: string, atMs: number, key: string | number = 'p') => ({
  event_type: 'PAYMENT_EVENT',
  event_id: pid(`${key}${cardNumber}${atMs}`),
  event_date_origin: new Date(atMs).toISOString(),
  data: { card_number: cardNumber, amount: 12.5, currency: 'EUR', merchant_id: 'm-1' },
});
const FORMS = { canonical: (v: unknown) => bytes(v), general: (v: unknown) => bytes(JSON.stringify(v, null, 1)) };

t.test('a clock ahead of arrival by more than the skew: set aside, carrying the event only for a stolen card (issue 13, point 1)', async (t) => {
  const stolenCard = card(5);
  const withStolen = { ...opts, stolen: stolenCards([stolenCard]) };
  const arrival = T0;
  for (const [name, form] of Object.entries(FORMS)) {
    const atBound = paymentOf(stolenCard, arrival + DEFAULT_MAX_CLOCK_SKEW_MS);
    t.match(classifyRecord(form(atBound), withStolen, arrival), { kind: 'payment' }, `${name}: exactly the skew ahead is trusted`);
    const ahead = paymentOf(stolenCard, arrival + DEFAULT_MAX_CLOCK_SKEW_MS + 1);
    t.same(
      classifyRecord(form(ahead), withStolen, arrival),
      { kind: 'clock_ahead', event: asCardPayment(ahead), eventTimeMs: arrival + DEFAULT_MAX_CLOCK_SKEW_MS + 1, arrivalMs: arrival },
      `${name}: 1 ms more is not, and a stolen card's event comes along`,
    );
    const hours = paymentOf(card(6), arrival + 2 * 3_600_000);
    t.same(
      classifyRecord(form(hours), withStolen, arrival),
      { kind: 'clock_ahead', event: undefined, eventTimeMs: arrival + 2 * 3_600_000, arrivalMs: arrival },
      `${name}: another card's payment 2 h ahead is only counted`,
    );
    t.match(
      classifyRecord(form(hours), { ...withStolen, maxClockSkewMs: 3 * 3_600_000 }, arrival),
      { kind: 'not_stolen' },
      `${name}: the skew is configurable`,
    );
    // Event times behind arrival are the normal case, however far: lateness handles them.
    t.match(
      classifyRecord(form(paymentOf(stolenCard, arrival - 3 * 3_600_000)), withStolen, arrival),
      { kind: 'payment' },
      `${name}: a clock behind is not set aside`,
    );
  }
  // The arrival time comes from Kinesis (ApproximateArrivalTimestamp), not from the processor's clock.
  const record = {
    Data: bytes(paymentOf(stolenCard, T0 + 60_000)),
    PartitionKey: stolenCard,
    SequenceNumber: '1',
    ApproximateArrivalTimestamp: new Date(T0 + 58_000),
  };
  t.match(classifyKinesisRecord(record, { ...withStolen, nowMs: T0 }), { kind: 'payment' }, 'judged against its arrival, not against now');
  t.match(classifyKinesisRecord({ ...record, ApproximateArrivalTimestamp: new Date(T0) }, { ...withStolen, nowMs: T0 + 120_000 }), {
    kind: 'clock_ahead',
  });
});

t.test('a payment keyed by something else than its card is misrouted, by both decoders (issue 13, point 8)', async (t) => {
  const stolenCard = card(7);
  const withStolen = { ...opts, stolen: stolenCards([stolenCard]) };
  for (const [name, form] of Object.entries(FORMS)) {
    for (const c of [stolenCard, card(8)]) {
      const e = paymentOf(c, T0);
      t.same(classifyRecord(form(e), withStolen, T0, e.event_id), { kind: 'misrouted', card: c }, `${name}: keyed by its event id`);
      t.same(classifyRecord(form(e), withStolen, T0, c.slice(1)), { kind: 'misrouted', card: c }, `${name}: keyed by part of its card`);
      t.notMatch(classifyRecord(form(e), withStolen, T0, c), { kind: 'misrouted' }, `${name}: keyed by its card`);
    }
  }
  t.match(classifyRecord(bytes(paymentOf(stolenCard, T0)), withStolen, T0), { kind: 'payment' }, 'no key given: not checked');
  // A payment with an untrusted clock is handled where it is read: it joins no window or summary.
  t.match(classifyRecord(bytes(paymentOf(stolenCard, T0 + 60_000)), withStolen, T0, 'other'), { kind: 'clock_ahead' });
  // Other records are not payments: their keys are whatever their producers chose.
  t.match(classifyRecord(bytes('{"nope":'), withStolen, T0, 'x'), { kind: 'reject' });
});

t.test('an envelope with a repeated key is rejected, never skipped as output (issue 13, point 7)', async (t) => {
  const stolenCard = card(9);
  const withStolen = { ...opts, stolen: stolenCards([stolenCard]) };
  const e = paymentOf(stolenCard, T0);
  const inner = JSON.stringify(e).slice(1);
  // What JSON.parse reads as a PAYMENT_EVENT, opening like our own alert.
  const disguised = `{"event_type":"PAYMENT_ALERT",${inner}`;
  t.equal((JSON.parse(disguised) as { event_type: string }).event_type, 'PAYMENT_EVENT', 'JSON.parse sees a payment');
  t.match(classifyRecord(bytes(disguised), withStolen, T0, stolenCard), {
    kind: 'reject',
    reason: 'bad_envelope',
    detail: /"event_type" appears twice/,
  });
  // The other way round, and a repeated key inside data (two card numbers), are refused the same way.
  t.match(classifyRecord(bytes(`${JSON.stringify(e).slice(0, -1)},"event_type":"PAYMENT_ALERT"}`), withStolen, T0, stolenCard), {
    kind: 'reject',
    reason: 'bad_envelope',
  });
  t.match(classifyRecord(bytes(JSON.stringify(e).replace('"card_number":', `"card_number":"${card(10)}","card_number":`)), withStolen, T0, stolenCard), {
    kind: 'reject',
    reason: 'bad_envelope',
    detail: /card_number/,
  });
  // Our own output that merely mentions "event_type" in a value is decoded and skipped as before.
  const alert = {
    event_type: 'PAYMENT_ALERT',
    event_id: pid('a'),
    event_date_origin: new Date(T0).toISOString(),
    data: {
      schema_version: 2,
      payment_event_id: pid('x'),
      payment_date_origin: new Date(T0).toISOString(),
      ...testTokenizer.reference(stolenCard),
      amount: 1,
      currency: 'EUR',
      merchant_id: '"event_type"',
      window_start: new Date(T0).toISOString(),
      window_end: new Date(T0 + 5_000).toISOString(),
      late: false,
    },
  };
  t.same(classifyRecord(bytes(alert), withStolen, T0), { kind: 'skip', eventType: 'PAYMENT_ALERT' });
});

t.test("a card number in a stolen payment's merchant id is masked before the engine sees it, by both decoders (issue 18)", async (t) => {
  const stolenCard = card(11);
  const withStolen = { ...opts, stolen: stolenCards([stolenCard]) };
  const e = { ...paymentOf(stolenCard, T0), data: { ...paymentOf(stolenCard, T0).data, merchant_id: `shop ${card(12)}` } };
  for (const [name, form] of Object.entries(FORMS)) {
    const c = classifyRecord(form(e), withStolen, T0, stolenCard);
    t.equal(c.kind === 'payment' ? c.event.data.merchant_id : undefined, `shop ${card(12).slice(0, 6)}******${card(12).slice(-4)}`, name);
  }
  t.equal(
    (classifyRecord(bytes(paymentOf(stolenCard, T0)), withStolen, T0) as { event: { data: { merchant_id: string } } }).event.data.merchant_id,
    'm-1',
    'other ids untouched',
  );
});
