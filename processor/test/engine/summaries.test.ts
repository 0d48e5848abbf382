import t from 'tap';
import type { Test } from 'tap';
import { v5 } from 'uuid';
import { ALERT_ID_NAMESPACE, EventIds, SUMMARY_ID_NAMESPACE, ShardEngine, alertEventId, summaryEventId } from '../../src/engine/index.js';
import { summaryData, type SummaryEvent } from '../../../common/src/events.js';
import {
  alertsOf,
  byRef,
  card,
  cardOfToken,
  drainAll,
  expectedSummary,
  pay,
  pid,
  rng,
  stored as readBack,
  summariesOf,
  toEvent,
  testCards,
  token,
  type Pay,
} from './helpers.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0); // a multiple of 10 000

/**
 * Feeds a random stream one payment at a time, draining after each, and checks every emitted
 * summary — and the set of (boundary, card) pairs emitted — against a brute-force computation
 * over the payments taken in before that boundary was due.
 */
function bruteForceRun(t: Test, seed: number, opts: { count: number; cards: number; rangeMs: number; spreadMs: number; lateShare: number; dupShare: number }) {
  const r = rng(seed);
  const e = new ShardEngine({ summaryRangeMs: opts.rangeMs });
  const seen: Pay[] = []; // distinct stolen payments in arrival order
  const seenIds = new Set<string>();
  let maxAt = -Infinity;
  let clock = T0;
  const emitted: { s: SummaryEvent; step: number }[] = [];
  const wmAfter: number[] = []; // the watermark after each step, computed here, not asked of the engine
  const seenAfter: number[] = []; // distinct stolen payments taken in after each step
  for (let i = 0; i < opts.count; i++) {
    clock += Math.floor(r() * opts.spreadMs);
    let p: Pay;
    const recent = seen.slice(-20);
    if (recent.length > 0 && r() < opts.dupShare) {
      p = recent[Math.floor(r() * recent.length)] as Pay; // redelivery
    } else {
      const late = r() < opts.lateShare;
      const at = clock - (late ? Math.floor(r() * opts.rangeMs * 0.7) : Math.floor(r() * 1_000));
      const cur = r() < 0.7 ? 'EUR' : r() < 0.5 ? 'USD' : 'JPY';
      p = pay({
        id: pid(`${seed}/${i}`),
        at,
        card: card(Math.floor(r() * opts.cards)),
        amount: Math.floor(1 + r() * 100_000) / 100,
        currency: cur,
        merchant: `m-${Math.floor(r() * 6)}`,
      });
    }
    const stolen = r() < 0.8 || seenIds.has(p.id);
    e.onPayment(toEvent(p), stolen);
    if (stolen && !seenIds.has(p.id)) {
      seenIds.add(p.id);
      seen.push(p);
    }
    maxAt = Math.max(maxAt, p.at);
    wmAfter.push(maxAt - 1_000);
    seenAfter.push(seen.length);
    for (const s of summariesOf(drainAll(e, clock, 50))) emitted.push({ s, step: i });
  }

  // Boundary T is due at the first step whose watermark reaches it; it sees what was taken in by then.
  const dueStep = (T: number) => wmAfter.findIndex((wm) => wm >= T);
  const poolAt = (T: number) => seen.slice(0, seenAfter[dueStep(T)] ?? 0);

  let mismatches = 0;
  for (const { s, step } of emitted) {
    const T = Date.parse(s.data.window_end);
    const want = expectedSummary(poolAt(T), cardOfToken(s.data.card_token), T, opts.rangeMs);
    if (step !== dueStep(T) || JSON.stringify(want) !== JSON.stringify(s.data)) {
      if (mismatches++ < 3) t.same({ step, data: s.data }, { step: dueStep(T), data: want }, `summary ${s.data.card_masked} @ ${s.data.window_end}`);
    }
  }
  t.equal(mismatches, 0, `seed ${seed}: all ${emitted.length} summaries equal the brute force and came when due`);

  // Exactly the expected (T, card) pairs, in order: boundary ascending, then card.
  const expectedPairs: string[] = [];
  const finalWm = wmAfter[wmAfter.length - 1] as number;
  for (let T = Math.floor((T0 - opts.rangeMs) / 10_000) * 10_000; T <= finalWm; T += 10_000) {
    const pool = poolAt(T);
    const cards = [...new Set(pool.filter((p) => p.at >= T - opts.rangeMs && p.at < T).map((p) => p.card))].sort(byRef);
    for (const c of cards) expectedPairs.push(`${T}/${token(c)}`);
  }
  const gotPairs = emitted.map(({ s }) => `${Date.parse(s.data.window_end)}/${s.data.card_token}`);
  t.same(gotPairs, expectedPairs, `seed ${seed}: (boundary, card) pairs and their order`);
  t.ok(
    emitted.every(({ s }) => summaryData.safeParse(s.data).success),
    'every summary satisfies the schema',
  );
  return { emitted: emitted.length, seen: seen.length };
}

t.test('summaries equal a brute-force computation over random payments', async (t) => {
  // Short range: many boundaries, purges and late payments around and beyond the range.
  for (const seed of [11, 12, 13]) {
    const n = bruteForceRun(t, seed, { count: 1_500, cards: 6, rangeMs: MIN, spreadMs: 400, lateShare: 0.08, dupShare: 0.05 });
    t.comment(`seed ${seed}: ${n.seen} stolen payments, ${n.emitted} summaries`);
  }
  // Default one-hour range over about two hours of event time.
  const n = bruteForceRun(t, 21, { count: 2_500, cards: 8, rangeMs: HOUR, spreadMs: 5_000, lateShare: 0.05, dupShare: 0.05 });
  t.comment(`one-hour range: ${n.seen} stolen payments, ${n.emitted} summaries`);
});

/** Advances the watermark to exactly `wm` with a non-stolen payment (at = wm + 1000). */
function advanceTo(e: ShardEngine, wm: number) {
  e.onPayment(toEvent(pay({ id: pid(`tick@${wm}`), at: wm + 1_000, card: card(999) })), false);
}

t.test('a summary is emitted at every 10-second boundary the watermark reaches, per card with data in [T - 60 min, T)', async (t) => {
  const e = new ShardEngine();
  const p = pay({ at: T0 + 3_000, card: card(1) }); // pane [T0, T0 + 10 s)
  e.onPayment(toEvent(p), true);
  advanceTo(e, T0 + 9_999);
  t.same(summariesOf(drainAll(e, 0)), [], 'T0 + 10 s not reached yet');
  advanceTo(e, T0 + 10_000);
  const first = summariesOf(drainAll(e, 0));
  t.same(
    first.map((s) => [s.data.window_start, s.data.window_end]),
    [[new Date(T0 + 10_000 - HOUR).toISOString(), new Date(T0 + 10_000).toISOString()]],
  );
  advanceTo(e, T0 + 3 * HOUR);
  const rest = summariesOf(drainAll(e, 0));
  const ends = rest.map((s) => Date.parse(s.data.window_end));
  t.equal(rest.length, 359, 'boundaries T0+20s … T0+60min still contain it');
  t.equal(ends[0], T0 + 20_000);
  t.equal(ends[ends.length - 1], T0 + HOUR);
  t.ok(
    ends.every((x, i) => i === 0 || x - (ends[i - 1] as number) === 10_000),
    'no boundary skipped or repeated',
  );
});

t.test('summary content: per-currency totals exact to the cent, merchants, first and last payment', async (t) => {
  const e = new ShardEngine();
  const c = card(5);
  const ps = [
    pay({ id: pid('x1'), at: T0 + 1_000, card: c, amount: 0.1, currency: 'EUR', merchant: 'a' }),
    pay({ id: pid('x2'), at: T0 + 2_000, card: c, amount: 0.1, currency: 'EUR', merchant: 'b' }),
    pay({ id: pid('x3'), at: T0 + 3_000, card: c, amount: 0.1, currency: 'EUR', merchant: 'a' }),
    pay({ id: pid('x4'), at: T0 + 11_000, card: c, amount: 0.2, currency: 'USD', merchant: 'a' }),
    pay({ id: pid('x5'), at: T0 + 12_000, card: c, amount: 0.1, currency: 'USD', merchant: 'c' }),
  ];
  for (const p of ps) e.onPayment(toEvent(p), true);
  advanceTo(e, T0 + 20_000);
  const s = summariesOf(drainAll(e, 0)).find((x) => x.data.window_end === new Date(T0 + 20_000).toISOString());
  t.ok(s);
  t.equal(s?.data.amounts.EUR?.total, 0.3, '0.1 three times is 0.3, not 0.30000000000000004');
  t.equal(s?.data.amounts.USD?.total, 0.3, '0.1 + 0.2 is 0.3');
  t.same(s?.data.amounts, { EUR: { count: 3, total: 0.3, min: 0.1, max: 0.1 }, USD: { count: 2, total: 0.3, min: 0.1, max: 0.2 } });
  t.equal(s?.data.payment_count, 5);
  t.equal(s?.data.merchant_count, 3, 'distinct merchant ids across panes');
  t.equal(s?.data.first_payment_at, new Date(T0 + 1_000).toISOString());
  t.equal(s?.data.last_payment_at, new Date(T0 + 12_000).toISOString());
  t.same(
    s?.data.payment_event_ids,
    ps.map((p) => p.id),
  );
  t.equal(s?.event_id, summaryEventId(token(c), T0 + 20_000), "from the card's token and the window end");
  t.ok(summaryData.safeParse(s?.data).success);

  // Large amounts stay exact too: 1e9 - 0.01 summed 7 times.
  const big = new ShardEngine();
  for (let i = 0; i < 7; i++) big.onPayment(toEvent(pay({ id: pid(`big${i}`), at: T0 + i, card: c, amount: 999_999_999.99 })), true);
  advanceTo(big, T0 + 10_000);
  t.equal(summariesOf(drainAll(big, 0))[0]?.data.amounts.EUR?.total, 6_999_999_999.93);
});

t.test('payment_event_ids keeps the newest 100 by event time, oldest first', async (t) => {
  const e = new ShardEngine();
  const c = card(6);
  const r = rng(99);
  const ps: Pay[] = [];
  // 150 payments over 10 minutes, arriving shuffled within the out-of-orderness bound, with ties.
  for (let i = 0; i < 150; i++) ps.push(pay({ id: pid(`cap${i}`), at: T0 + Math.floor(i / 2) * 4_000 + (r() < 0.5 ? 0 : 1), card: c }));
  const arrival = [...ps].sort((a, b) => a.at - b.at + (r() - 0.5) * 1_500);
  for (const p of arrival) e.onPayment(toEvent(p), true);
  advanceTo(e, T0 + 20 * MIN);
  const sums = summariesOf(drainAll(e, 0));
  const last = sums.find((s) => s.data.window_end === new Date(T0 + 20 * MIN).toISOString());
  t.equal(last?.data.payment_count, 150);
  t.equal(last?.data.payment_event_ids.length, 100);
  t.same(last?.data.payment_event_ids, expectedSummary(arrival, c, T0 + 20 * MIN)?.payment_event_ids);
  const at = new Map(ps.map((p) => [p.id, p.at]));
  const times = (last?.data.payment_event_ids ?? []).map((id) => at.get(id) as number);
  t.ok(
    times.every((x, i) => i === 0 || x >= (times[i - 1] as number)),
    'oldest first',
  );
  t.ok(
    Math.min(...times) >=
      Math.max(
        ...ps
          .map((p) => p.at)
          .sort((a, b) => a - b)
          .slice(0, 50),
      ),
    'the 50 oldest are the ones left out',
  );
});

t.test('a duplicate delivery of the same event_id is counted once and alerted once', async (t) => {
  const e = new ShardEngine();
  const p = pay({ at: T0 + 1_000, card: card(2) });
  t.same(e.onPayment(toEvent(p), true), { status: 'held', summarized: true });
  t.same(e.onPayment(toEvent(p), true), { status: 'duplicate', summarized: true }, 'while held');
  advanceTo(e, T0 + 10_000);
  const first = drainAll(e, 0);
  t.same(e.onPayment(toEvent(p), true), { status: 'duplicate', summarized: true }, 'after its alert went out');
  advanceTo(e, T0 + 20_000);
  const all = [...first, ...drainAll(e, 0)];
  t.equal(alertsOf(all).length, 1);
  t.same(
    summariesOf(all).map((s) => s.data.payment_count),
    [1, 1],
  );
});

t.test('a late payment counts in every summary not yet emitted whose window contains it, never re-emitting one', async (t) => {
  const e = new ShardEngine();
  const c = card(3);
  e.onPayment(toEvent(pay({ id: pid('on-time'), at: T0 + 100, card: c })), true);
  advanceTo(e, T0 + 30_000);
  const before = summariesOf(drainAll(e, 0));
  t.same(
    before.map((s) => Date.parse(s.data.window_end)),
    [T0 + 10_000, T0 + 20_000, T0 + 30_000],
  );
  const late = pay({ id: pid('late'), at: T0 + 5_000, card: c });
  t.same(e.onPayment(toEvent(late), true), { status: 'late', summarized: true });
  advanceTo(e, T0 + 50_000);
  const after = drainAll(e, 0);
  t.equal(alertsOf(after)[0]?.data.late, true);
  const sums = summariesOf(after);
  t.same(
    sums.map((s) => Date.parse(s.data.window_end)),
    [T0 + 40_000, T0 + 50_000],
    'T0+10s…30s are not emitted again',
  );
  t.ok(sums.every((s) => s.data.payment_count === 2 && s.data.payment_event_ids.includes(late.id)));
});

t.test('a late payment too old for any summary still to come is alerted but not stored', async (t) => {
  const e = new ShardEngine();
  advanceTo(e, T0 + 2 * HOUR);
  drainAll(e, 0);
  e.takeChanges();
  const old = pay({ at: T0 + 5_000, card: card(4) }); // only boundaries ≤ T0 + 1h + 10s could use it
  t.same(e.onPayment(toEvent(old), true), { status: 'late', summarized: false });
  t.notOk(e.takeChanges().puts.some(([k]) => k.startsWith('pane')));
  const out = drainAll(e, 0);
  t.same(
    alertsOf(out).map((a) => [a.data.payment_event_id, a.data.late]),
    [[old.id, true]],
  );
  t.same(summariesOf(out), []);
});

t.test('the first payment after a 30-second quiet spell is on time and counted in every summary', async (t) => {
  const e = new ShardEngine();
  const c = card(8);
  e.onPayment(toEvent(pay({ id: pid('before'), at: T0 + 2_000, card: c })), true);
  let lastProgressAtMs = T0 + 2_050; // wall clock ≈ event time + transport
  // The stream goes quiet for 30 s; the runtime polls every second.
  const out = [];
  for (let now = lastProgressAtMs; now <= lastProgressAtMs + 30_000; now += 1_000) {
    e.onIdle({ nowMs: now, caughtUp: true, lastProgressAtMs });
    out.push(...drainAll(e, now));
  }
  t.equal(alertsOf(out).length, 1, 'the quiet stream still fired the held window');
  const now = lastProgressAtMs + 30_000;
  const first = pay({ id: pid('after'), at: now - 20, card: c });
  t.same(e.onPayment(toEvent(first), true), { status: 'held', summarized: true }, 'not late');
  lastProgressAtMs = now;
  for (let w = now; w <= now + 2 * HOUR; w += 10_000) {
    e.onIdle({ nowMs: w, caughtUp: true, lastProgressAtMs });
    out.push(...drainAll(e, w));
  }
  t.equal(alertsOf(out).find((a) => a.data.payment_event_id === first.id)?.data.late, false);
  const pane = Math.floor(first.at / 10_000) * 10_000;
  const containing = summariesOf(out).filter((s) => {
    const T = Date.parse(s.data.window_end);
    return T >= pane + 10_000 && T <= pane + HOUR;
  });
  t.equal(containing.length, 360, 'one summary at each of the 360 boundaries whose window contains it');
  t.ok(containing.every((s) => s.data.payment_event_ids.includes(first.id)));
});

t.test('an alert comes before a summary due at the same instant; summaries by boundary then card', async (t) => {
  const e = new ShardEngine();
  for (const n of [3, 1, 2]) e.onPayment(toEvent(pay({ at: T0 + 6_000 + n, card: card(n) })), true);
  e.onPayment(toEvent(pay({ at: T0 + 1_000, card: card(9) })), true);
  advanceTo(e, T0 + 20_000);
  const out = drainAll(e, 0, 2);
  const kinds = out.map((x) => (x.event_type === 'PAYMENT_ALERT' ? `A@${x.data.window_end}` : `S@${x.data.window_end}/${x.data.card_token}`));
  const iso = (ms: number) => new Date(ms).toISOString();
  t.same(kinds, [
    `A@${iso(T0 + 5_000)}`,
    ...[1, 2, 3].map(() => `A@${iso(T0 + 10_000)}`),
    ...[1, 2, 3, 9]
      .map((n) => card(n))
      .sort(byRef)
      .map((c) => `S@${iso(T0 + 10_000)}/${token(c)}`),
    ...[1, 2, 3, 9]
      .map((n) => card(n))
      .sort(byRef)
      .map((c) => `S@${iso(T0 + 20_000)}/${token(c)}`),
  ]);
});

t.test('panes older than the range behind the last emitted boundary are purged from the state', async (t) => {
  const e = new ShardEngine();
  const c = card(4);
  const p = pay({ at: T0 + 1_000, card: c });
  e.onPayment(toEvent(p), true);
  // Its pane start's group of the first commit.
  const key = `panes/${String(T0).padStart(13, '0')}/${String(1).padStart(13, '0')}`;
  t.same(
    readBack(e.takeChanges().puts.find(([k]) => k === key)?.[1]),
    { [token(c)]: { count: 1, firstMs: p.at, lastMs: p.at, currencies: { EUR: [1, 1000, 1000, 1000] }, merchants: ['m-1'], ids: [[p.at, p.id]] } },
    'pane stored, its card named by token',
  );
  advanceTo(e, T0 + HOUR - 1);
  drainAll(e, 0);
  t.notOk(e.takeChanges().dels.includes(key), 'kept while boundary T0 + 60 min is still to come');
  t.equal(e.stats().panes, 1);
  advanceTo(e, T0 + HOUR);
  const last = summariesOf(drainAll(e, 0));
  t.same(
    last.map((s) => s.data.window_end),
    [new Date(T0 + HOUR).toISOString()],
    'its last summary',
  );
  t.ok(e.takeChanges().dels.includes(key), 'deleted once no boundary can use it');
  t.equal(e.stats().panes, 0);
});

t.test('panes are stored in groups, one per pane start per commit; the latest group wins at restore, in any entry order', async (t) => {
  const e = new ShardEngine();
  const [a, b] = [card(5), card(6)];
  // As stored: panes by card token.
  const [ra, rb] = [token(a), token(b)];
  const pad = (n: number) => String(n).padStart(13, '0');
  const first = [pay({ at: T0 + 1_000, card: a }), pay({ at: T0 + 2_000, card: b }), pay({ at: T0 + 12_000, card: a })];
  for (const p of first) e.onPayment(toEvent(p), true);
  // Values as a store holds them (a group is written as JSON text).
  const asStored = (puts: [string, unknown][]) => puts.filter(([k]) => k.startsWith('panes/')).map(([k, v]): [string, unknown] => [k, readBack(v)]);
  const one = asStored(e.takeChanges().puts);
  t.same(
    one.map(([k, g]) => [k, Object.keys(g as object).sort()]),
    [
      [`panes/${pad(T0)}/${pad(1)}`, [ra, rb].sort()],
      [`panes/${pad(T0 + 10_000)}/${pad(1)}`, [ra]],
    ],
    'one entry per pane start touched, each holding its cards',
  );
  e.onPayment(toEvent(pay({ at: T0 + 3_000, card: a })), true);
  const two = asStored(e.takeChanges().puts);
  t.same(
    two.map(([k, g]) => [k, Object.keys(g as object)]),
    [[`panes/${pad(T0)}/${pad(2)}`, [ra]]],
    'a pane changed again is written again, alone, in the next group',
  );
  t.equal((two[0]![1] as Record<string, { count: number }>)[ra]!.count, 2);

  const stored = [...one, ...two, ['meta', [...e.entries()].find(([k]) => k === 'meta')![1]] as [string, unknown]];
  const summaries = (x: ShardEngine) => {
    advanceTo(x, T0 + 30_000);
    return summariesOf(drainAll(x, 0)).map((s) => [s.data.card_token, s.data.window_end, s.data.payment_count]);
  };
  const expected = summaries(ShardEngine.restore(stored, {}, testCards));
  t.same(summaries(ShardEngine.restore([...stored].reverse(), {}, testCards)), expected, 'the same engine whatever the order of the entries');
  t.ok(
    expected.some(([c, , n]) => c === token(a) && n === 3),
    'card a counts the payment of the later group',
  );
  const restored = ShardEngine.restore(stored, {}, testCards);
  restored.onPayment(toEvent(pay({ at: T0 + 4_000, card: b })), true);
  t.same(
    restored
      .takeChanges()
      .puts.filter(([k]) => k.startsWith('panes/'))
      .map(([k]) => k),
    [`panes/${pad(T0)}/${pad(3)}`],
    'a restored engine numbers its next group above the stored ones',
  );
});

t.test('a pane group is written as JSON text, byte for byte JSON.stringify of its stored panes', async (t) => {
  const e = new ShardEngine();
  const r = rng(11);
  const merchants = ['m-1', 'shop "quoted"', 'back\\slash', 'ünïcödé', 'line\nbreak', '\u2028sep'];
  const currencies = ['EUR', 'USD', 'JPY'];
  let compared = 0;
  let multi = 0;
  for (let i = 0; i < 3_000; i++) {
    const p = pay({
      id: pid(`json${i}`),
      at: T0 + Math.floor(r() * 40_000),
      card: card(Math.floor(r() * 12)),
      amount: Math.floor(r() * 100_000) / 100 + 0.01,
      currency: currencies[Math.floor(r() * 3)]!,
      merchant: merchants[Math.floor(r() * merchants.length)]!,
    });
    e.onPayment(toEvent(p), true);
    if (i % 300 !== 299) continue;
    const groups = e.takeChanges().puts.filter(([k]) => k.startsWith('panes/'));
    // What storedPane() gives for every pane now, by pane start and card.
    const stored = new Map([...e.entries()].filter(([k]) => k.startsWith('panes/')).map(([k, g]) => [k.split('/')[1], g as Record<string, object>]));
    for (const [key, value] of groups) {
      const text = Buffer.from(value as Uint8Array).toString('utf8');
      const byCard = stored.get(key.split('/')[1])!;
      const cards = Object.keys(JSON.parse(text) as object);
      t.equal(text, `{${cards.map((c) => `${JSON.stringify(c)}:${JSON.stringify(byCard[c])}`).join(',')}}`);
      compared += cards.length;
      multi += cards.filter((c) => (byCard[c] as { count: number }).count > 1).length;
    }
  }
  t.ok(compared > 100 && multi > 10, `${compared} panes compared, ${multi} with several payments`);
});

t.test('ids are deterministic: same input, same ids', async (t) => {
  const run = () => {
    const e = new ShardEngine();
    for (let i = 0; i < 20; i++) e.onPayment(toEvent(pay({ id: pid(`det${i}`), at: T0 + i * 700, card: card(i % 3) })), true);
    advanceTo(e, T0 + 5 * MIN);
    return drainAll(e, 0).map((x) => x.event_id);
  };
  const a = run();
  const b = run();
  t.same(a, b);
  t.equal(new Set(a).size, a.length, 'distinct per alert and per (card, window end)');
  t.equal(
    summaryEventId(token(card(1)), T0 + 10_000),
    v5(`${token(card(1))}/${new Date(T0 + 10_000).toISOString()}`, SUMMARY_ID_NAMESPACE),
    'v5 of card/window_end',
  );
  t.equal(alertEventId(pid('det0')), v5(pid('det0'), ALERT_ID_NAMESPACE), 'v5 of the payment event_id');
  t.not(summaryEventId(token(card(1)), T0 + 10_000), summaryEventId(token(card(1)), T0 + 20_000));
  t.not(summaryEventId(token(card(1)), T0 + 10_000), summaryEventId(token(card(2)), T0 + 10_000));
});

t.test("ids equal the uuid package's v5 for every variant digit and for long names", async (t) => {
  const ids = new EventIds(); // the engine's own, hand-written path
  const digits = new Set<string>();
  let same = 0;
  for (let i = 0; i < 2_000; i++) {
    const at = T0 + i * 10_000;
    const s = ids.summary(card(i), at);
    const a = ids.alert(pid(`v${i}`));
    if (s === v5(`${card(i)}/${new Date(at).toISOString()}`, SUMMARY_ID_NAMESPACE) && a === v5(pid(`v${i}`), ALERT_ID_NAMESPACE)) same++;
    digits.add(s[19] as string).add(a[19] as string);
  }
  t.equal(same, 2_000, 'summary and alert ids as uuid computes them');
  t.same([...digits].sort(), ['8', '9', 'a', 'b'], 'every variant digit occurred');
  const long = 'x'.repeat(300);
  t.equal(ids.summary(long, T0), v5(`${long}/${new Date(T0).toISOString()}`, SUMMARY_ID_NAMESPACE), 'a name longer than the scratch buffer');
});

t.test("ids equal the uuid package's v5 for names of every length across SHA-1's block edges, and for non-ASCII", async (t) => {
  const ids = new EventIds(); // the engine's own, hand-written path
  // The hash is padded to 64-byte blocks after the 16-byte namespace: names of 39/40 bytes and
  // 103/104 bytes are where one more block starts, 47/48 where the length spills into it.
  const wrong: number[] = [];
  for (let n = 0; n <= 200; n++) {
    const name = 'ab3'.repeat(n).slice(0, n);
    if (ids.alert(name) !== v5(name, ALERT_ID_NAMESPACE)) wrong.push(n);
  }
  t.same(wrong, [], 'lengths 0..200');
  for (const name of ['é', 'carte-€', '4111111111111111/ü', 'x'.repeat(40) + '😀']) {
    t.equal(ids.alert(name), v5(name, ALERT_ID_NAMESPACE), JSON.stringify(name));
  }
  const huge = 'z'.repeat(10_000);
  t.equal(ids.alert(huge), v5(huge, ALERT_ID_NAMESPACE), 'a name of 10 000 bytes');
  t.equal(ids.alert('abc'), v5('abc', ALERT_ID_NAMESPACE), 'a short name after a long one (the buffer is reused)');
});
