/**
 * Alerts first (issue 17): an engine restored with its panes left for later alerts exactly as the
 * whole engine does while the panes come in, emits no summary until they are all in, and then
 * catches up to the very summaries and state of an engine that was never interrupted.
 */
import t from 'tap';
import { EngineStateError, PANE_KEY_PREFIX, ShardEngine, type Emission } from '../../src/engine/index.js';
import { MemoryStore, alertsOf, applyStep, card, drainAll, pay, randomScript, rng, stored, summariesOf, testCards, toEvent, type Step } from './helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const CONFIG = { summaryRangeMs: 60_000 };

/** What an emission says, without the instant it was built at (a summary built later has a later one). */
const content = (e: Emission): string => JSON.stringify({ ...e, event_date_origin: undefined });

/** Restores `state` with its pane groups left out, as a take-over reads a snapshot; returns them too. */
function restoreWithoutPanes(state: Map<string, unknown>): { engine: ShardEngine; panes: Array<[string, unknown]> } {
  const restorer = ShardEngine.restorer(CONFIG, testCards, { panesLater: true });
  const panes: Array<[string, unknown]> = [];
  for (const [key, value] of state) {
    if (key.startsWith(PANE_KEY_PREFIX)) panes.push([key, value]);
    else restorer.add(key, value);
  }
  return { engine: restorer.finish(), panes };
}

/**
 * The cases, per seed: the engine never interrupted (`whole`); one restored at the cut with its
 * panes left for later, taking them in slices, and made whole at `restoredAt` (`later`); and one
 * restored whole at the cut whose output is held back until `restoredAt` (`delayed`): what an
 * uninterrupted engine emits when its summaries are late by the restore, the yardstick for
 * summaries (a late payment that arrives meanwhile counts in a summary emitted after it).
 */
t.test('while its panes restore, the engine alerts as the whole one does; after, its summaries and state are those of a delayed one', async (t) => {
  for (const seed of [5, 6, 11]) {
    const steps: Step[] = randomScript(seed, 1_500, T0);
    const r = rng(seed * 13);
    const cut = 300 + Math.floor(r() * 500);
    const restoredAt = cut + 50 + Math.floor(r() * 250);
    const nowAt = (i: number) => T0 + i * 1_000;

    const whole = new ShardEngine(CONFIG);
    const wholeStore = new MemoryStore();
    const wholeOut: Emission[][] = [];
    let atCut = new Map<string, unknown>();
    for (const [i, s] of steps.entries()) {
      if (i === cut) atCut = new Map(wholeStore.map);
      const out: Emission[] = [];
      applyStep(whole, s, out);
      wholeOut.push(out);
      wholeStore.apply(whole.takeChanges());
    }

    const delayed = ShardEngine.restore(atCut, CONFIG, testCards);
    const delayedStore = new MemoryStore();
    for (const [k, v] of atCut) delayedStore.map.set(k, v);
    const delayedOut: Emission[] = [];
    for (let i = cut; i < steps.length; i++) {
      const s = steps[i]!;
      if (i === restoredAt) delayedOut.push(...drainAll(delayed, nowAt(i)));
      if (s.kind !== 'drain' || i >= restoredAt) applyStep(delayed, s, delayedOut);
      delayedStore.apply(delayed.takeChanges());
    }

    const { engine, panes } = restoreWithoutPanes(atCut);
    t.ok(panes.length > 0 && engine.panesPending, `seed ${seed}: ${panes.length} pane groups left for later`);
    const store = new MemoryStore();
    const laterOut: Emission[][] = steps.map(() => []);
    let given = 0;
    for (let i = cut; i < steps.length; i++) {
      const out = laterOut[i]!;
      if (engine.panesPending && given < panes.length && (r() < 0.2 || i === restoredAt)) {
        const n = i === restoredAt ? panes.length - given : 1 + Math.floor(r() * 3);
        engine.restorePanes(panes.slice(given, given + n));
        given += Math.min(n, panes.length - given);
      }
      if (i === restoredAt) {
        t.equal(given, panes.length);
        engine.panesRestored();
        // The task commits the state stored at the cut with every change since on top, then drains what is due.
        for (const [k, v] of atCut) store.map.set(k, v);
        out.push(...drainAll(engine, nowAt(i)));
      }
      applyStep(engine, steps[i]!, out);
      if (!engine.panesPending) store.apply(engine.takeChanges());
    }

    t.equal(summariesOf(laterOut.slice(cut, restoredAt).flat()).length, 0, 'no summary while panes are missing');
    t.ok(summariesOf(wholeOut.slice(cut, restoredAt).flat()).length > 0, 'while the whole engine emitted some in those steps');

    // Every alert of the whole engine, no later than it sent it.
    const sentAt = new Map<string, number>();
    for (let i = cut; i < steps.length; i++) for (const a of alertsOf(laterOut[i]!)) if (!sentAt.has(content(a))) sentAt.set(content(a), i);
    const wholeAlerts = alertsOf(wholeOut.slice(cut).flat());
    let behind = 0;
    for (let i = cut; i < steps.length; i++) for (const a of alertsOf(wholeOut[i]!)) if ((sentAt.get(content(a)) ?? Infinity) > i) behind++;
    t.equal(behind, 0, `seed ${seed}: each of the whole engine's ${wholeAlerts.length} alerts, at or before its step`);
    // An alert the whole engine did not send is a second delivery of a payment (same event_id as before).
    const wholeSet = new Set(wholeAlerts.map(content));
    const delivered = new Map<string, number>();
    for (const s of steps) if (s.kind === 'pay' && s.stolen) delivered.set(s.p.id, (delivered.get(s.p.id) ?? 0) + 1);
    const extra = alertsOf(laterOut.flat()).filter((a) => !wholeSet.has(content(a)));
    t.ok(
      extra.every((a) => (delivered.get(a.data.payment_event_id) ?? 0) > 1),
      `seed ${seed}: the ${extra.length} other alert(s) are of payments delivered twice`,
    );

    const laterSummaries = summariesOf(laterOut.flat()).map(content).sort();
    t.ok(laterSummaries.length > 0);
    t.same(
      laterSummaries,
      summariesOf(delayedOut).map(content).sort(),
      `seed ${seed}: the delayed engine's ${laterSummaries.length} summaries, none lost, none wrong`,
    );
    const stateOf = (m: Map<string, unknown>) => [...ShardEngine.restore(m, CONFIG, testCards).entries()].map(([k, v]) => [k, stored(v)]);
    t.same(stateOf(store.map), stateOf(delayedStore.map), `seed ${seed}: and its state, restored from what was committed`);
  }
});

t.test('a pane restore is refused where it makes no sense', async (t) => {
  const e = new ShardEngine(CONFIG);
  const p = pay({ at: T0, card: card(3) });
  e.onPayment(toEvent(p), true, p.at);
  const store = new MemoryStore();
  store.apply(e.takeChanges());
  t.throws(() => e.restorePanes([]), EngineStateError, 'none pending on a whole engine');

  const { engine, panes } = restoreWithoutPanes(store.map);
  t.throws(() => engine.takeChanges(), EngineStateError, 'no changes to commit while the state is not whole');
  t.throws(() => [...engine.entries()], EngineStateError, 'nor the state as entries');
  t.throws(() => engine.restorePanes([['meta', {}]]), EngineStateError, 'only pane groups come later');
  t.throws(() => engine.restorePanes([[panes[0]![0], { nope: 1 }]]), EngineStateError, 'checked as any restore checks them');
  engine.restorePanes(panes);
  engine.panesRestored();
  t.notOk(engine.panesPending);
  t.same(engine.stats().panes, 1);
  t.doesNotThrow(() => engine.takeChanges());
});
