/**
 * A child shard's state from its parents' stored entries (inheritEntries): the held payments and
 * panes of the child's cards only, the two parents of a merge side by side without collisions,
 * and windows stored whole in the earlier format split into held payments.
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
  t.equal(merged.filter(([k]) => k.startsWith('pane/')).length, 3, 'the panes of all three cards');
});

t.test('a split keeps only the held payments and panes of the child\'s cards', async (t) => {
  const ps = [pay({ at: W0 + 10, card: card(1) }), pay({ at: W0 + 20, card: card(2) }), pay({ at: W0 + 30, card: card(1) })];
  const child = inheritEntries([parent(ps)], (c) => c === card(1));
  t.same(alertIdsOf(child), [ps[0]!.id, ps[2]!.id]);
  t.notOk(child.some(([k]) => k.includes(card(2))), 'nothing of the other card');
});

t.test('a parent window stored whole is split into the child\'s held payments', async (t) => {
  const ps = [pay({ at: W0 + 10, card: card(1) }), pay({ at: W0 + 20, card: card(2) })];
  const entries = parent(ps).filter(([k]) => !k.startsWith('win/'));
  const whole = ps.map((p) => ({ id: p.id, at: p.at, origin: new Date(p.at).toISOString(), card: p.card, amount: p.amount, currency: p.currency, merchant: p.merchant, late: false }));
  entries.push([`win/${String(W0).padStart(13, '0')}`, whole]);
  const child = inheritEntries([entries], (c) => c === card(2));
  t.same(child.filter(([k]) => k.startsWith('win/')).map(([k]) => k), [`win/${String(W0).padStart(13, '0')}/${String(ps[1]!.at).padStart(13, '0')}/${ps[1]!.id}`]);
  t.same(alertIdsOf(child), [ps[1]!.id]);
});
