/**
 * Card status on the stream (issue 19): CARD_STATUS_CHANGED reports joined with payments in event
 * time, retro alerts from the record of recent payments, recoveries, and all of it as shard state.
 * The engine has no clock: every instant is an argument, so each case places its reports exactly.
 */
import t from 'tap';
import { inheritEntries, ShardEngine, type CardDirectory, type Emission } from '../../src/engine/index.js';
import type { EngineConfig } from '../../src/engine/options.js';
import { MemoryStore, alertsOf, card, drainAll, pay, pid, ref, rng, summariesOf, testTokenizer, toEvent, token, type Pay } from './helpers.js';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
/** On the stolen list the processor started with. */
const LISTED = card(1);
/** On no list: stolen only when a report says so. */
const OTHER = card(2);
/** A third card whose payments only move stream time. */
const FILLER = card(9);
const LIST: CardDirectory = { refOfToken: (t) => (t === token(LISTED) ? ref(LISTED) : undefined), recordKey: testTokenizer.recordKey };

function engine(config: Partial<EngineConfig> = {}): ShardEngine {
  return new ShardEngine(config, undefined, LIST);
}

/**
 * What the runtime does with a payment (classify.ts, intake.ts): every one goes to the record of
 * recent payments; a card the list or a report names is handed in as a candidate, and the engine
 * judges it by its status at its time.
 */
function feed(e: ShardEngine, p: Pay): void {
  e.recent?.add(p.card, p.id, p.at, p.amount, p.currency, p.merchant);
  const candidate = LIST.refOfToken(token(p.card)) !== undefined || e.reported.refOfToken(token(p.card)) !== undefined;
  e.onPayment(toEvent(p), candidate, p.at);
}

function report(e: ShardEngine, cardNumber: string, status: 'STOLEN' | 'ACTIVE', effectiveAtMs: number) {
  return e.onStatus({ card: ref(cardNumber), number: Buffer.from(cardNumber, 'latin1'), stolen: status === 'STOLEN', effectiveAtMs });
}

/** Moves the watermark to `t` with a payment of a card no one reports (out-of-orderness 1 s). */
function advance(e: ShardEngine, t: number): void {
  feed(e, pay({ at: t + 1_000, card: FILLER, id: pid(`filler@${t}`) }));
}

/** Entries as LevelDB gives them back: in key order. */
const sorted = (m: Map<string, unknown>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const alerted = (out: Emission[]) => alertsOf(out).map((a) => a.data.payment_event_id);
const summaryOf = (out: Emission[], cardNumber: string) => summariesOf(out).filter((s) => s.data.card_token === token(cardNumber));

t.test('a payment is judged by its card status at its own event time, with every report read before its window fires', async (t) => {
  const e = engine();
  const before = pay({ at: T0 + 1_000, card: OTHER });
  const after = pay({ at: T0 + 3_000, card: OTHER });
  feed(e, before);
  feed(e, after);
  t.same(e.stats().pendingAlertWindows, 0, 'not stolen when read: nothing held');
  // Read while their window [T0, T0 + 5 s) is open: a report within the out-of-orderness bound.
  const outcome = report(e, OTHER, 'STOLEN', T0 + 2_000);
  t.same(outcome, { held: 1, retro: 0 }, 'the payment after effective_at is held for its window');
  advance(e, T0 + 5_000);
  let out = drainAll(e, T0 + 6_000);
  t.same(alerted(out), [after.id], 'only the payment at or after effective_at is alerted');
  t.notOk(alertsOf(out)[0]?.data.retro, 'alerted when its window fired: not a retro alert');
  const later = pay({ at: T0 + 6_000, card: OTHER });
  const lateButBefore = pay({ at: T0 + 1_500, card: OTHER, id: pid('late-before') });
  feed(e, later);
  feed(e, lateButBefore);
  advance(e, T0 + 10_000);
  out = drainAll(e, T0 + 11_000);
  t.same(alerted(out), [later.id], 'a later payment is alerted; a late one from before effective_at is not');
  t.same(summaryOf(out, OTHER)[0]?.data.payment_event_ids, [after.id, later.id], 'the summary counts the stolen-time payments only');
});

t.test('retro: a late STOLEN report alerts payments from effective_at with retro: true, back to retroAlertMs; later summaries count them', async (t) => {
  const e = engine({ retroAlertMs: 60_000 });
  const tooOld = pay({ at: T0 + 1_000, card: OTHER });
  const alsoTooOld = pay({ at: T0 + 20_000, card: OTHER });
  const inReach = pay({ at: T0 + 70_000, card: OTHER, merchant: 'shop 4111111111111111' });
  for (const p of [tooOld, alsoTooOld, inReach]) feed(e, p);
  advance(e, T0 + 100_000);
  let out = drainAll(e, T0 + 100_000);
  t.same(alerted(out), [], 'not stolen when their windows fired');
  t.same(summaryOf(out, OTHER), [], 'and in no summary');
  // Read at watermark T0 + 100 s: the record reaches back to T0 + 40 s (retroAlertMs, down to its pane start).
  const outcome = report(e, OTHER, 'STOLEN', T0);
  t.same(outcome, { held: 0, retro: 1 }, 'one payment within reach, its window long fired');
  out = drainAll(e, T0 + 100_500);
  const [alert] = alertsOf(out);
  t.equal(alert?.data.payment_event_id, inReach.id, 'the payment within retroAlertMs is alerted at the next drain');
  t.equal(alert?.data.retro, true, 'flagged retro');
  t.equal(alert?.data.late, false, 'not late: the payment itself arrived in time');
  t.equal(alert?.data.card_token, token(OTHER), 'named by its token');
  t.equal(alert?.data.merchant_id, 'shop 411111******1111', 'a card number in the merchant id is masked, as for any alert');
  t.equal(alert?.data.window_end, new Date(T0 + 75_000).toISOString(), "its own payment's window");
  advance(e, T0 + 110_000);
  out = drainAll(e, T0 + 110_000);
  t.same(
    summaryOf(out, OTHER).map((s) => [s.data.window_end, s.data.payment_event_ids]),
    [[new Date(T0 + 110_000).toISOString(), [inReach.id]]],
    'the next summary counts it; the payments beyond reach are in none',
  );
  t.same(report(e, OTHER, 'STOLEN', T0), { held: 0, retro: 0 }, 'the same report again changes nothing');
  t.same(alerted(drainAll(e, T0 + 111_000)), [], 'and alerts nothing again');
});

t.test('a record part read back twice (a crash after its file, before its checkpoint): each payment alerted once', async (t) => {
  const e = engine({ retroAlertMs: 60_000 });
  const paid = [pay({ at: T0 + 1_000, card: OTHER }), pay({ at: T0 + 2_000, card: OTHER })];
  for (const p of paid) feed(e, p);
  advance(e, T0 + 20_000);
  drainAll(e, T0 + 20_000);
  const store = new MemoryStore();
  store.apply(e.takeChanges());
  // The same payments in a second part: what the replay after such a crash records again.
  const parts = [...store.map.keys()].filter((k) => k.startsWith('recent/'));
  t.ok(parts.length > 0, `the record was committed (${parts.length} parts)`);
  for (const k of parts)
    store.map.set(
      k.replace(/\/(\d{13})$/, (_, n: string) => `/${String(Number(n) + 1000).padStart(13, '0')}`),
      store.map.get(k),
    );
  const r = ShardEngine.restore(sorted(store.map), {}, LIST);
  t.same(report(r, OTHER, 'STOLEN', T0), { held: 0, retro: 2 }, 'two payments, not four');
  t.same(alerted(drainAll(r, T0 + 20_500)).sort(), paid.map((p) => p.id).sort(), 'each alerted once');
});

t.test('recovery: ACTIVE stops alerts from effective_at, held payments included, and summaries count only payments made while stolen', async (t) => {
  const e = engine();
  const q1 = pay({ at: T0 + 1_000, card: LISTED });
  const q2 = pay({ at: T0 + 3_000, card: LISTED });
  feed(e, q1);
  feed(e, q2);
  t.same(e.stats().pendingAlertWindows, 1, 'both held: the card is on the stolen list');
  report(e, LISTED, 'ACTIVE', T0 + 2_000);
  advance(e, T0 + 10_000);
  let out = drainAll(e, T0 + 11_000);
  t.same(alerted(out), [q1.id], 'the held payment after effective_at is not alerted when its window fires');
  t.same(summaryOf(out, LISTED)[0]?.data.payment_event_ids, [q1.id], 'nor counted in the summary');
  t.same(summaryOf(out, LISTED)[0]?.data.payment_count, 1);

  // Stolen again from T0 + 11 s; a payment alerted and summarised; then recovered from before it.
  report(e, LISTED, 'STOLEN', T0 + 11_000);
  const q3 = pay({ at: T0 + 12_000, card: LISTED });
  feed(e, q3);
  advance(e, T0 + 20_000);
  out = drainAll(e, T0 + 21_000);
  t.same(alerted(out), [q3.id], 'stolen again: alerted');
  t.same(summaryOf(out, LISTED)[0]?.data.payment_event_ids, [q1.id, q3.id], 'and counted');
  const store = new MemoryStore();
  store.apply(e.takeChanges());
  report(e, LISTED, 'ACTIVE', T0 + 11_500);
  const q4 = pay({ at: T0 + 21_000, card: LISTED });
  feed(e, q4);
  advance(e, T0 + 30_000);
  out = drainAll(e, T0 + 31_000);
  t.same(alerted(out), [], 'a payment after the recovery is not alerted');
  t.same(summaryOf(out, LISTED)[0]?.data.payment_event_ids, [q1.id], 'a recovery read late takes its payments out of every later summary');
  store.apply(e.takeChanges());
  t.ok(
    [...store.map.entries()].some(([k, v]) => k.startsWith('panes/') && Object.values(v as object).includes(null)),
    'the removed pane, stored before, is stored as removed',
  );
  const restored = ShardEngine.restore(
    [...store.map].sort(([a], [b]) => (a < b ? -1 : 1)),
    {},
    LIST,
  );
  t.same(restored.stats().panes, e.stats().panes, 'restored, the removed pane stays removed');
});

t.test('a report exactly at a window boundary: a payment at effective_at has the new status, one a millisecond before the old', async (t) => {
  const e = engine();
  const W = T0 + 5_000; // a window boundary (and not a summary boundary)
  const [o1, o2, l1, l2] = [pay({ at: W - 1, card: OTHER }), pay({ at: W, card: OTHER }), pay({ at: W - 1, card: LISTED }), pay({ at: W, card: LISTED })];
  for (const p of [o1, o2, l1, l2]) feed(e, p);
  report(e, OTHER, 'STOLEN', W);
  report(e, LISTED, 'ACTIVE', W);
  advance(e, T0 + 10_000);
  t.same(alerted(drainAll(e, T0 + 11_000)).sort(), [o2.id, l1.id].sort(), 'stolen from W: the payment at W; recovered from W: the payment at W - 1');
  // Two reports effective at the same instant: the one read last holds.
  report(e, OTHER, 'ACTIVE', T0 + 20_000);
  report(e, OTHER, 'STOLEN', T0 + 20_000);
  feed(e, pay({ at: T0 + 20_000, card: OTHER, id: pid('tie') }));
  advance(e, T0 + 25_000);
  t.same(alerted(drainAll(e, T0 + 26_000)), [pid('tie')], 'of two reports for the same instant, the last read decides');
});

/** Random payments of four cards (two listed), reports of every kind, drains and restores; one seed. */
function script(seed: number, steps: number) {
  const r = rng(seed);
  const cards = [LISTED, OTHER, card(3), card(4)];
  const out: Array<{ kind: 'pay'; p: Pay } | { kind: 'report'; card: string; status: 'STOLEN' | 'ACTIVE'; at: number } | { kind: 'drain'; nowMs: number }> = [];
  let clock = T0;
  for (let i = 0; i < steps; i++) {
    const x = r();
    if (x < 0.7) {
      clock += Math.floor(r() * 600);
      out.push({
        kind: 'pay',
        p: pay({
          id: pid(`${seed}/${i}`),
          at: clock - (r() < 0.1 ? Math.floor(r() * 30_000) : Math.floor(r() * 900)),
          card: cards[Math.floor(r() * cards.length)] as string,
          amount: 1 + Math.floor(r() * 9_999) / 100,
          merchant: `m${Math.floor(r() * 3)}`,
        }),
      });
    } else if (x < 0.75) {
      // Effective from 2 min before now to 10 s after it: retro, within the bound, in the future.
      out.push({
        kind: 'report',
        card: cards[Math.floor(r() * cards.length)] as string,
        status: r() < 0.5 ? 'STOLEN' : 'ACTIVE',
        at: clock - Math.floor(r() * 120_000) + 10_000,
      });
    } else {
      out.push({ kind: 'drain', nowMs: clock });
    }
  }
  return out;
}

t.test('status is part of the shard state: restored from its committed entries after any step, the engine decides as the uninterrupted one', async (t) => {
  const config = { summaryRangeMs: 60_000, retroAlertMs: 90_000 };
  for (const seed of [19, 20]) {
    const steps = script(seed, 1_200);
    const reference: Emission[] = [];
    const e = engine(config);
    const restored: Emission[] = [];
    const store = new MemoryStore();
    let r = engine(config);
    let restores = 0;
    for (const [i, s] of steps.entries()) {
      for (const [x, out] of [
        [e, reference],
        [r, restored],
      ] as const) {
        if (s.kind === 'pay') feed(x, s.p);
        else if (s.kind === 'report') report(x, s.card, s.status, s.at);
        else out.push(...drainAll(x, s.nowMs, 3));
      }
      if (s.kind === 'drain') {
        store.apply(r.takeChanges());
        if (i % 7 === 0) {
          // As LevelDB gives them back: in key order.
          r = ShardEngine.restore(sorted(store.map), config, LIST);
          restores++;
        }
      }
    }
    t.ok(restores > 20, `seed ${seed}: ${restores} restores`);
    t.ok(
      alertsOf(reference).some((a) => a.data.retro),
      `seed ${seed}: the script makes retro alerts (${alertsOf(reference).filter((a) => a.data.retro).length})`,
    );
    t.ok(reference.length > 100, `seed ${seed}: ${reference.length} records`);
    t.same(
      restored.map((x) => x.event_id),
      reference.map((x) => x.event_id),
      `seed ${seed}: the same records in the same order`,
    );
    t.same(restored, reference, `seed ${seed}: equal records`);
  }
});

t.test('the record of recent payments: bounded by retroAlertMs, no card number where stored; its size at 1 000 payments/s', async (t) => {
  const retroAlertMs = 60_000;
  const e = engine({ retroAlertMs, summaryRangeMs: 60_000 });
  const store = new MemoryStore();
  const storedBytes = () => [...store.map].filter(([k]) => k.startsWith('recent/')).reduce((n, [, v]) => n + (v as string).length, 0);
  let peakHeld = 0;
  let peakStored = 0;
  const cards = Array.from({ length: 1_000 }, (_, i) => card(1_000 + i));
  const seconds = 180;
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < 1_000; i++) {
      const at = T0 + s * 1_000 + i;
      feed(e, { id: pid(`${s}/${i}`), at, card: cards[i] as string, amount: 12.34, currency: 'EUR', merchant: `merchant-${i % 50}` });
    }
    drainAll(e, T0 + s * 1_000);
    store.apply(e.takeChanges());
    peakHeld = Math.max(peakHeld, e.stats().recentBytes);
    peakStored = Math.max(peakStored, storedBytes());
  }
  const perPayment = peakHeld / (retroAlertMs / 1_000 + 20) / 1_000;
  t.ok(peakHeld > 60 * 1_000 * 70, `at least retroAlertMs of payments held (${(peakHeld / 1e6).toFixed(1)} MB)`);
  t.ok(peakHeld < 80 * 1_000 * 100, `at most retroAlertMs + two buckets of them (${(peakHeld / 1e6).toFixed(1)} MB)`);
  t.ok(peakStored < peakHeld * 1.5, `stored ${(peakStored / 1e6).toFixed(1)} MB`);
  t.comment(
    `record: ~${perPayment.toFixed(0)} bytes per payment; at the default 5 min and 1 000 payments/s: ${((perPayment * 300_000) / 1e6).toFixed(1)} MB per shard`,
  );
  t.ok(perPayment * 300_000 < 30e6, 'the default (5 min) costs under 30 MB per shard at 1 000 payments/s');
  const clear = Buffer.from(cards[7] as string, 'latin1');
  t.notOk(
    [...store.map.values()].some((v) => typeof v === 'string' && Buffer.from(v, 'base64').includes(clear)),
    'no stored value holds a card number in clear',
  );
  t.notOk(JSON.stringify([...store.map]).includes(cards[7] as string), 'nor as text');
});

t.test('a split gives each child the status of its own cards and every part of the record; restored, each decides for its cards', async (t) => {
  const e = engine();
  report(e, OTHER, 'STOLEN', T0);
  report(e, card(3), 'STOLEN', T0);
  const p2 = pay({ at: T0 + 1_000, card: OTHER });
  const p3 = pay({ at: T0 + 1_000, card: card(3) });
  feed(e, p2);
  feed(e, p3);
  advance(e, T0 + 10_000);
  drainAll(e, T0 + 10_000);
  const parent = [...e.entries()];
  const keepOther = (ref_: string) => ref_ === ref(OTHER) || ref_ === ref(LISTED) || ref_ === ref(FILLER);
  const a = inheritEntries([parent], keepOther, LIST);
  const b = inheritEntries([parent], (x) => !keepOther(x), LIST);
  t.same(
    a.filter(([k]) => k.startsWith('card/')).map(([k]) => k),
    [`card/${token(OTHER)}`],
    'child A: the status of its card',
  );
  t.same(
    b.filter(([k]) => k.startsWith('card/')).map(([k]) => k),
    [`card/${token(card(3))}`],
    'child B: the status of its card',
  );
  const parts = (x: [string, unknown][]) => x.filter(([k]) => k.startsWith('recent/')).length;
  t.ok(parts(a) > 0 && parts(a) === parts(b), 'every part of the record in both');
  const childA = ShardEngine.restore(a, {}, LIST);
  const childB = ShardEngine.restore(b, {}, LIST);
  // A report in each child of the other's card finds nothing to do... each of its own, everything.
  t.same(report(childA, OTHER, 'ACTIVE', T0 + 20_000), { held: 0, retro: 0 });
  t.equal(childA.reported.refOfToken(token(card(3))), undefined, "child A does not know child B's card");
  const merged = inheritEntries([[...childA.entries()], [...childB.entries()]], () => true, LIST);
  t.equal(parts(merged), 2 * parts(a), "a merge keeps both parents' parts, numbered apart");
  const m = ShardEngine.restore(merged, {}, LIST);
  t.equal(m.stats().reportedCards, 2, 'and both statuses');
});
