/**
 * A stolen card's payment whose clock is ahead of its arrival (engine/prompt.ts): alerted at the
 * next drain, flagged, and nothing else about the shard changes.
 */
import t from 'tap';
import { ShardEngine } from '../../src/engine/index.js';
import { MemoryStore, alertsOf, card, drainAll, pay, pid, summariesOf, toEvent, testCards } from './helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const HOUR = 3_600_000;

t.test('a payment with a clock ahead is alerted at the next drain, flagged, and moves no stream time', async (t) => {
  const e = new ShardEngine();
  const ahead = pay({ id: pid('ahead'), at: T0 + 2 * HOUR, card: card(1) });
  t.same(e.onClockAheadPayment(toEvent(ahead), ahead.at, T0), { status: 'clock_ahead', summarized: false });
  t.equal(e.watermarkMs, null, 'no watermark from it');
  t.ok(e.hasPendingEmissions() && e.holdsAlerts(), 'due at once');
  const [alert, ...rest] = e.drain(10, T0 + 100);
  t.same(rest, [], 'one record');
  t.match(alert, {
    event_type: 'PAYMENT_ALERT',
    data: { payment_event_id: ahead.id, late: false, clock_ahead_ms: 2 * HOUR, window_start: new Date(T0 + 2 * HOUR).toISOString() },
  });
  t.notOk(e.hasPendingEmissions() || e.holdsAlerts(), 'nothing left');

  // The same card's trusted payments go on as if it had never been there.
  const clean = new ShardEngine();
  for (const engine of [e, clean]) {
    for (let i = 0; i < 20; i++) engine.onPayment(toEvent(pay({ id: pid(i), at: T0 + i * 1_000, card: card(1) })), true);
    engine.onIdle({ nowMs: T0 + 60_000, caughtUp: true, lastProgressAtMs: T0 + 20_000 });
  }
  const a = drainAll(e, T0 + 60_000);
  const b = drainAll(clean, T0 + 60_000);
  t.same(a, b, 'same alerts and summaries, in the same order, as an engine that never saw it');
  t.ok(
    summariesOf(a).every((s) => !s.data.payment_event_ids.includes(ahead.id)),
    'in no summary',
  );
  t.equal(e.watermarkMs, clean.watermarkMs);
});

t.test('a second delivery while it waits is not alerted twice; it is stored, restored and deleted', async (t) => {
  const store = new MemoryStore();
  const e = new ShardEngine();
  const ahead = pay({ id: pid('a'), at: T0 + HOUR, card: card(2) });
  e.onClockAheadPayment(toEvent(ahead), ahead.at, T0);
  t.same(e.onClockAheadPayment(toEvent(ahead), ahead.at, T0), { status: 'duplicate', summarized: false });
  store.apply(e.takeChanges());
  t.same(
    [...store.map.keys()].filter((k) => k.startsWith('prompt/')),
    [`prompt/${String(T0).padStart(13, '0')}/${ahead.id}`],
  );
  const restored = ShardEngine.restore(store.map, {}, testCards);
  const out = alertsOf(restored.drain(10, T0));
  t.equal(out.length, 1, 'the restored engine alerts it once');
  t.equal(out[0]?.data.clock_ahead_ms, HOUR);
  store.apply(restored.takeChanges());
  t.notOk(
    [...store.map.keys()].some((k) => k.startsWith('prompt/')),
    'and its key is gone once drained',
  );
});

t.test('a replay (skipDue) drops them: the previous owner alerted them', async (t) => {
  const e = new ShardEngine();
  e.onClockAheadPayment(toEvent(pay({ id: pid('s'), at: T0 + HOUR, card: card(3) })), T0 + HOUR, T0);
  e.skipDue();
  t.same(e.drain(10, T0), []);
});
