import t from 'tap';
import { randomUUID } from 'node:crypto';
import { scrubPans } from '../src/pan-scrub.js';
import { generateCards } from '../../cardgen/src/generate.js';

const glued = (p: string) => `x${p}y`;
const cards = generateCards({ count: 2_000, seed: 7 }).map((c) => c.cardNumber);

/** Written the ways a PAN reaches free text: whole, in groups of 4, hyphenated. */
const spellings = (pan: string) => [pan, pan.replace(/(\d{4})(?=\d)/g, '$1 '), pan.replace(/(\d{4})(?=\d)/g, '$1-')];

t.test('every generated card number, in any surrounding, comes out masked', async (t) => {
  const contexts = [
    (p: string) => p,
    (p: string) => `card ${p} declined`,
    (p: string) => `{"data":{"card_number":"${p}","amount":12.5}`,
    (p: string) => `{"raw":"{\\"card_number\\":\\"${p}\\",\\"amount\\":1,}"}`,
    glued,
    (p: string) => `ref 42 ${p} 12`,
    (p: string) => `at depth: {"a":[{"b":{"c":"${p}"}}]}`,
  ];
  let checked = 0;
  for (const pan of cards) {
    for (const spelled of spellings(pan)) {
      for (const context of contexts) {
        // Hyphenated and glued to letters it reads as an id (see pan-scrub.ts): left to the next test.
        if (spelled.includes('-') && context === glued) continue;
        const out = scrubPans(context(spelled));
        if (out.replace(/[ -]/g, '').includes(pan)) t.fail(`${pan} readable in ${JSON.stringify(out)}`);
        checked++;
      }
    }
  }
  t.pass(`${checked} texts, no card number readable`);
});

t.test('the masked form keeps the first 6 and last 4 digits and the separators', async (t) => {
  t.equal(scrubPans('card 4111111111111111 ok'), 'card 411111******1111 ok');
  t.equal(scrubPans('4111 1111 1111 1111'), '4111 11** **** 1111');
  t.equal(scrubPans('378282246310005'), '378282*****0005');
});

t.test('numbers that are not card numbers are left alone', async (t) => {
  const keep = [
    'watermarkMs 1796481532094 and 1796481383451', // epoch ms: start with 1
    'seq 49680863294918167771275350703944646009730561683738329090', // a sequence number: 56 digits
    '4111111111111112', // fails Luhn
    '41111111111', // 11 digits
    'amount 4532.12, mcc 5411, 2026-12-05T14:31:50.000Z',
    'uuid 37e3c318-73d9-4ebc-bb48-bd58b4fcbd2e',
  ];
  for (const s of keep) t.equal(scrubPans(s), s, s);
});

t.test('hyphen-joined digit groups inside a word are tried one by one: an id is not a card', async (t) => {
  t.equal(scrubPans('x4111-1111-1111-1111y'), 'x4111-1111-1111-1111y', 'each group alone is no card');
  t.equal(scrubPans('ref-4111111111111111'), 'ref-411111******1111', 'a whole card number in a word still is');
  t.equal(scrubPans('card 4111-1111-1111-1111.'), 'card 4111-11**-****-1111.', 'standing free, joined');
});

t.test('UUIDs are never altered, even with groups of digits that would pass as a card', async (t) => {
  const keep = [
    '5d818ada-2e40-4754-9751-2216ae5ed38b', // 40-4754-9751-2216: 14 digits, Luhn-valid when joined
    'f94ba6bb-dd9d-49bc-85cc-411111111117', // a last group of 12 digits that passes Luhn
    '{"payment_event_ids":["5d818ada-2e40-4754-9751-2216ae5ed38b"]}',
  ];
  for (const s of keep) t.equal(scrubPans(s), s, s);
  let changed = 0;
  for (let i = 0; i < 200_000; i++) {
    const id = randomUUID();
    if (scrubPans(`"${id}"`) !== `"${id}"`) changed++;
  }
  t.equal(changed, 0, '200 000 random UUIDs unchanged');
});

t.test('a number beside a card number does not hide it', async (t) => {
  const out = scrubPans('ids 12 34 4111111111111111 56');
  t.notOk(out.includes('4111111111111111'), out);
});
