import t from 'tap';
import { formatCardsCsv } from '../../common/src/cards-file.js';
import { cardRows, generateCards, MAX_COUNT, stolenCount } from '../src/generate.js';
import { networkOf, type Network } from '../src/networks.js';

/**
 * Written here from the networks' published ranges, not derived from the table under test:
 * prefix and length together, per network.
 */
const PATTERNS: Record<string, RegExp> = {
  visa: /^4(\d{12}|\d{15}|\d{18})$/,
  mastercard: /^(5[1-5]\d{14}|(222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)\d{12})$/,
  amex: /^3[47]\d{13}$/,
  discover: /^(6011\d{12}|64[4-9]\d{13}|65\d{14})$/,
  jcb: /^35(2[89]|[3-8]\d)\d{12}$/,
};

/** A second Luhn implementation, so a bug in common/src/luhn.ts cannot hide here. */
function luhnOk(number: string): boolean {
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = Number(number[number.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

// One large sample shared by the property tests below.
const N = 100_000;
const sample = generateCards({ count: N, stolenRatio: 0.1, seed: 42 });

t.test('every number is Luhn-valid and matches its network by prefix and length', async (t) => {
  t.equal(sample.length, N);
  const bad = sample.filter((c) => !luhnOk(c.cardNumber) || !PATTERNS[c.network]?.test(c.cardNumber));
  t.same(bad.slice(0, 5), [], 'no row fails');
  const misidentified = sample.filter((c) => networkOf(c.cardNumber) !== c.network);
  t.same(misidentified.slice(0, 5), [], 'networkOf agrees with the generator');
});

t.test('every number is unique', async (t) => {
  t.equal(new Set(sample.map((c) => c.cardNumber)).size, N);
});

t.test('network mix and the spread inside networks are close to the stated shares', async (t) => {
  const share = (pred: (n: string, net: string) => boolean, within = sample) => within.filter((c) => pred(c.cardNumber, c.network)).length / within.length;
  // 1 point is more than 5 standard deviations at N = 100 000 for every share here.
  const expected = { visa: 0.52, mastercard: 0.3, amex: 0.08, discover: 0.06, jcb: 0.04 };
  for (const [network, p] of Object.entries(expected)) {
    const got = share((_, net) => net === network);
    t.ok(Math.abs(got - p) < 0.01, `${network}: ${(got * 100).toFixed(2)} % vs ${p * 100} %`);
  }
  const visa = sample.filter((c) => c.network === 'visa');
  t.ok(Math.abs(share((n) => n.length === 19, visa) - 0.02) < 0.005, 'Visa 19-digit ~2 %');
  t.ok(Math.abs(share((n) => n.length === 13, visa) - 0.01) < 0.005, 'Visa 13-digit ~1 %');
  const mc = sample.filter((c) => c.network === 'mastercard');
  t.ok(Math.abs(share((n) => n.startsWith('2'), mc) - 0.15) < 0.015, 'Mastercard 2-series ~15 %');
  const discover = sample.filter((c) => c.network === 'discover');
  t.ok(Math.abs(share((n) => n.startsWith('6011'), discover) - 0.6) < 0.03, 'Discover 6011 ~60 %');
  // Every prefix of the multi-prefix ranges appears (uniform draw inside a range).
  t.equal(new Set(discover.filter((c) => c.cardNumber.startsWith('64')).map((c) => c.cardNumber.slice(0, 3))).size, 6, '644-649');
  t.equal(new Set(sample.filter((c) => c.network === 'jcb').map((c) => c.cardNumber.slice(0, 4))).size, 62, '3528-3589');
  // Free digits are uniform: each digit value takes ~10 % of the positions after the prefix.
  const counts = new Array<number>(10).fill(0);
  let total = 0;
  for (const c of mc) {
    for (const ch of c.cardNumber.slice(4, 15)) {
      counts[Number(ch)]!++;
      total++;
    }
  }
  for (const [digit, n] of counts.entries()) t.ok(Math.abs(n / total - 0.1) < 0.005, `digit ${digit}: ${(n / total).toFixed(4)}`);
});

t.test('exactly round(N x ratio) cards are stolen', async (t) => {
  const known: [number, number, number][] = [
    [1, 0, 0],
    [1, 1, 1],
    [1, 0.5, 1], // round half up
    [1, 0.49, 0],
    [7, 0.5, 4],
    [10, 0.1, 1],
    [1000, 0.1, 100],
    [1000, 0.0005, 1],
    [333, 1 / 3, 111],
  ];
  for (const [count, ratio, stolen] of known) {
    t.equal(stolenCount(count, ratio), stolen, `stolenCount(${count}, ${ratio})`);
    t.equal(generateCards({ count, stolenRatio: ratio, seed: 3 }).filter((c) => c.stolen).length, stolen, `N=${count} ratio=${ratio}`);
  }
  for (const count of [1, 2, 9, 250, 4097]) {
    for (const ratio of [0, 0.01, 0.1, 0.25, 0.5, 0.99, 1]) {
      const got = generateCards({ count, stolenRatio: ratio, seed: count }).filter((c) => c.stolen).length;
      t.equal(got, Math.round(count * ratio), `N=${count} ratio=${ratio}`);
    }
  }
  t.equal(sample.filter((c) => c.stolen).length, 10_000, 'the large sample');
  t.equal(generateCards({ count: 5 }).filter((c) => c.stolen).length, 1, 'default ratio 0.1 (round(0.5) = 1)');
});

t.test('the stolen cards are a uniform choice of positions', async (t) => {
  // Over many seeds every position of 10 is stolen ~30 % of the time at ratio 0.3
  // (2000 runs: one standard deviation is ~1 point, the tolerance 5).
  const runs = 2000;
  const hits = new Array<number>(10).fill(0);
  for (let seed = 0; seed < runs; seed++) {
    generateCards({ count: 10, stolenRatio: 0.3, seed }).forEach((c, i) => {
      if (c.stolen) hits[i]!++;
    });
  }
  for (const [i, h] of hits.entries()) t.ok(Math.abs(h / runs - 0.3) < 0.05, `position ${i}: ${(h / runs).toFixed(3)}`);
});

t.test('same seed gives the same output, another seed another one', async (t) => {
  const a = formatCardsCsv(generateCards({ count: 2000, stolenRatio: 0.2, seed: 9 }));
  const b = formatCardsCsv(generateCards({ count: 2000, stolenRatio: 0.2, seed: 9 }));
  const c = formatCardsCsv(generateCards({ count: 2000, stolenRatio: 0.2, seed: 10 }));
  t.equal(a, b);
  t.not(a, c);
  const numbersOf = (seed: number) => new Set(generateCards({ count: 2000, seed }).map((r) => r.cardNumber));
  const other = numbersOf(10);
  const shared = [...numbersOf(9)].filter((n) => other.has(n));
  t.equal(shared.length, 0, 'different seeds share no numbers');
  const stolenA = generateCards({ count: 2000, stolenRatio: 0.2, seed: 9 }).map((r) => r.stolen);
  const stolenC = generateCards({ count: 2000, stolenRatio: 0.2, seed: 10 }).map((r) => r.stolen);
  t.notSame(stolenA, stolenC, 'different seeds choose different stolen cards');
  t.equal(formatCardsCsv(generateCards({ count: 3, seed: 0 })).split('\n').length, 5, 'seed 0 works');
  t.not(
    formatCardsCsv(generateCards({ count: 50, seed: 0xffff_ffff })),
    formatCardsCsv(generateCards({ count: 50, seed: 0 })),
    'the top seed is not the same stream as 0',
  );
});

t.test('numbers depend only on the seed: ratio and count do not change them', async (t) => {
  const numbers = (count: number, stolenRatio: number) => generateCards({ count, stolenRatio, seed: 5 }).map((r) => r.cardNumber);
  t.same(numbers(500, 0), numbers(500, 1));
  t.same(numbers(1000, 0.1).slice(0, 500), numbers(500, 0.1));
});

t.test('cardRows is lazy and equal to generateCards', async (t) => {
  const it = cardRows({ count: 5, seed: 11 });
  const first = it.next();
  t.notOk(first.done);
  t.same([first.value, ...it], generateCards({ count: 5, seed: 11 }));
  t.same(generateCards({ count: 0 }), []);
});

t.test('bad arguments throw RangeError at the call', async (t) => {
  t.throws(() => cardRows({ count: -1 }), RangeError);
  t.throws(() => cardRows({ count: 1.5 }), RangeError);
  t.throws(() => cardRows({ count: MAX_COUNT + 1 }), /at most/);
  t.throws(() => cardRows({ count: 1, stolenRatio: 1.01 }), /stolenRatio/);
  t.throws(() => cardRows({ count: 1, stolenRatio: Number.NaN }), /stolenRatio/);
  t.throws(() => cardRows({ count: 1, seed: -1 }), /seed/);
  t.throws(() => cardRows({ count: 1, seed: 2 ** 32 }), /seed/);
});

t.test('a count up to the table number space is met exactly; one more is refused', async (t) => {
  // One 10-digit prefix and 12 digits: 1 free digit, so exactly 10 valid numbers.
  const tiny: Network[] = [
    {
      name: 'tiny',
      label: 'Tiny',
      weight: 1,
      ranges: [{ from: '3528000000', to: '3528000000', weight: 1 }],
      lengths: [{ digits: 12, weight: 1 }],
    },
  ];
  const all = generateCards({ count: 10, networks: tiny });
  t.equal(new Set(all.map((c) => c.cardNumber)).size, 10);
  t.ok(all.every((c) => luhnOk(c.cardNumber) && /^3528000000\d\d$/.test(c.cardNumber)));
  t.throws(() => generateCards({ count: 11, networks: tiny }), /larger than the 10 distinct numbers/);
});
