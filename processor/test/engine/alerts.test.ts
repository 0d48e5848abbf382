import t from 'tap';
import { ShardEngine, alertEventId } from '../../src/engine/index.js';
import { alertData } from '../../../common/src/events.js';
import { writeHeldGroup, type HeldPayment } from '../../src/engine/codec.js';
import { JsonWriter } from '../../../common/src/json-writer.js';
import { alertsOf, card, drainAll, pay, pid, ref, rng, stored, testTokenizer, toEvent, type Pay } from './helpers.js';

const K = 5_000_000; // an epoch-aligned window index far from 0
const W = (k: number) => k * 5_000;

t.test('payment at exactly k*5000 belongs to window k, at k*5000-1 to window k-1', async (t) => {
  const e = new ShardEngine();
  const onEdge = pay({ at: W(K), card: card(1) });
  const before = pay({ at: W(K) - 1, card: card(1) });
  e.onPayment(toEvent(before), true);
  e.onPayment(toEvent(onEdge), true);
  e.onPayment(toEvent(pay({ at: W(K + 3) })), false);
  const alerts = alertsOf(drainAll(e, W(K + 3)));
  const byId = new Map(alerts.map((a) => [a.data.payment_event_id, a.data]));
  t.equal(byId.get(onEdge.id)?.window_start, new Date(W(K)).toISOString());
  t.equal(byId.get(onEdge.id)?.window_end, new Date(W(K + 1)).toISOString());
  t.equal(byId.get(before.id)?.window_start, new Date(W(K - 1)).toISOString());
  t.equal(byId.get(before.id)?.window_end, new Date(W(K)).toISOString());
});

t.test('a window fires exactly when the watermark reaches its end', async (t) => {
  const e = new ShardEngine();
  const p = pay({ at: W(K) + 2_500, card: card(1) });
  e.onPayment(toEvent(p), true);
  e.onPayment(toEvent(pay({ at: W(K + 1) + 999 })), false); // watermark = end - 1
  t.equal(e.watermarkMs, W(K + 1) - 1);
  t.notOk(e.hasPendingEmissions());
  t.same(drainAll(e, 0), [], 'not one millisecond early');
  e.onPayment(toEvent(pay({ at: W(K + 1) + 1_000 })), false); // watermark = end
  t.ok(e.hasPendingEmissions());
  const [alert, ...rest] = alertsOf(drainAll(e, 0));
  t.same(rest, []);
  t.equal(alert?.data.payment_event_id, p.id);
  t.equal(alert?.data.late, false);
});

t.test('out-of-order within the bound is held, not late', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ at: W(K + 1) + 999, card: card(2) })), true); // watermark W(K+1) - 1
  const older = pay({ at: W(K) + 100, card: card(1) });
  t.same(e.onPayment(toEvent(older), true), { status: 'held', summarized: true });
  e.onPayment(toEvent(pay({ at: W(K + 3) })), false);
  const alert = alertsOf(drainAll(e, 0)).find((a) => a.data.payment_event_id === older.id);
  t.equal(alert?.data.late, false);
});

t.test('a payment whose window has fired is alerted at once with late: true', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ at: W(K + 1) + 1_000 })), false); // watermark = W(K+1)
  t.same(drainAll(e, 0), []);
  const late = pay({ at: W(K + 1) - 1, card: card(1) });
  t.same(e.onPayment(toEvent(late), true), { status: 'late', summarized: true });
  t.ok(e.hasPendingEmissions(), 'due at once, without any watermark move');
  const [alert] = alertsOf(drainAll(e, 0));
  t.equal(alert?.data.payment_event_id, late.id);
  t.equal(alert?.data.late, true);
  t.equal(alert?.data.window_end, new Date(W(K + 1)).toISOString(), 'still reports its own window');
});

t.test('alerts of a window come in event-time order, ties by payment id', async (t) => {
  const base = W(K);
  const ps = [
    pay({ id: 'a', at: base + 300 }),
    pay({ id: 'b', at: base + 100 }),
    pay({ id: 'c', at: base + 300 }),
    pay({ id: 'd', at: base + 100 }),
    pay({ id: 'e', at: base + 4_999 }),
    // ids descending with arrival: the order must come from the ids, not from arrival
  ].map((p, i) => ({ ...p, id: `00000000-0000-4000-8000-00000000000${9 - i}` }));
  const want = [ps[3], ps[1], ps[2], ps[0], ps[4]].map((p) => p?.id);
  for (const order of [
    [0, 1, 2, 3, 4],
    [4, 3, 2, 1, 0],
    [2, 0, 4, 3, 1],
  ]) {
    const e = new ShardEngine();
    for (const i of order) e.onPayment(toEvent(ps[i]!), true);
    e.onPayment(toEvent(pay({ at: W(K + 2) })), false);
    const got = alertsOf(drainAll(e, 0)).map((a) => a.data.payment_event_id);
    t.same(got, want, `arrival order ${order.join(',')}`);
  }
});

t.test('alert data carries the payment, its window, the creation time and a derived id', async (t) => {
  const e = new ShardEngine();
  const p = pay({ at: W(K) + 42, card: card(9), amount: 12.34, currency: 'USD', merchant: 'shop-9' });
  e.onPayment(toEvent(p), true);
  e.onPayment(toEvent(pay({ at: W(K + 2) })), false);
  const now = W(K + 2) + 777;
  const [alert] = alertsOf(drainAll(e, now));
  t.ok(alert);
  if (!alert) return;
  t.equal(alert.event_id, alertEventId(p.id));
  t.equal(alert.event_date_origin, new Date(now).toISOString(), 'creation moment is the nowMs argument');
  t.same(alert.data, {
    schema_version: 2,
    payment_event_id: p.id,
    payment_date_origin: new Date(p.at).toISOString(),
    ...testTokenizer.reference(p.card),
    amount: 12.34,
    currency: 'USD',
    merchant_id: 'shop-9',
    window_start: new Date(W(K)).toISOString(),
    window_end: new Date(W(K + 1)).toISOString(),
    late: false,
  });
});

t.test('no stolen payment is ever without an alert, and late is exactly "window end <= watermark on arrival"', async (t) => {
  for (const seed of [1, 2, 3]) {
    const r = rng(seed);
    const e = new ShardEngine();
    let maxAt = -Infinity;
    const stolen = new Map<string, boolean>(); // id → expected late flag
    const alerts = [];
    let clock = W(K);
    for (let i = 0; i < 3_000; i++) {
      clock += Math.floor(r() * 400);
      // mostly in order, some within the bound, some far behind
      const jitter = r() < 0.1 ? Math.floor(r() * 20_000) : Math.floor(r() * 1_200);
      const p: Pay = pay({ at: clock - jitter, card: card(Math.floor(r() * 5)) });
      p.id = `${String(seed).padStart(8, '0')}-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const isStolen = r() < 0.5;
      const wm = maxAt - 1_000;
      if (isStolen) stolen.set(p.id, Math.floor(p.at / 5_000) * 5_000 + 5_000 <= wm);
      e.onPayment(toEvent(p), isStolen);
      maxAt = Math.max(maxAt, p.at);
      if (r() < 0.3) alerts.push(...alertsOf(drainAll(e, clock, 7)));
    }
    e.onIdle({ nowMs: clock + 60_000, caughtUp: true, lastProgressAtMs: clock });
    alerts.push(...alertsOf(drainAll(e, clock + 60_000)));
    t.equal(alerts.length, stolen.size, `seed ${seed}: one alert per stolen payment`);
    t.same(new Set(alerts.map((a) => a.data.payment_event_id)), new Set(stolen.keys()));
    t.ok(
      alerts.every((a) => a.data.late === stolen.get(a.data.payment_event_id)),
      `seed ${seed}: late flags match the rule`,
    );
    t.ok(alerts.some((a) => a.data.late) && alerts.some((a) => !a.data.late), 'both kinds occurred');
    t.ok(
      alerts.every((a) => alertData.safeParse(a.data).success),
      'every alert satisfies the schema',
    );
  }
});

t.test('non-stolen payments raise no alert', async (t) => {
  const e = new ShardEngine();
  t.same(e.onPayment(toEvent(pay({ at: W(K) })), false), { status: 'not_stolen', summarized: false });
  e.onPayment(toEvent(pay({ at: W(K + 100) })), false);
  t.same(drainAll(e, 0), []);
});

t.test('held payments are stored in groups, one per window per commit, and deleted when their window fires', async (t) => {
  const e = new ShardEngine();
  const pad = (n: number) => String(n).padStart(13, '0');
  const keyOf = (p: Pay) => `win/${pad(W(K))}/${pad(p.at)}/${p.id}`;
  const entryOf = (p: Pay) => ({
    id: p.id,
    at: p.at,
    origin: new Date(p.at).toISOString(),
    // The card as the engine names it: its card ref, never its number.
    card: ref(p.card),
    amount: p.amount,
    currency: p.currency,
    merchant: p.merchant,
    late: false,
  });
  // As stored: through JSON, as a store reads it back.
  const held = (c: { puts: [string, unknown][] }) => c.puts.filter(([k]) => k.startsWith('win/')).map(([k, v]) => [k, stored(v)]);
  const [p1, p2, p3, p4] = [pay({ at: W(K) + 3 }), pay({ at: W(K) + 1 }), pay({ at: W(K) + 2 }), pay({ at: W(K) + 4 })];
  e.onPayment(toEvent(p1), true);
  e.onPayment(toEvent(p2), true);
  t.same(held(e.takeChanges()), [[keyOf(p2), [entryOf(p2), entryOf(p1)]]], "one group, in emission order, under its first payment's key");
  e.onPayment(toEvent(p3), true);
  e.onPayment(toEvent(p4), true);
  const second = e.takeChanges();
  t.same(held(second), [[keyOf(p3), [entryOf(p3), entryOf(p4)]]], 'the next commit writes only the new payments, as a second group');
  t.same(second.dels, [], 'and leaves the first group alone');
  e.onPayment(toEvent(pay({ at: W(K + 2) })), false);
  t.same(
    alertsOf(e.drain(1, 0)).map((a) => a.data.payment_event_id),
    [p2.id],
  );
  const partway = e.takeChanges();
  t.same(partway.dels, [keyOf(p2)], 'a window fired partway: its group keyed by the fired payment is deleted...');
  t.same(held(partway), [[keyOf(p3), [entryOf(p3), entryOf(p1), entryOf(p4)]]], '...and what is left is written as one group (over the key it reuses)');
  drainAll(e, 0);
  const changes = e.takeChanges();
  t.same(changes.dels, [keyOf(p3)], 'the window fired: its last group is deleted');
  t.same(held(changes), []);
  t.equal(e.stats().pendingAlertWindows, 0);
});

t.test('a held group is stored as exactly JSON.stringify of its payments, whatever their merchant, amount or lateness', async (t) => {
  const merchants = ['m-1', 'shop "quoted"', 'back\\slash', 'ünïcödé', 'line\nbreak', '\u2028sep', ''];
  const amounts = [0.01, 0.1, 12.5, 99.99, 1234.56, 10_000, 999_999.99];
  const group: HeldPayment[] = [];
  for (let i = 0; i < 200; i++) {
    const at = W(K) + i * 37;
    group.push({
      id: pid(`held${i}`),
      at,
      origin: new Date(at).toISOString(),
      card: card(i % 9),
      amount: amounts[i % amounts.length]!,
      currency: ['EUR', 'USD', 'JPY'][i % 3]!,
      merchant: merchants[i % merchants.length]!,
      late: i % 5 === 0,
    });
  }
  const w = new JsonWriter();
  writeHeldGroup(w, group.slice(0, 1));
  const one = w.since(0).toString('utf8');
  const at = w.pos;
  writeHeldGroup(w, group);
  t.equal(one, JSON.stringify(group.slice(0, 1)));
  t.equal(w.since(at).toString('utf8'), JSON.stringify(group), '200 payments');
});
