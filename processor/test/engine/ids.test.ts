import t from 'tap';
import { v5 } from 'uuid';
import { ALERT_ID_NAMESPACE, EventIds, SUMMARY_ID_NAMESPACE, alertEventId, summaryEventId } from '../../src/engine/ids.js';

t.test('ids are pinned: the same names give the same ids as every earlier release, by both paths', async (t) => {
  // Computed by the release before the definition went through uuid's v5: downstream drops
  // duplicates by id, so an id must never change.
  const pinned: Array<[string, () => string, () => string]> = [
    [
      '377609f8-7138-514f-8bba-277f7370aaee',
      () => alertEventId('5f0c9a52-3c1e-4b7a-9a55-0d6f3e2b7c41'),
      () => new EventIds().alert('5f0c9a52-3c1e-4b7a-9a55-0d6f3e2b7c41'),
    ],
    ['f9d42a78-a072-5292-8305-498d98196c84', () => alertEventId('carte-€'), () => new EventIds().alert('carte-€')],
    [
      'decfffe6-a200-53b3-a54e-65da054257d4',
      () => summaryEventId('4111111111111111', Date.UTC(2026, 10, 27, 12, 0, 10)),
      () => new EventIds().summary('4111111111111111', Date.UTC(2026, 10, 27, 12, 0, 10)),
    ],
    [
      '0a6afb0d-3900-54da-ac47-d5c8a952dfa5',
      () => summaryEventId('5500000000000004', '2026-11-27T13:00:00.000Z'),
      () => new EventIds().summary('5500000000000004', '2026-11-27T13:00:00.000Z'),
    ],
  ];
  for (const [id, definition, fast] of pinned) {
    t.equal(definition(), id, `${id}: the definition`);
    t.equal(fast(), id, `${id}: the engine's path`);
  }
});

t.test("a summary id whose name outgrows the hash buffer partway (after the card is written) is still uuid's v5", async (t) => {
  // A fresh object: its buffer has its first size.
  const ids = new EventIds();
  // The card fits the first buffer; the window end, given as a long string, makes it grow.
  for (const [cardLength, endLength] of [
    [16, 300],
    [56, 1_000],
    [19, 20_000],
  ] as const) {
    const c = '4'.repeat(cardLength);
    const end = 'T'.repeat(endLength);
    t.equal(ids.summary(c, end), v5(`${c}/${end}`, SUMMARY_ID_NAMESPACE), `card ${cardLength}, end ${endLength}`);
    t.equal(summaryEventId(c, end), v5(`${c}/${end}`, SUMMARY_ID_NAMESPACE), `card ${cardLength}, end ${endLength}: the definition`);
  }
  const usual = Date.UTC(2026, 10, 27, 12);
  t.equal(ids.summary('4111111111111111', usual), v5(`4111111111111111/${new Date(usual).toISOString()}`, SUMMARY_ID_NAMESPACE), 'and a usual one after them');
  t.equal(ids.alert('abc'), v5('abc', ALERT_ID_NAMESPACE));
});

t.test("two EventIds share nothing: interleaved, each gives uuid's v5", async (t) => {
  const [a, b] = [new EventIds(), new EventIds()];
  for (let i = 0; i < 50; i++) {
    const long = 'y'.repeat(i * 37);
    t.equal(a.alert(long), v5(long, ALERT_ID_NAMESPACE));
    t.equal(b.summary(String(i), long), v5(`${i}/${long}`, SUMMARY_ID_NAMESPACE));
  }
});
