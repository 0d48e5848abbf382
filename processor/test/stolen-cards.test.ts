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
    if (cards.mayHaveAscii(bytes, 2, 2 + card.length) && cards.hasAscii(bytes, 2, 2 + card.length)) byBytes++;
  }
  t.equal(byString, stolen.length);
  t.equal(byBytes, stolen.length, 'the filter never rules out a stolen card, and the table has each');
});

t.test('no other card is found; the filter passes only a few of them on to the set', async (t) => {
  let found = 0;
  let passed = 0;
  for (const card of others) {
    const bytes = Buffer.from(card, 'latin1');
    if (cards.has(card) || cards.hasAscii(bytes, 0, card.length)) found++;
    if (cards.mayHaveAscii(bytes, 0, card.length)) passed++;
  }
  t.equal(found, 0, "has() is the set's answer even when the filter passes a card");
  t.ok(passed > 0, `the filter passed ${passed} of ${others.length} other cards on (false positives exist, so the set is what decides)`);
  t.ok(passed < others.length * 0.05, `but only a few: ${passed}`);
  t.notOk(cards.has(''), 'nor the empty string');
  t.notOk(new StolenCards([]).has(stolen[0]!), 'an empty set finds nothing');
});

t.test('the exact table tells apart cards that differ only in length, leading zeros or one digit, and keeps odd cards in a set', async (t) => {
  const odd = ['', 'x', '12345678901', '12345678901234567890', '4111-1111-1111-1111', 'é'.repeat(16)];
  const near = [
    '000000000000',
    '0000000000000',
    '100000000000',
    '999999999999',
    '9999999999999999999',
    '0123456789012',
    '123456789012',
    '4111111111111111',
    '4111111111111112',
    '41111111111111110',
  ];
  const set = new StolenCards([...odd, ...near.filter((_, i) => i % 2 === 0)]);
  const wrong: string[] = [];
  for (const card of [...odd, ...near, '1234567890', '0', '4111111111111111 ']) {
    const expected = [...odd, ...near.filter((_, i) => i % 2 === 0)].includes(card);
    const bytes = Buffer.from(`<${card}>`, 'latin1');
    if (set.has(card) !== expected || set.hasAscii(bytes, 1, bytes.length - 1) !== expected) wrong.push(JSON.stringify(card));
  }
  t.same(wrong, [], 'has() and hasAscii() agree with a Set');
  t.equal(set.size, odd.length + 5);
  t.equal(new StolenCards(['4111111111111111', '4111111111111111']).size, 1, 'a card given twice is one card');
  // U+0131's low byte is the digit 1: read as a byte it would pass for the stolen card.
  const lookalike = new StolenCards(['411111111111111\u0131']);
  t.notOk(lookalike.hasAscii(Buffer.from('4111111111111111', 'latin1'), 0, 16), 'a character that is not ASCII is never read as a digit');
  t.ok(lookalike.has('411111111111111\u0131'), 'and the odd card itself is found');
});

t.test('a table fuller than usual (every 12-digit number in a range) still answers exactly', async (t) => {
  const inSet: string[] = [];
  for (let i = 0; i < 50_000; i++) inSet.push(String(100_000_000_000 + i * 2));
  const set = new StolenCards(inSet);
  let wrong = 0;
  for (let i = 0; i < 100_000; i++) {
    const card = String(100_000_000_000 + i);
    if (set.has(card) !== (i % 2 === 0)) wrong++;
    const bytes = Buffer.from(card, 'latin1');
    if (set.hasAscii(bytes, 0, bytes.length) !== (i % 2 === 0)) wrong++;
  }
  t.equal(wrong, 0, '100 000 neighbours, half of them in the set');
});
