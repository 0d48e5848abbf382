/**
 * StolenCards answers exactly as a Set of the stolen cards' tokens, by string and by ASCII bytes,
 * whatever its truncated-form filter says, and holds no card number.
 */
import t from 'tap';
import { StolenCards } from '../src/source/stolen-cards.js';
import { CardTokenizer } from '../../common/src/card-token.js';
import { generateCards } from '../../cardgen/src/generate.js';
import { luhnCheckDigit } from '../../common/src/luhn.js';
import { ref, stolenCards, testTokenizer } from './engine/helpers.js';

const rows = generateCards({ count: 100_000, seed: 7, stolenRatio: 0.1 });
const stolen = rows.filter((r) => r.stolen).map((r) => r.cardNumber);
const others = rows.filter((r) => !r.stolen).map((r) => r.cardNumber);
const cards = stolenCards(stolen);

t.test('every stolen card is found, by string and by bytes, with its card ref', async (t) => {
  t.equal(cards.size, new Set(stolen).size);
  let byString = 0;
  let byBytes = 0;
  for (const card of stolen) {
    if (cards.refOf(card) === ref(card)) byString++;
    const bytes = Buffer.from(`xx${card}yy`, 'latin1');
    if (cards.mayHaveAscii(bytes, 2, 2 + card.length) && cards.refOfAscii(bytes, 2, 2 + card.length) === ref(card)) byBytes++;
  }
  t.equal(byString, stolen.length);
  t.equal(byBytes, stolen.length, 'the filter never rules out a stolen card');
});

t.test('no other card is found; the truncated form passes only a few of them on to the HMAC', async (t) => {
  let found = 0;
  let passed = 0;
  for (const card of others) {
    const bytes = Buffer.from(card, 'latin1');
    if (cards.refOf(card) !== undefined || cards.refOfAscii(bytes, 0, card.length) !== undefined) found++;
    if (cards.mayHaveAscii(bytes, 0, card.length)) passed++;
  }
  t.equal(found, 0, 'the token set is the answer even when the truncated form matches');
  t.ok(passed < others.length * 0.01, `${passed} of ${others.length} other cards share a stolen card's first 6, last 4 and length`);
  t.equal(cards.refOf(''), undefined, 'nor the empty string');
  t.equal(stolenCards([]).refOf(stolen[0]!), undefined, 'an empty set finds nothing');
});

t.test('cards that share first 6, last 4 and length are told apart by their tokens', async (t) => {
  // Same truncated form, different middle digits: the filter passes both, the token decides.
  const twin = (middle: string) => {
    const payload = `411111${middle}111`;
    return payload + luhnCheckDigit(payload);
  };
  const a = twin('123456');
  const b = [...Array(10).keys()].map((d) => twin(`12345${d}`)).find((c) => c !== a && c.slice(-4) === a.slice(-4));
  const set = stolenCards([a]);
  t.equal(set.refOf(a), ref(a));
  if (b) {
    t.ok(set.mayHaveAscii(Buffer.from(b, 'latin1'), 0, b.length), 'the truncated form of its twin passes the filter');
    t.equal(set.refOf(b), undefined, 'but its token is not in the set');
  }
  for (const odd of ['x', '12345678901', '12345678901234567890', '4111-1111-1111-1111', 'é'.repeat(16), `${a} `]) {
    t.equal(set.refOf(odd), undefined, `not a card: ${JSON.stringify(odd)}`);
  }
  // U+0131's low byte is the digit 1: read as a byte it would pass for the stolen card.
  t.equal(set.refOf(`${a.slice(0, -1)}\u0131`), undefined, 'a character that is not ASCII is never read as a digit');
});

t.test('the set holds refs, never card numbers, and refuses a list of another key', async (t) => {
  const dump = [...cards.refs()].join('\n');
  t.notOk(
    stolen.some((c) => dump.includes(c)),
    'no stolen card number appears in the refs',
  );
  const other = new CardTokenizer('other-key', 'another-unit-test-key-of-32-bytes!!');
  t.throws(() => new StolenCards(other, [ref(stolen[0]!)]), { code: 'STOLEN_LIST', message: /tokenised with key test-key, this processor has key other-key/ });
  t.throws(() => new StolenCards(testTokenizer, ['4111111111111111']), { code: 'STOLEN_LIST' }, 'a card number is not a card ref');
});

t.test("a ref's route gives back the card's Kinesis hash key to its key's holder only", async (t) => {
  const { hashKeyOf } = await import('../src/engine/codec.js');
  for (const card of stolen.slice(0, 200)) t.equal(cards.hashKeyOf(ref(card)), hashKeyOf(card));
  t.end();
});

t.test('a card given twice is one card; a table where many cards share truncated forms still answers exactly', async (t) => {
  t.equal(stolenCards([stolen[0]!, stolen[0]!]).size, 1);
  // 2 000 cards of one BIN and length whose last 4 digits take 10 values: ~200 share each
  // truncated form, so the filter passes every one and the token decides.
  const same: string[] = [];
  for (let m = 0; m < 2_000; m++) {
    const payload = `411111${String(m).padStart(5, '0')}111`;
    same.push(payload + luhnCheckDigit(payload));
  }
  const half = stolenCards(same.filter((_, i) => i % 2 === 0));
  let wrong = 0;
  same.forEach((c, i) => {
    if ((half.refOf(c) === ref(c)) !== (i % 2 === 0) || (i % 2 === 1 && half.refOf(c) !== undefined)) wrong++;
  });
  t.equal(wrong, 0, `${same.length} neighbours, half of them stolen`);
});

t.test('the set gives back exactly the refs it was built from, from its typed arrays', async (t) => {
  const refs = stolen.map((c) => ref(c));
  const back = [...cards.refs()];
  t.equal(back.length, new Set(refs).size);
  t.same(new Set(back), new Set(refs), 'every ref, byte for byte (token, masked form, route, key id)');
  // A ref whose token or route is not canonical base64url (the spare low bits of its last
  // character set) would decode to bytes that encode to another text: refused, not altered.
  const good = refs[0]!;
  const odd = (s: string) => s.slice(0, -1) + (s.at(-1) === 'B' ? 'C' : 'B');
  const [token, masked, route, keyId] = good.split(':') as [string, string, string, string];
  t.throws(() => new StolenCards(testTokenizer, [`${odd(token)}:${masked}:${route}:${keyId}`]), { code: 'STOLEN_LIST' });
  t.throws(() => new StolenCards(testTokenizer, [`${token}:${masked}:${odd(route)}:${keyId}`]), { code: 'STOLEN_LIST' });
  // Masked forms of every length keep their digits, leading zeros included.
  const short = '0123456789012';
  t.equal([...stolenCards([short]).refs()][0], ref(short), 'a 13-digit number starting with 0');
});

t.test('a stored token gives back its card ref, and only its exact text does', async (t) => {
  const r = ref(stolen[3]!);
  const tok = r.slice(0, 43);
  t.equal(cards.refOfToken(tok), r);
  // The last of 43 base64url characters carries 4 bits of the token and 2 spare ones, zero in a
  // canonical token: setting one spells the same bytes differently.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const odd = tok.slice(0, -1) + alphabet[alphabet.indexOf(tok.at(-1)!) + 1];
  t.same(Buffer.from(odd, 'base64url'), Buffer.from(tok, 'base64url'), 'the odd spelling decodes to the same bytes');
  t.equal(cards.refOfToken(odd), undefined, 'but is not the token');
  t.equal(cards.refOfToken(testTokenizer.token(others[0]!)), undefined, 'a token of a card that is not stolen');
  t.equal(cards.refOfToken(tok.slice(1)), undefined, 'a token cut short');
  t.equal(cards.refOfToken(r), undefined, 'a whole card ref is not a token');
});
