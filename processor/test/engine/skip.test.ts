import t from 'tap';
import { ShardEngine } from '../../src/engine/index.js';
import { MemoryStore, card, drainAll, pay, rng, toEvent, testCards } from './helpers.js';

t.test('skipDue leaves the same state as draining everything due, at every step', async (t) => {
  const random = rng(42);
  const drained = new ShardEngine();
  const skipped = new ShardEngine();
  const a = new MemoryStore();
  const b = new MemoryStore();
  const start = 1_700_000_000_000;
  let now = start;
  let mismatches = 0;
  let summariesSkipped = 0;
  for (let step = 0; step < 400; step++) {
    // Mostly forward in time, some disorder, some late payments, some duplicates, some idle gaps.
    now += Math.floor(random() * 2_000);
    if (random() < 0.05) now += 600_000;
    const at = now - Math.floor(random() * (random() < 0.1 ? 900_000 : 1_500));
    const p = pay({ at, card: card(Math.floor(random() * 30)), amount: Math.round(random() * 10_000) / 100 });
    const stolen = random() < 0.7;
    for (const e of [drained, skipped]) e.onPayment(toEvent(p), stolen);
    if (random() < 0.05) for (const e of [drained, skipped]) e.onPayment(toEvent(p), stolen);
    if (random() < 0.1) for (const e of [drained, skipped]) e.onIdle({ nowMs: now + 10_000, caughtUp: true, lastProgressAtMs: 0 });
    summariesSkipped += drainAll(drained, now).filter((x) => x.event_type === 'PAYMENT_ALERT_SUMMARY').length;
    skipped.skipDue();
    a.apply(drained.takeChanges());
    b.apply(skipped.takeChanges());
    if (JSON.stringify([...a.map].sort()) !== JSON.stringify([...b.map].sort())) mismatches++;
  }
  t.ok(summariesSkipped > 100, `the run made summaries due (${summariesSkipped})`);
  t.equal(mismatches, 0, 'stored state identical after every step');
  t.equal(skipped.hasPendingEmissions(), false, 'nothing left due');
  t.same(drainAll(ShardEngine.restore(b.map, {}, testCards), now), [], 'a restored engine has nothing due either');
});
