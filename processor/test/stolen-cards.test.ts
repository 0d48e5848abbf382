/**
 * StolenCards answers exactly as a Set of the same cards, by string and by ASCII bytes, whatever
 * its filter says: a filter hit on a card that is not stolen is settled by the set.
 */
import t from 'tap';
import { StolenCards } from '../src/source/stolen-cards.js';
import { generateCards } from '../../cardgen/src/generate.js';

const rows = generateCards({ count: 200_000, seed: 7, stolenRatio: 0.1 });
const stolen = rows.filter((r) => r.stolen).map((r) => r.cardNumber);
const others = rows.filter((r) => !r.stolen).map((r) => r.cardNumber);
const cards = new StolenCards(stolen);

t.test('every stolen card is found, by string and by bytes', async (t) => {
  t.equal(cards.size, new Set(stolen).size);
  let byString = 0;
  let byBytes = 0;
  for (const card of stolen) {
    if (cards.has(card)) byString++;
    const bytes = Buffer.from(`xx${card}yy`, 'latin1');
    if (cards.mayHaveAscii(bytes, 2, 2 + card.length)) byBytes++;
  }
  t.equal(byString, stolen.length);
  t.equal(byBytes, stolen.length, 'the filter never rules out a stolen card');
});

t.test('no other card is found; the filter passes only a few of them on to the set', async (t) => {
  let found = 0;
  let passed = 0;
  for (const card of others) {
    if (cards.has(card)) found++;
    if (cards.mayHaveAscii(Buffer.from(card, 'latin1'), 0, card.length)) passed++;
  }
  t.equal(found, 0, 'has() is the set\'s answer even when the filter passes a card');
  t.ok(passed > 0, `the filter passed ${passed} of ${others.length} other cards on (false positives exist, so the set is what decides)`);
  t.ok(passed < others.length * 0.05, `but only a few: ${passed}`);
  t.notOk(cards.has(''), 'nor the empty string');
  t.notOk(new StolenCards([]).has(stolen[0]!), 'an empty set finds nothing');
});
