/**
 * The hand-written encoders of alerts and summaries give exactly JSON.stringify's bytes, for every
 * event the engine emits (random payments, several currencies, late alerts, hot cards with more ids
 * than a summary lists) and for merchant ids that need escaping.
 */
import t from 'tap';
import { ShardEngine, type Emission } from '../../src/engine/index.js';
import { encodeOutput, encodeOutputs } from '../../src/sink/encode.js';
import type { RejectedEvent } from '../../../common/src/events.js';
import { card, pay, pid, ref, rng, testTokenizer, toEvent } from '../engine/helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const MERCHANTS = ['m-1', 'shop "quoted"', 'back\\slash', 'tab\there', 'ünïcödé', 'emoji 💳', 'line\nbreak', '\u0000nul', '\u2028sep'];
const CURRENCIES = ['EUR', 'USD', 'JPY', 'GBP'];

function emissions(seed: number): Emission[] {
  const r = rng(seed);
  const e = new ShardEngine({ summaryRangeMs: 120_000 });
  const out: Emission[] = [];
  let clock = T0;
  for (let i = 0; i < 3_000; i++) {
    clock += Math.floor(r() * 300);
    const amount = r() < 0.1 ? 1_000_000_000 : r() < 0.5 ? Math.floor(r() * 100_000) / 100 : 0.01 + Math.floor(r() * 10);
    const p = pay({
      id: pid(`${seed}/${i}`),
      at: clock - Math.floor(r() * (r() < 0.05 ? 20_000 : 900)),
      card: card(Math.floor(r() * 5)),
      amount,
      currency: CURRENCIES[Math.floor(r() * 4)]!,
      merchant: MERCHANTS[Math.floor(r() * MERCHANTS.length)]!,
    });
    e.onPayment(toEvent(p), r() < 0.8);
    if (r() < 0.05) out.push(...e.drain(100, clock));
  }
  e.onIdle({ nowMs: clock + 600_000, caughtUp: true, lastProgressAtMs: clock });
  for (let batch = e.drain(1_000, clock + 600_000); batch.length > 0; batch = e.drain(1_000, clock + 600_000)) out.push(...batch);
  return out;
}

t.test('alerts and summaries from the engine encode byte for byte as JSON.stringify', async (t) => {
  let alerts = 0;
  let summaries = 0;
  let mismatches = 0;
  let manyIds = false;
  let multiCurrency = false;
  for (const seed of [1, 2, 3]) {
    for (const e of emissions(seed)) {
      if (e.event_type === 'PAYMENT_ALERT') alerts++;
      else {
        summaries++;
        manyIds ||= e.data.payment_event_ids.length === 100;
        multiCurrency ||= Object.keys(e.data.amounts).length > 1;
      }
      const expected = Buffer.from(JSON.stringify(e), 'utf8');
      if (!encodeOutput(e).equals(expected)) {
        if (mismatches++ < 3) t.equal(encodeOutput(e).toString('utf8'), expected.toString('utf8'), `${e.event_type} ${e.event_id}`);
      }
    }
  }
  t.equal(mismatches, 0, 'no event encodes differently');
  t.ok(alerts > 1_000 && summaries > 500, `${alerts} alerts and ${summaries} summaries compared`);
  t.ok(manyIds, 'a summary lists the full 100 ids');
  t.ok(multiCurrency, 'a summary has several currencies');
});

t.test('a retro alert (issue 19) and one with a clock ahead encode as JSON.stringify, their flags included', async (t) => {
  // An empty stolen list: the card is stolen by the report only.
  const e = new ShardEngine({}, undefined, { refOfToken: () => undefined, recordKey: testTokenizer.recordKey });
  const T = Date.UTC(2026, 11, 6, 12, 0, 0);
  const p = pay({ at: T + 1_000, card: card(5) });
  e.recent!.add(p.card, p.id, p.at, p.amount, p.currency, p.merchant);
  e.onNotStolenPayment(T + 30_000);
  t.same(e.onStatus({ card: ref(p.card), number: Buffer.from(p.card), stolen: true, effectiveAtMs: T }), { held: 0, retro: 1 });
  e.onClockAheadPayment(toEvent(pay({ at: T + 7_200_000, card: card(1) })), T + 7_200_000, T + 30_000);
  const out = e.drain(10, T + 30_000);
  const alerts = out.filter((a) => a.event_type === 'PAYMENT_ALERT');
  t.same(
    alerts.map((a) => [a.event_type === 'PAYMENT_ALERT' && a.data.retro, a.event_type === 'PAYMENT_ALERT' && a.data.clock_ahead_ms]),
    [
      [undefined, 7_170_000],
      [true, undefined],
    ],
  );
  for (const a of out) t.equal(encodeOutput(a).toString('utf8'), JSON.stringify(a), a.event_type);
});

t.test("a whole chunk encoded into one buffer: each record is its own bytes, also past the buffer's first size", async (t) => {
  for (const seed of [4, 5]) {
    const events = emissions(seed);
    const encoded = encodeOutputs(events);
    t.equal(encoded.length, events.length);
    const wrong = events.filter((e, i) => !encoded[i]!.equals(Buffer.from(JSON.stringify(e), 'utf8')));
    t.equal(wrong.length, 0, `seed ${seed}: ${events.length} records, each equal to JSON.stringify`);
  }
  // Three records of ~4 KB each outgrow the first buffer (640 bytes a record): views taken before
  // and after it grows both keep their bytes.
  const events = emissions(1);
  const long = events.find((e) => e.event_type === 'PAYMENT_ALERT_SUMMARY' && e.data.payment_event_ids.length === 100)!;
  const alert = events.find((e) => e.event_type === 'PAYMENT_ALERT')!;
  const few = [alert, long, long, alert];
  const encoded = encodeOutputs(few);
  t.ok(encoded.reduce((n, b) => n + b.length, 0) > few.length * 640, 'more bytes than the first buffer holds');
  t.same(
    encoded.map((b) => b.toString('utf8')),
    few.map((e) => JSON.stringify(e)),
  );
});

t.test('an alert whose merchant id needs escaping, and a reject, encode as JSON.stringify', async (t) => {
  for (const [i, merchant] of MERCHANTS.entries()) {
    const e = new ShardEngine();
    e.onPayment(toEvent(pay({ at: T0, merchant })), true);
    e.onIdle({ nowMs: T0 + 60_000, caughtUp: true, lastProgressAtMs: T0 });
    const [alert] = e.drain(1, T0 + 60_000);
    t.equal(alert?.event_type, 'PAYMENT_ALERT');
    // Named by index: a raw U+2028 in an assertion name would break the TAP line it is on.
    t.same(encodeOutput(alert!), Buffer.from(JSON.stringify(alert), 'utf8'), `merchant ${i}`);
  }
  const reject: RejectedEvent = {
    event_type: 'PAYMENT_EVENT_REJECTED',
    event_id: pid('r'),
    event_date_origin: new Date(T0).toISOString(),
    data: {
      reason: 'not_json',
      detail: 'x',
      raw: '{"a":"ü\u0000',
      raw_bytes: 12,
      raw_truncated: false,
      shard_id: 's',
      sequence_number: '1',
    },
  };
  t.same(encodeOutput(reject), Buffer.from(JSON.stringify(reject), 'utf8'));
});
