import t from 'tap';
import { scrubPans } from '../src/pan-scrub.js';
import { generateCards } from '../../cardgen/src/generate.js';

const cards = generateCards({ count: 2_000, seed: 7 }).map((c) => c.cardNumber);

/** Written the ways a PAN reaches free text: whole, in groups of 4, hyphenated. */
const spellings = (pan: string) => [pan, pan.replace(/(\d{4})(?=\d)/g, '$1 '), pan.replace(/(\d{4})(?=\d)/g, '$1-')];

t.test('every generated card number, in any surrounding, comes out masked', async (t) => {
  const contexts = [
    (p: string) => p,
    (p: string) => `card ${p} declined`,
    (p: string) => `{"data":{"card_number":"${p}","amount":12.5}`,
    (p: string) => `{"raw":"{\\"card_number\\":\\"${p}\\",\\"amount\\":1,}"}`,
    (p: string) => `x${p}y`,
    (p: string) => `ref 42 ${p} 12`,
    (p: string) => `at depth: {"a":[{"b":{"c":"${p}"}}]}`,
  ];
  let checked = 0;
  for (const pan of cards) {
    for (const spelled of spellings(pan)) {
      for (const context of contexts) {
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

t.test('a number beside a card number does not hide it', async (t) => {
  const out = scrubPans('ids 12 34 4111111111111111 56');
  t.notOk(out.includes('4111111111111111'), out);
});
