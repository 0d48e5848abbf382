import t from 'tap';
import { performance } from 'node:perf_hooks';
import { ShardEngine } from '../../src/engine/index.js';
import { card, pay, pid, rng, stored, toEvent } from './helpers.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 27, 0, 0, 0);

t.test('a 6-hour watermark jump with 10 000 stolen cards emits exactly the due summaries, visiting only active cards', async (t) => {
  const CARDS = 10_000;
  const r = rng(2026);
  const e = new ShardEngine();
  // One payment per card at a random instant of the hour before the jump, taken in in time order.
  const ats = Array.from({ length: CARDS }, () => T0 + Math.floor(r() * HOUR)).sort((a, b) => a - b);
  ats.forEach((at, i) => e.onPayment(toEvent(pay({ id: pid(`jump${i}`), at, card: card(i) })), true));
  const wmBefore = e.watermarkMs as number;
  let alertsBefore = 0;
  let summariesBefore = 0;
  for (let got; (got = e.drain(10_000, T0 + HOUR)).length > 0;) {
    for (const x of got) x.event_type === 'PAYMENT_ALERT' ? alertsBefore++ : summariesBefore++;
  }
  // The panes are stored in groups (one per pane start and commit), all deleted with their start.
  const paneGroups = e.takeChanges().puts.filter(([k]) => k.startsWith('panes/'));
  // Values as a store holds them (a group is written as JSON text).
  t.equal(
    paneGroups.reduce((n, [, g]) => n + Object.keys(stored(g) as object).length, 0),
    CARDS,
    "every card's pane was stored",
  );

  // Independent count: a payment in pane p is in every boundary T with p + 10 s ≤ T ≤ p + 60 min.
  const doneBefore = Math.floor(wmBefore / 10_000) * 10_000;
  let expectedBefore = 0;
  let expectedAfter = 0;
  for (const at of ats) {
    const p = Math.floor(at / 10_000) * 10_000;
    const firstT = p + 10_000;
    const lastT = p + HOUR;
    expectedBefore += Math.max(0, Math.floor((Math.min(lastT, doneBefore) - firstT) / 10_000) + 1);
    expectedAfter += Math.floor((lastT - Math.max(firstT, doneBefore + 10_000)) / 10_000) + 1;
  }
  t.equal(summariesBefore, expectedBefore, 'summaries due before the jump');

  const now = T0 + HOUR + 6 * HOUR;
  t.ok(e.onIdle({ nowMs: now, caughtUp: true, lastProgressAtMs: T0 + HOUR }), 'the idle shard jumps ~6 hours');
  let summaries = 0;
  let alerts = 0;
  let chunks = 0;
  const started = performance.now();
  for (let got; (got = e.drain(10_000, now)).length > 0; chunks++) {
    for (const x of got) x.event_type === 'PAYMENT_ALERT' ? alerts++ : summaries++;
  }
  const elapsedMs = performance.now() - started;
  const changes = e.takeChanges();

  t.equal(summaries, expectedAfter, 'exactly the summaries computed independently');
  t.equal(alerts + alertsBefore, CARDS, 'one alert per stolen payment overall');
  t.equal(summaries + summariesBefore, CARDS * 360, 'each payment is in 360 summaries in all');
  t.equal(e.summariesDoneThrough, Math.floor((now - 3_000) / 10_000) * 10_000, 'every boundary up to the watermark is done');
  t.equal(e.stats().panes, 0, 'every pane purged');
  t.same(changes.dels.filter((k) => k.startsWith('panes/')).sort(), paneGroups.map(([k]) => k).sort(), 'and every group deleted from the state');
  t.notOk(e.hasPendingEmissions());
  t.comment(
    `6-hour jump: ${summaries} summaries in ${chunks} chunks, ${elapsedMs.toFixed(0)} ms, ` + `${((elapsedMs * 1000) / summaries).toFixed(2)} µs per summary`,
  );

  // The empty boundaries after the data cost nothing: a further 6-hour jump with no data is instant.
  e.onIdle({ nowMs: now + 6 * HOUR, caughtUp: true, lastProgressAtMs: T0 + HOUR });
  const s2 = performance.now();
  t.same(e.drain(10, now + 6 * HOUR), []);
  t.comment(`empty 6-hour jump: ${((performance.now() - s2) * 1000).toFixed(0)} µs`);
  t.equal(e.summariesDoneThrough, Math.floor((now + 6 * HOUR - 3_000) / 10_000) * 10_000);
});
