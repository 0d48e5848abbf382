/**
 * The engine's stored state (codec.ts): what is written reads back to the same engine, every entry
 * is checked at restore, a store in another format version is refused, and a child shard's state
 * is cut from its parents' card by card (inheritEntries).
 */
import t from 'tap';
import { EngineStateError, ShardEngine, engineConfig } from '../../src/engine/index.js';
import {
  META_VERSION,
  heldKey,
  inheritEntries,
  paneGroupKey,
  promptKey,
  stateReader,
  type HeldPayment,
  type PromptPayment,
  type StoredPane,
} from '../../src/engine/codec.js';
import { alertsOf, card, drainAll, MemoryStore, pay, pid, ref, rng, stored, toEvent, token, type Pay, testCards } from './helpers.js';

const W0 = 5_000_000 * 5_000; // an epoch-aligned window start (and pane start)
const pad = (n: number) => String(n).padStart(13, '0');
const heldOf = (p: Pay, late = false): HeldPayment => ({
  id: p.id,
  at: p.at,
  origin: new Date(p.at).toISOString(),
  // As stored: the card named by its card ref.
  card: ref(p.card),
  amount: p.amount,
  currency: p.currency,
  merchant: p.merchant,
  late,
});
const paneOf = (p: Pay): StoredPane => ({
  count: 1,
  firstMs: p.at,
  lastMs: p.at,
  currencies: { [p.currency]: [1, p.amount * 100, p.amount * 100, p.amount * 100] },
  merchants: [p.merchant],
  ids: [[p.at, p.id]],
});
const meta = (over: object = {}) => ({
  version: META_VERSION,
  geometry: { alertWindowMs: 5_000, summaryEveryMs: 10_000, summaryRangeMs: 3_600_000 },
  maxEventTimeMs: W0,
  watermarkMs: W0 - 1_000,
  summariesDoneThrough: null,
  summaryCursor: null,
  ...over,
});
/** Every entry of an engine, as a store holds them (JSON), sorted by key. */
const entriesOf = (e: ShardEngine) => [...e.entries()].map(([k, v]): [string, unknown] => [k, stored(v)]).sort(([a], [b]) => (a < b ? -1 : 1));

t.test('round trip: what takeChanges() writes restores an engine with the same entries and the same output', async (t) => {
  const r = rng(16);
  const e = new ShardEngine();
  const store = new MemoryStore();
  for (let i = 0; i < 2_000; i++) {
    const at = W0 + i * 40 - Math.floor(r() * 3_000);
    const p = pay({
      id: pid(`rt${i}`),
      at,
      card: card(Math.floor(r() * 30)),
      amount: Math.floor(r() * 10_000) / 100 + 0.01,
      currency: r() < 0.2 ? 'USD' : 'EUR',
      merchant: `m${Math.floor(r() * 4)}`,
    });
    e.onPayment(toEvent(p), r() < 0.5);
    if (i % 97 === 0) e.onClockAheadPayment(toEvent(pay({ id: pid(`ahead${i}`), at: at + 7_200_000, card: card(3) })), at + 7_200_000, at);
    if (i % 50 === 0) e.drain(7, at);
    if (i % 10 === 0) store.apply(e.takeChanges());
  }
  // One payment with a wrong clock still waiting for its alert.
  e.onClockAheadPayment(toEvent(pay({ id: pid('ahead-last'), at: W0 + 7_300_000, card: card(4) })), W0 + 7_300_000, W0 + 100_000);
  store.apply(e.takeChanges());
  const keys = [...store.map.keys()];
  for (const prefix of ['meta', 'prompt/', 'win/', 'panes/'])
    t.ok(
      keys.some((k) => k.startsWith(prefix)),
      `the store holds ${prefix} entries`,
    );
  const restored = ShardEngine.restore(store.map, {}, testCards);
  t.same(entriesOf(restored), entriesOf(e), 'the restored engine holds exactly what the writer held');
  t.same(restored.takeChanges(), { puts: [], dels: [] }, 'and has nothing to write back');
  const end = { nowMs: W0 + 3 * 3_600_000, caughtUp: true, lastProgressAtMs: 0 };
  e.onIdle(end);
  restored.onIdle(end);
  t.same(drainAll(restored, end.nowMs), drainAll(e, end.nowMs), 'and goes on to emit the same records');
  t.same(ShardEngine.restore(entriesOf(e), {}, testCards).stats(), e.stats(), 'entries() (a state written whole) restores too');
});

t.test('restore validation: every entry takeChanges() cannot have written is refused, naming its key', async (t) => {
  const p = pay({ at: W0 + 7, card: card(1) });
  const cfg = engineConfig();
  const noSink = {
    heldGroup() {},
    pane() {},
    paneOfUnlistedCard() {},
    paneEntry() {},
    prompt() {},
    cardStatus() {},
    reportedRef: () => undefined,
    recent() {},
  };
  const refused = (key: string, value: unknown, why: string) => {
    const err = t.throws(() => stateReader(noSink, cfg, testCards).add(key, value), EngineStateError, why) as Error;
    t.ok(err.message.includes(key), `${why}: the message names ${key}`);
  };
  const wk = heldKey(W0, p);
  const gk = paneGroupKey(W0, 1);
  const prompt: PromptPayment = { ...heldOf(p), arrivalMs: p.at - 7_200_000 };
  // What is accepted, for contrast.
  const accepted = { heldGroup: [] as string[], pane: [] as string[], prompt: [] as string[] };
  const reader = stateReader(
    {
      heldGroup: (k) => accepted.heldGroup.push(k),
      pane: (c) => accepted.pane.push(c),
      paneOfUnlistedCard: () => accepted.pane.push('unlisted'),
      paneEntry() {},
      prompt: (x) => accepted.prompt.push(x.id),
      cardStatus() {},
      reportedRef: () => undefined,
      recent() {},
    },
    cfg,
    testCards,
  );
  reader.add('meta', meta());
  reader.add(wk, [heldOf(p)]);
  reader.add(gk, { [token(p.card)]: paneOf(p) });
  // A card no longer on the stolen list: its pane is well formed, but not restored.
  reader.add(paneGroupKey(W0, 2), { [token(card(99_999))]: paneOf(p) });
  reader.add(promptKey(prompt), prompt);
  t.same(accepted, { heldGroup: [wk], pane: [ref(p.card), 'unlisted'], prompt: [p.id] }, 'well-formed entries are handed on, a pane with its card ref');
  t.same(reader.finish(), meta(), 'and the meta is returned');

  refused('meta', { ...meta(), extra: 1 }, 'a meta with an unknown field');
  refused('meta', meta({ watermarkMs: 'soon' }), 'a meta with a field of the wrong type');
  refused(wk, [], 'an empty held group');
  refused(wk, [{ ...heldOf(p), at: W0 + 5_000 }], 'a held payment outside its window');
  refused(wk, [{ ...heldOf(p), extra: true }], 'a held payment with an unknown field');
  refused(promptKey(prompt), { ...prompt, id: pid('other') }, "a prompt payment whose id is not its key's");
  refused(promptKey(prompt), heldOf(p), 'a prompt payment without its arrival time');
  refused(gk, {}, 'an empty pane group');
  refused(gk, { nocard: paneOf(p) }, 'a pane group keyed by something else than cards');
  refused(gk, { [card(1)]: paneOf(p) }, 'a pane group keyed by card number (format version 2)');
  refused(gk, { [ref(p.card)]: paneOf(p) }, 'a pane group keyed by card ref (format version 3)');
  refused(wk, [{ ...heldOf(p), card: card(1) }], 'a held payment naming its card by number (format version 2)');
  refused(gk, { [token(p.card)]: { ...paneOf(p), count: 2 } }, 'a pane whose ids do not match its count');
  refused(gk, { [token(p.card)]: { ...paneOf(p), ids: [[p.at + 1, p.id]] } }, 'a pane whose first id is not at firstMs');
  refused(gk, { [token(p.card)]: { ...paneOf(p), currencies: { EUR: [1, 1.5, 1, 2] } } }, 'a pane with a fractional total');
  refused(gk, { [token(p.card)]: { ...paneOf(p), merchants: [] } }, 'a pane without a merchant');
  refused(`panes/${pad(W0)}`, { [token(p.card)]: paneOf(p) }, 'a pane key without its group');
  t.throws(() => stateReader(noSink, cfg, testCards).add('nope', 1), EngineStateError, 'an unknown key');
  const other = stateReader(noSink, engineConfig({ alertWindowMs: 10_000 }), testCards);
  t.throws(
    () => stateReader(noSink, cfg, undefined).add(gk, { [token(p.card)]: paneOf(p) }),
    { name: 'EngineStateError', message: /needs the stolen cards/ },
    'panes without the stolen cards to name their cards',
  );
  other.add('meta', meta());
  t.throws(() => other.finish(), { name: 'EngineStateError', message: /other|different/ }, 'a meta written with other window sizes, at finish');
});

t.test('an old store is refused with a clear error: another format version, or keys of an earlier layout', async (t) => {
  // As version 1 (0.1.0) wrote it: the same fields, version 1.
  const v1 = { ...meta(), version: 1 };
  const err = t.throws(() => ShardEngine.restore([['meta', v1]], {}, testCards), EngineStateError) as Error;
  t.match(err.message, /format version 1; this processor reads version 5 only: delete the shard's state/, err.message);
  const v2 = { ...meta(), version: 2 };
  t.throws(
    () => ShardEngine.restore([['meta', v2]], {}, testCards),
    { name: 'EngineStateError', message: /format version 2/ },
    'version 2 (cards by number) is refused: rebuilt',
  );
  t.throws(
    () => ShardEngine.restore([['meta', { ...meta(), version: 3 }]], {}, testCards),
    { name: 'EngineStateError', message: /format version 3/ },
    'version 3 (panes by card ref) is refused: rebuilt',
  );
  t.throws(
    () => ShardEngine.restore([['meta', { ...meta(), version: undefined }]], {}, testCards),
    { name: 'EngineStateError', message: /format version undefined/ },
    'a meta without a version',
  );
  t.throws(
    () => ShardEngine.restore([['meta', { ...meta(), version: 4 }]], {}, testCards),
    { name: 'EngineStateError', message: /format version 4/ },
    'version 4 (no card status) is refused: rebuilt',
  );
  t.throws(
    () => ShardEngine.restore([['meta', { ...meta(), version: 6 }]], {}, testCards),
    { name: 'EngineStateError', message: /format version 6/ },
    'a later version',
  );
  // The earlier layouts version 1 also read: a window stored whole, a held payment or a pane per key.
  const p = pay({ at: W0 + 3, card: card(2) });
  const { id: _id, at: _at, ...perPayment } = heldOf(p);
  t.throws(
    () =>
      ShardEngine.restore(
        [
          ['meta', meta()],
          [`win/${pad(W0)}`, [heldOf(p)]],
        ],
        {},
        testCards,
      ),
    { name: 'EngineStateError', message: /unknown state entry win\// },
    'a window stored whole',
  );
  t.throws(
    () =>
      ShardEngine.restore(
        [
          ['meta', meta()],
          [heldKey(W0, p), perPayment],
        ],
        {},
        testCards,
      ),
    { name: 'EngineStateError', message: /is invalid/ },
    'a held payment under its own key',
  );
  t.throws(
    () =>
      ShardEngine.restore(
        [
          ['meta', meta()],
          [`pane/${p.card}/${pad(W0)}`, paneOf(p)],
        ],
        {},
        testCards,
      ),
    { name: 'EngineStateError', message: /unknown state entry pane\// },
    'a pane under its own key',
  );
  t.equal(ShardEngine.restore([['meta', meta()]], {}, testCards).watermarkMs, W0 - 1_000, 'while the current version restores');
});

/** A parent shard's stored entries after taking in `payments`, all stolen. */
function parent(payments: Pay[], aheadOf: Pay[] = []): Array<[string, unknown]> {
  const e = new ShardEngine();
  for (const p of payments) e.onPayment(toEvent(p), true);
  for (const p of aheadOf) e.onClockAheadPayment(toEvent(p), p.at, p.at - 7_200_000);
  return [...e.entries()];
}

function alertIdsOf(entries: Array<[string, unknown]>): string[] {
  const e = ShardEngine.restore(entries, {}, testCards);
  e.onPayment(toEvent(pay({ at: W0 + 20_000 })), false); // closes the window
  return alertsOf(drainAll(e, 0)).map((a) => a.data.payment_event_id);
}

t.test("a merge keeps both parents' held payments of one window, in event-time order", async (t) => {
  const a = [pay({ at: W0 + 300, card: card(1) }), pay({ at: W0 + 100, card: card(1) })];
  const b = [pay({ at: W0 + 200, card: card(2) }), pay({ at: W0 + 100, card: card(3) })];
  const merged = inheritEntries([parent(a), parent(b)], () => true, testCards);
  const want = [...a, ...b].sort((x, y) => x.at - y.at || (x.id < y.id ? -1 : 1)).map((p) => p.id);
  t.same(alertIdsOf(merged), want, 'every held payment of both parents, once, in order');
  const cards = merged.filter(([k]) => k.startsWith('panes/')).flatMap(([, g]) => Object.keys(g as object));
  t.same(cards.sort(), [card(1), card(2), card(3)].map(token).sort(), 'the panes of all three cards, joined where both parents numbered a group alike');
});

t.test("a merge starts from the slower parent's stream time and summary progress", async (t) => {
  const slow = parent([pay({ at: W0 + 1_000, card: card(1) })]);
  const fast = parent([pay({ at: W0 + 9_000, card: card(2) })]);
  const [, m] = inheritEntries([fast, slow], () => true, testCards).find(([k]) => k === 'meta')!;
  t.match(m, { version: META_VERSION, maxEventTimeMs: W0 + 1_000, watermarkMs: W0, summaryCursor: null });
  const [, one] = inheritEntries([fast], () => true, testCards).find(([k]) => k === 'meta')!;
  t.same(one, fast.find(([k]) => k === 'meta')![1], "a split copies its one parent's meta");
});

t.test("a split keeps only the held payments and panes of the child's cards", async (t) => {
  const ps = [pay({ at: W0 + 10, card: card(1) }), pay({ at: W0 + 20, card: card(2) }), pay({ at: W0 + 30, card: card(1) })];
  const child = inheritEntries([parent(ps)], (c) => c === ref(card(1)), testCards);
  t.same(alertIdsOf(child), [ps[0]!.id, ps[2]!.id]);
  t.notOk(JSON.stringify(child).includes(token(card(2))), 'nothing of the other card, in keys or in groups');
  t.ok(JSON.stringify(child).includes(token(card(1))));
});

t.test('held groups are filtered payment by payment, prompt payments by their card', async (t) => {
  const ps = [pay({ at: W0 + 10, card: card(1) }), pay({ at: W0 + 20, card: card(2) }), pay({ at: W0 + 40, card: card(1) })];
  const ahead = [pay({ at: W0 + 7_200_050, card: card(1) }), pay({ at: W0 + 7_200_060, card: card(2) })];
  const entries = parent(ps, ahead);
  const groupKey = heldKey(W0, ps[0]!);
  t.same(
    entries.filter(([k]) => k.startsWith('win/')),
    [[groupKey, ps.map((p) => heldOf(p))]],
    'the parent holds one group of the three',
  );
  const child2 = inheritEntries([entries], (c) => c === ref(card(2)), testCards);
  t.same(
    child2.filter(([k]) => k.startsWith('win/')),
    [[groupKey, [heldOf(ps[1]!)]]],
    "card 2: its payment of the group, under the group's key",
  );
  t.same(
    child2.filter(([k]) => k.startsWith('prompt/')).map(([, v]) => (v as PromptPayment).id),
    [ahead[1]!.id],
    'and its prompt payment only',
  );
  t.same(alertIdsOf(child2), [ahead[1]!.id, ps[1]!.id]);
  const child1 = inheritEntries([entries], (c) => c === ref(card(1)), testCards);
  t.same(alertIdsOf(child1), [ahead[0]!.id, ps[0]!.id, ps[2]!.id]);
});
