import t from 'tap';
import { decodeRecord, encodeEvent, hasAtMostTwoDecimals } from '../../common/src/events.js';
import { createPaymentGenerator, createStatusGenerator, seededRandom } from '../src/generator.js';
import { LATE_MAX_MS, LATE_MIN_MS, REPORT_BACKDATE_MAX_MS } from '../src/options.js';
import { makeCards } from './helpers.js';

const cards = makeCards(50);

t.test('every generated event passes decodeRecord', async (t) => {
  const generate = createPaymentGenerator({ cards, random: seededRandom(1) });
  const bad: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const ev = generate();
    const result = decodeRecord(encodeEvent(ev));
    if (!result.ok) bad.push(`${result.reason}: ${result.detail}`);
    if (ev.event_type !== 'PAYMENT_EVENT') bad.push('wrong type');
  }
  t.same(bad.slice(0, 5), [], 'no event rejected');
});

t.test('fields look like real payments', async (t) => {
  const generate = createPaymentGenerator({ cards, random: seededRandom(7) });
  const events = Array.from({ length: 20_000 }, generate);
  const byCurrency = new Map<string, number>();
  for (const e of events) byCurrency.set(e.data.currency, (byCurrency.get(e.data.currency) ?? 0) + 1);
  const major = ['EUR', 'USD', 'GBP'].reduce((s, c) => s + (byCurrency.get(c) ?? 0), 0) / events.length;
  t.ok(major > 0.8 && major < 0.97, `EUR/USD/GBP share ${major.toFixed(3)}`);
  t.ok(byCurrency.size >= 6, `some other currencies too: ${[...byCurrency.keys()].join(',')}`);
  t.ok(
    events.every((e) => e.data.amount > 0 && hasAtMostTwoDecimals(e.data.amount)),
    'amounts > 0 with at most 2 decimals',
  );
  t.ok(
    events.filter((e) => e.data.currency === 'JPY').every((e) => Number.isInteger(e.data.amount)),
    'yen are whole',
  );
  const eur = events
    .filter((e) => e.data.currency === 'EUR')
    .map((e) => e.data.amount)
    .sort((a, b) => a - b);
  const median = eur[eur.length >> 1]!;
  t.ok(median > 10 && median < 80, `EUR median ${median} is a plausible ticket`);
  t.ok(eur[eur.length - 1]! > 10 * median, 'a long tail of large amounts');
  t.ok(
    events.every((e) => /^\d{4}$/.test(e.data.mcc!) && /^[A-Z]{2}$/.test(e.data.country!) && e.data.merchant_name),
    'mcc, country, name',
  );
  t.equal(new Set(events.map((e) => e.event_id)).size, events.length, 'ids are distinct');
  const perCard = new Map<string, number>();
  for (const e of events) perCard.set(e.data.card_number, (perCard.get(e.data.card_number) ?? 0) + 1);
  t.equal(perCard.size, cards.length, 'every card is used');
  const counts = [...perCard.values()];
  t.ok(Math.min(...counts) > 300 && Math.max(...counts) < 520, `uniform over cards (400 expected each): ${Math.min(...counts)}..${Math.max(...counts)}`);
});

t.test('a seed reproduces cards, merchants and amounts, not ids', async (t) => {
  const project = (e: ReturnType<ReturnType<typeof createPaymentGenerator>>) => e.data;
  const a = createPaymentGenerator({ cards, random: seededRandom(42) });
  const b = createPaymentGenerator({ cards, random: seededRandom(42), disorderMs: 500, lateRatio: 0.5 });
  const c = createPaymentGenerator({ cards, random: seededRandom(43) });
  const ea = Array.from({ length: 100 }, a);
  const eb = Array.from({ length: 100 }, b);
  t.same(ea.map(project), eb.map(project), 'same seed, same data, whatever the time knobs');
  t.notSame(ea.map(project), Array.from({ length: 100 }, c).map(project), 'another seed differs');
  t.not(ea[0]!.event_id, eb[0]!.event_id);
});

t.test('event time is the clock, minus the disorder or lateness asked for', async (t) => {
  const now = Date.parse('2026-11-27T10:00:00.000Z');
  const ids = ['00000000-0000-4000-8000-000000000001'];
  const plain = createPaymentGenerator({ cards, random: seededRandom(1), now: () => now, newId: () => ids[0]! });
  const ev = plain();
  t.equal(ev.event_date_origin, '2026-11-27T10:00:00.000Z');
  t.equal(ev.event_id, ids[0]);

  const disordered = createPaymentGenerator({ cards, random: seededRandom(1), now: () => now, disorderMs: 200 });
  const offsets = Array.from({ length: 5_000 }, () => now - Date.parse(disordered().event_date_origin));
  t.ok(
    offsets.every((o) => o >= 0 && o <= 200),
    'within 0..200 ms before creation',
  );
  t.ok(Math.min(...offsets) === 0 && Math.max(...offsets) === 200, 'both ends reached');

  const late = createPaymentGenerator({ cards, random: seededRandom(1), now: () => now, lateRatio: 0.1 });
  const lateOffsets = Array.from({ length: 10_000 }, () => now - Date.parse(late().event_date_origin)).filter((o) => o > 0);
  t.ok(lateOffsets.length > 850 && lateOffsets.length < 1150, `about 10 % late: ${lateOffsets.length} of 10000`);
  t.ok(
    lateOffsets.every((o) => o >= LATE_MIN_MS && o <= LATE_MAX_MS),
    'late by 10 to 60 minutes',
  );
});

t.test('backfill: the events cover the span evenly, in order, whatever the clock says', async (t) => {
  const gen = createPaymentGenerator({ cards, random: seededRandom(3), now: () => 9e12, backfill: { fromMs: 1_000_000, spanMs: 60_000, count: 600 } });
  const stamps = Array.from({ length: 600 }, () => Date.parse(gen().event_date_origin));
  t.equal(stamps[0], 1_000_000, 'the first at the start of the span');
  t.equal(stamps.at(-1), 1_000_000 + 59_900, 'the last one step before its end');
  t.ok(
    stamps.every((s, i) => i === 0 || s - stamps[i - 1]! === 100),
    'one every span/count ms, in order',
  );
  const disordered = createPaymentGenerator({ cards, random: seededRandom(3), disorderMs: 50, backfill: { fromMs: 0, spanMs: 1000, count: 10 } });
  const d = Array.from({ length: 10 }, (_, i) => i * 100 - Date.parse(disordered().event_date_origin));
  t.ok(
    d.every((o) => o >= 0 && o <= 50),
    'disorder still applies',
  );
});

t.test('refuses an empty card list', async (t) => {
  t.throws(() => createPaymentGenerator({ cards: [], random: Math.random }), RangeError);
});

t.test(
  'status changes: valid CARD_STATUS_CHANGED, STOLEN from up to the backdate ago, ACTIVE only for a card this run reported stolen, from now',
  async (t) => {
    const now = Date.UTC(2026, 11, 6, 12, 0, 0);
    const generate = createStatusGenerator({ cards, random: seededRandom(4), now: () => now });
    const stolen = new Set<string>();
    let recovered = 0;
    for (let i = 0; i < 2_000; i++) {
      const e = generate();
      const decoded = decodeRecord(encodeEvent(e));
      if (!decoded.ok) t.fail(decoded.detail);
      const at = Date.parse(e.data.effective_at);
      if (e.data.status === 'STOLEN') {
        t.ok(at <= now && at > now - REPORT_BACKDATE_MAX_MS, 'STOLEN from the recent past') || t.comment(e);
        stolen.add(e.data.card_number);
      } else {
        t.ok(stolen.has(e.data.card_number), 'ACTIVE: a card reported stolen before') || t.comment(e);
        t.equal(at, now, 'from now');
        recovered++;
      }
    }
    t.ok(recovered > 300 && recovered < 900, `both kinds (${recovered} of 2 000 recoveries)`);
  },
);
