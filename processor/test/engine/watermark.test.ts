import t from 'tap';
import { ShardEngine } from '../../src/engine/index.js';
import { alertsOf, card, drainAll, pay, toEvent } from './helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

t.test('watermark is the highest event time seen minus the out-of-orderness bound', async (t) => {
  const e = new ShardEngine();
  t.equal(e.watermarkMs, null, 'no watermark before any record');
  e.onPayment(toEvent(pay({ at: T0 + 5_000 })), false);
  t.equal(e.watermarkMs, T0 + 4_000);
  e.onPayment(toEvent(pay({ at: T0 + 9_000 })), false);
  t.equal(e.watermarkMs, T0 + 8_000);
  const custom = new ShardEngine({ outOfOrdernessMs: 250 });
  custom.onPayment(toEvent(pay({ at: T0 })), false);
  t.equal(custom.watermarkMs, T0 - 250, 'the bound is configurable');
});

t.test('watermark never moves backwards', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ at: T0 + 9_000 })), false);
  e.onPayment(toEvent(pay({ at: T0 + 2_000 })), true);
  t.equal(e.watermarkMs, T0 + 8_000, 'an older record does not lower it');
  e.onIdle({ nowMs: T0, caughtUp: true, lastProgressAtMs: T0 - 60_000 });
  t.equal(e.watermarkMs, T0 + 8_000, 'an idle advance to an earlier instant does not lower it');
});

t.test('idle caught-up shard advances to now minus IDLE_LAG_MS after IDLE_TIMEOUT_MS', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ at: T0 })), false);
  const lastProgressAtMs = T0 + 200;
  t.notOk(e.onIdle({ nowMs: lastProgressAtMs + 4_999, caughtUp: true, lastProgressAtMs }), 'not before the timeout');
  t.equal(e.watermarkMs, T0 - 1_000);
  t.ok(e.onIdle({ nowMs: lastProgressAtMs + 5_000, caughtUp: true, lastProgressAtMs }), 'exactly at the timeout');
  t.equal(e.watermarkMs, lastProgressAtMs + 5_000 - 3_000);
  t.ok(e.onIdle({ nowMs: lastProgressAtMs + 20_000, caughtUp: true, lastProgressAtMs }));
  t.equal(e.watermarkMs, lastProgressAtMs + 20_000 - 3_000, 'keeps following the wall clock');

  const custom = new ShardEngine({ idleTimeoutMs: 100, idleLagMs: 10 });
  t.ok(custom.onIdle({ nowMs: T0 + 100, caughtUp: true, lastProgressAtMs: T0 }));
  t.equal(custom.watermarkMs, T0 + 90, 'timeout and lag are configurable');
});

t.test('no idle advance while the shard has a backlog', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ at: T0 })), true);
  t.notOk(e.onIdle({ nowMs: T0 + 600_000, caughtUp: false, lastProgressAtMs: T0 }));
  t.equal(e.watermarkMs, T0 - 1_000);
  t.same(drainAll(e, T0 + 600_000), [], 'nothing fires');
});

t.test('idle advance fires windows when the stream goes quiet', async (t) => {
  const e = new ShardEngine();
  const p = pay({ at: T0 + 1_000, card: card(7) });
  e.onPayment(toEvent(p), true);
  t.same(drainAll(e, T0 + 1_000), [], 'held while the window is open');
  e.onIdle({ nowMs: T0 + 8_000, caughtUp: true, lastProgressAtMs: T0 + 1_000 });
  const alerts = alertsOf(drainAll(e, T0 + 8_000));
  t.same(
    alerts.map((a) => a.data.payment_event_id),
    [p.id],
    'now - 3000 = T0 + 5000 reached the window end',
  );
});

t.test('two shard engines keep their own stream time', async (t) => {
  const a = new ShardEngine();
  const b = new ShardEngine();
  const pa = pay({ at: T0 + 100, card: card(1) });
  const pb = pay({ at: T0 + 200, card: card(2) });
  a.onPayment(toEvent(pa), true);
  b.onPayment(toEvent(pb), true);
  a.onPayment(toEvent(pay({ at: T0 + 60_000 })), false);
  t.equal(a.watermarkMs, T0 + 59_000);
  t.equal(b.watermarkMs, T0 - 800, 'b is not moved by a');
  t.same(
    alertsOf(drainAll(a, T0)).map((x) => x.data.payment_event_id),
    [pa.id],
  );
  t.same(drainAll(b, T0), [], "b's window is still open");
  b.onPayment(toEvent(pay({ at: T0 + 6_000, card: card(3) })), false);
  t.same(
    alertsOf(drainAll(b, T0)).map((x) => x.data.payment_event_id),
    [pb.id],
    'b fires on its own watermark',
  );
});
