/**
 * A child shard's state from its parents' stored entries (inheritEntries): the held payments and
 * panes of the child's cards only, the two parents of a merge side by side without collisions,
 * and held groups (and both earlier formats) filtered payment by payment.
 */
import t from 'tap';
import { ShardEngine } from '../../src/engine/index.js';
import { inheritEntries } from '../../src/engine/inherit.js';
import { alertsOf, card, drainAll, pay, toEvent, type Pay } from './helpers.js';

const W0 = 5_000_000 * 5_000; // an epoch-aligned window start

function parent(payments: Pay[]): Array<[string, unknown]> {
  const e = new ShardEngine();
  for (const p of payments) e.onPayment(toEvent(p), true);
  return [...e.entries()];
}

function alertIdsOf(entries: Array<[string, unknown]>): string[] {
  const e = ShardEngine.restore(entries);
  e.onPayment(toEvent(pay({ at: W0 + 20_000 })), false); // closes the window
  return alertsOf(drainAll(e, 0)).map((a) => a.data.payment_event_id);
}

t.test('a merge keeps both parents\' held payments of one window, in event-time order', async (t) => {
  const a = [pay({ at: W0 + 300, card: card(1) }), pay({ at: W0 + 100, card: card(1) })];
  const b = [pay({ at: W0 + 200, card: card(2) }), pay({ at: W0 + 100, card: card(3) })];
  const merged = inheritEntries([parent(a), parent(b)], () => true);
  const want = [...a, ...b].sort((x, y) => x.at - y.at || (x.id < y.id ? -1 : 1)).map((p) => p.id);
  t.same(alertIdsOf(merged), want, 'every held payment of both parents, once, in order');
  const cards = merged.filter(([k]) => k.startsWith('panes/')).flatMap(([, g]) => Object.keys(g as object));
  t.same(cards.sort(), [card(1), card(2), card(3)].sort(), 'the panes of all three cards, joined where both parents numbered a group alike');
});

t.test('a split keeps only the held payments and panes of the child\'s cards', async (t) => {
  const ps = [pay({ at: W0 + 10, card: card(1) }), pay({ at: W0 + 20, card: card(2) }), pay({ at: W0 + 30, card: card(1) })];
  const child = inheritEntries([parent(ps)], (c) => c === card(1));
  t.same(alertIdsOf(child), [ps[0]!.id, ps[2]!.id]);
  t.notOk(JSON.stringify(child).includes(card(2)), 'nothing of the other card, in keys or in groups');
  t.ok(JSON.stringify(child).includes(card(1)));
});

t.test('held groups, a window stored whole and a payment under its own key are filtered to the child\'s cards', async (t) => {
  const ps = [pay({ at: W0 + 10, card: card(1) }), pay({ at: W0 + 20, card: card(2) }), pay({ at: W0 + 30, card: card(2) }), pay({ at: W0 + 40, card: card(1) })];
  const pad = (n: number) => String(n).padStart(13, '0');
  const entryOf = (p: Pay) => ({ id: p.id, at: p.at, origin: new Date(p.at).toISOString(), card: p.card, amount: p.amount, currency: p.currency, merchant: p.merchant, late: false });
  const entries = parent(ps).filter(([k]) => !k.startsWith('win/'));
  const wholeKey = `win/${pad(W0)}`;
  const groupKey = `win/${pad(W0)}/${pad(ps[2]!.at)}/${ps[2]!.id}`;
  const perPaymentKey = `win/${pad(W0)}/${pad(ps[3]!.at)}/${ps[3]!.id}`;
  const { id: _id, at: _at, ...stored } = entryOf(ps[3]!);
  entries.push([wholeKey, [entryOf(ps[0]!), entryOf(ps[1]!)]], [groupKey, [entryOf(ps[2]!)]], [perPaymentKey, stored]);
  const child2 = inheritEntries([entries], (c) => c === card(2));
  t.same(child2.filter(([k]) => k.startsWith('win/')), [[wholeKey, [entryOf(ps[1]!)]], [groupKey, [entryOf(ps[2]!)]]], 'card 2: its payment of the whole window, and its group');
  t.same(alertIdsOf(child2), [ps[1]!.id, ps[2]!.id]);
  const child1 = inheritEntries([entries], (c) => c === card(1));
  t.same(child1.filter(([k]) => k.startsWith('win/')), [[wholeKey, [entryOf(ps[0]!)]], [perPaymentKey, stored]], 'card 1: its payment of the whole window, and the one under its own key');
  t.same(alertIdsOf(child1), [ps[0]!.id, ps[3]!.id]);
});
