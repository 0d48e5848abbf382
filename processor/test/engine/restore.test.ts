import t from 'tap';
import { EngineStateError, ShardEngine, type Emission } from '../../src/engine/index.js';
import { ConfigError } from '../../../common/src/errors.js';
import { MemoryStore, alertsOf, applyStep as apply, card, drainAll, pay, randomScript, ref, rng, summariesOf, toEvent, testCards, token } from './helpers.js';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const script = (seed: number, n: number) => randomScript(seed, n, T0);
const CONFIG = { summaryRangeMs: 60_000 }; // short range: purges happen within the run

t.test('a restore leaves out the panes of cards no longer on the stolen list, and alerts their held payments', async (t) => {
  const e = new ShardEngine();
  const [kept, dropped] = [card(71), card(72)];
  const payments = [pay({ at: T0 + 1_000, card: kept }), pay({ at: T0 + 2_000, card: dropped }), pay({ at: T0 + 3_000, card: dropped })];
  for (const p of payments) e.onPayment(toEvent(p), true, p.at);
  const store = new MemoryStore();
  store.apply(e.takeChanges());
  // The list the processor restarts with no longer holds `dropped`.
  const list = { refOfToken: (t: string) => (t === token(kept) ? ref(kept) : undefined) };
  const restored = ShardEngine.restore(store.map, {}, list);
  t.equal(restored.unlistedPanesAtRestore, 1, "the dropped card's one pane was left out");
  t.same(restored.stats().panes, 1, 'only the listed card has a pane');
  restored.onPayment(toEvent(pay({ at: T0 + 20_000, card: card(73) })), false, T0 + 20_000);
  const out = drainAll(restored, T0 + 20_000);
  t.same(
    alertsOf(out).map((a) => a.data.payment_event_id),
    payments.map((p) => p.id),
    'every held payment is still alerted (stored with its whole card ref)',
  );
  t.same(
    summariesOf(out).map((s) => [s.data.card_token, s.data.payment_count]),
    [[token(kept), 1]],
    'the summaries count the listed card only',
  );
});

t.test('restored at any cut point, the engine continues exactly as an uninterrupted run', async (t) => {
  for (const seed of [5, 6]) {
    const steps = script(seed, 1_500);
    const reference: Emission[] = [];
    const refStore = new MemoryStore();
    const ref = new ShardEngine(CONFIG);
    for (const s of steps) {
      apply(ref, s, reference);
      refStore.apply(ref.takeChanges());
    }
    t.ok(reference.some((e) => e.event_type === 'PAYMENT_ALERT_SUMMARY') && reference.some((e) => e.event_type === 'PAYMENT_ALERT'));
    t.ok(
      reference.some((e) => e.event_type === 'PAYMENT_ALERT' && e.data.clock_ahead_ms !== undefined),
      'with alerts of clocks ahead among them',
    );
    t.ok(
      steps.some((s) => s.kind === 'drain' && s.limit < 4),
      'drains stop mid-boundary',
    );

    const r = rng(seed * 7);
    const cuts = new Set(Array.from({ length: 12 }, () => Math.floor(r() * steps.length)));
    const store = new MemoryStore();
    const out: Emission[] = [];
    let e = new ShardEngine(CONFIG);
    let restores = 0;
    for (const [i, s] of steps.entries()) {
      if (cuts.has(i)) {
        e = ShardEngine.restore(store.map, CONFIG, testCards);
        restores++;
      }
      apply(e, s, out);
      store.apply(e.takeChanges());
    }
    t.equal(restores, cuts.size);
    t.equal(out.length, reference.length, `seed ${seed}: same number of records`);
    t.same(out, reference, `seed ${seed}: same records, same order, same ids after ${restores} restores`);
    t.same([...store.map].sort(), [...refStore.map].sort(), 'and the same stored state');
  }
});

t.test('restoring after every single step changes nothing either', async (t) => {
  const steps = script(8, 600);
  const reference: Emission[] = [];
  const ref = new ShardEngine(CONFIG);
  for (const s of steps) apply(ref, s, reference);
  const store = new MemoryStore();
  const out: Emission[] = [];
  for (const s of steps) {
    const e = ShardEngine.restore(store.map, CONFIG, testCards);
    apply(e, s, out);
    store.apply(e.takeChanges());
  }
  t.same(out, reference);
});

/**
 * Stored entries compared by what they hold: held payments and panes are written in groups (one
 * per window or pane start per commit) and entries() gives one group per window or start, so held
 * payments are compared as each window's payments in order, panes as each card's latest pane of
 * each start; every other entry key by key.
 */
function byContent(entries: Map<string, unknown>): unknown[] {
  const out: Array<[string, unknown]> = [];
  const windows = new Map<string, Array<{ at: number; id: string }>>();
  // Panes: the latest group of each start wins, card by card.
  const panes = new Map<string, unknown>();
  for (const [k, v] of [...entries].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (k.startsWith('panes/')) {
      for (const [c, pane] of Object.entries(v as object)) panes.set(`pane/${c}/${k.split('/')[1]}`, pane);
    }
  }
  out.push(...panes);
  for (const [k, v] of entries) {
    if (k.startsWith('panes/')) continue;
    if (!k.startsWith('win/')) out.push([k, v]);
    else {
      const w = k.split('/')[1]!;
      windows.set(w, [...(windows.get(w) ?? []), ...(v as Array<{ at: number; id: string }>)]);
    }
  }
  for (const [w, held] of windows) out.push([`win/${w}`, held.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

t.test('entries() is the committed state: equal to the store after every commit, and restorable', async (t) => {
  const steps = script(9, 900);
  const reference: Emission[] = [];
  const ref = new ShardEngine(CONFIG);
  for (const s of steps) apply(ref, s, reference);
  const store = new MemoryStore();
  const out: Emission[] = [];
  let e = new ShardEngine(CONFIG);
  let compared = 0;
  for (const [i, s] of steps.entries()) {
    apply(e, s, out);
    store.apply(e.takeChanges());
    if (i % 50 === 49) {
      // Through JSON as a store would; meta is written by takeChanges only once it has moved.
      const snapshot = new Map([...e.entries()].map(([k, v]) => [k, JSON.parse(JSON.stringify(v))]));
      if (!store.map.has('meta')) snapshot.delete('meta');
      t.same(byContent(snapshot), byContent(store.map), `step ${i}: entries() = what was committed`);
      compared++;
      // As a rebuild does: the state written whole replaces the store's, and the engine goes on from it.
      e = ShardEngine.restore(snapshot, CONFIG, testCards);
      store.map.clear();
      for (const [k, v] of snapshot) store.map.set(k, v);
    }
  }
  t.ok(compared >= 15);
  t.same(out, reference, 'an engine restored from its own entries() continues exactly as before');
});

t.test('restore refuses state written with other window sizes, and unknown or corrupt entries', async (t) => {
  const e = new ShardEngine();
  e.onPayment(toEvent(pay({ at: T0 })), true);
  const store = new MemoryStore();
  store.apply(e.takeChanges());
  t.throws(() => ShardEngine.restore(store.map, { summaryEveryMs: 5_000 }, testCards), EngineStateError);
  t.throws(() => ShardEngine.restore([['nope', 1]], {}, testCards), EngineStateError);
  t.throws(() => ShardEngine.restore([['meta', { version: 2 }]], {}, testCards), EngineStateError);
  const group = `panes/${String(T0).padStart(13, '0')}/${String(1).padStart(13, '0')}`;
  const pane = { count: 1, firstMs: T0, lastMs: T0, currencies: { EUR: [1, 100, 100, 100] }, merchants: ['m'], ids: [[T0, 'x']] };
  ref('4111111111111111'); // on the stolen list (testCards)
  t.equal(ShardEngine.restore([[group, { [token('4111111111111111')]: pane }]], {}, testCards).stats().panes, 1, 'a pane group restores');
  t.throws(
    () => ShardEngine.restore([[group, { '4111111111111111': pane }]], {}, testCards),
    EngineStateError,
    'a group keyed by card number (format 2) is refused',
  );
  t.throws(
    () => ShardEngine.restore([[group, { [ref('4111111111111111')]: pane }]], {}, testCards),
    EngineStateError,
    'a group keyed by card ref (format 3) is refused',
  );
  t.throws(() => ShardEngine.restore([[group, {}]], {}, testCards), EngineStateError, 'an empty pane group is refused');
  t.throws(() => ShardEngine.restore([[group, { nocard: pane }]], {}, testCards), EngineStateError, 'a group keyed by something else than cards is refused');
  t.throws(
    () => ShardEngine.restore([[group, { [token('4111111111111111')]: { ...pane, count: 2 } }]], {}, testCards),
    EngineStateError,
    'a malformed pane in a group is refused',
  );
  t.ok(ShardEngine.restore(store.map, {}, testCards), 'the matching configuration restores');
  t.same(ShardEngine.restore([], {}, testCards).watermarkMs, null, 'no entries: a fresh engine');
});

t.test('config defaults are exported and invalid config is rejected with every problem listed', async (t) => {
  const { DEFAULT_ENGINE_CONFIG } = await import('../../src/engine/index.js');
  t.same(DEFAULT_ENGINE_CONFIG, {
    outOfOrdernessMs: 1_000,
    idleTimeoutMs: 5_000,
    idleLagMs: 3_000,
    alertWindowMs: 5_000,
    summaryEveryMs: 10_000,
    summaryRangeMs: 3_600_000,
    maxSummaryIds: 100,
    retroAlertMs: 300_000,
  });
  t.ok(Object.isFrozen(new ShardEngine().config));
  const err = t.throws(() => new ShardEngine({ outOfOrdernessMs: -1, summaryRangeMs: 15_000, maxSummaryIds: 101 })) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.problems.length, 3, err.message);
});
