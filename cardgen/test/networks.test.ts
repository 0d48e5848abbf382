import t from 'tap';
import { NETWORKS, networkOf, numberSpace, validateNetworks, type Network } from '../src/networks.js';

t.test('default table: the five networks, weights are percentages', async (t) => {
  t.same(
    NETWORKS.map((n) => n.name),
    ['visa', 'mastercard', 'amex', 'discover', 'jcb'],
  );
  t.equal(
    NETWORKS.reduce((s, n) => s + n.weight, 0),
    100,
  );
  t.doesNotThrow(() => validateNetworks(NETWORKS));
  t.ok(Object.isFrozen(NETWORKS) && Object.isFrozen(NETWORKS[0]!.ranges[0]), 'frozen');
});

t.test('networkOf identifies published test numbers', async (t) => {
  const cases: [string, string | undefined][] = [
    ['4111111111111111', 'visa'],
    ['4222222222222', 'visa'], // 13 digits
    ['4000000000000000006', 'visa'], // 19 digits
    ['5555555555554444', 'mastercard'],
    ['5105105105105100', 'mastercard'],
    ['2221000000000009', 'mastercard'],
    ['2720990000000007', 'mastercard'],
    ['378282246310005', 'amex'],
    ['371449635398431', 'amex'],
    ['340000000000009', 'amex'],
    ['6011111111111117', 'discover'],
    ['6445644564456445', 'discover'],
    ['6500000000000002', 'discover'],
    ['3530111333300000', 'jcb'],
    ['3528000000000007', 'jcb'],
    ['3589000000000003', 'jcb'],
  ];
  for (const [number, expected] of cases) t.equal(networkOf(number), expected, number);
});

t.test('networkOf rejects numbers just outside each range or of the wrong length', async (t) => {
  for (const number of [
    '2220990000000000', // below Mastercard 2221
    '2721000000000000', // above 2720
    '5000000000000000', // 50 is not Mastercard
    '5600000000000000', // 56 neither
    '3527000000000000', // below JCB 3528
    '3590000000000000', // above 3589
    '6010000000000000', // next to 6011
    '6430000000000000', // below Discover 644
    '6600000000000000',
    '330000000000000', // 33 is not Amex
    '41111111111111', // Visa with 14 digits
    '37828224631000', // Amex with 14 digits
    '55555555555544440', // Mastercard with 17
    '411111111111111a',
    '',
  ]) {
    t.equal(networkOf(number), undefined, JSON.stringify(number));
  }
});

t.test('numberSpace counts free digits per prefix and length', async (t) => {
  const table: Network[] = [
    {
      name: 'a',
      label: 'A',
      weight: 1,
      ranges: [
        { from: '10', to: '12', weight: 1 }, // 3 prefixes
        { from: '9', to: '9', weight: 0 }, // excluded
      ],
      lengths: [
        { digits: 12, weight: 1 }, // 12 - 2 - 1 = 9 free digits
        { digits: 13, weight: 1 }, // 10 free
      ],
    },
    { name: 'b', label: 'B', weight: 0, ranges: [{ from: '5', to: '5', weight: 1 }], lengths: [{ digits: 12, weight: 1 }] },
  ];
  t.equal(numberSpace(table), 3 * 1e9 + 3 * 1e10);
  t.ok(numberSpace() > 1e17, 'the real table is far larger than any count');
});

t.test('validateNetworks names each problem', async (t) => {
  const base: Network = {
    name: 'x',
    label: 'X',
    weight: 1,
    ranges: [{ from: '4', to: '4', weight: 1 }],
    lengths: [{ digits: 16, weight: 1 }],
  };
  t.throws(() => validateNetworks([]), /no network has a positive weight/);
  t.throws(() => validateNetworks([{ ...base, name: 'Visa' }]), /network name 'Visa'/);
  t.throws(() => validateNetworks([{ ...base, weight: 1.5 }]), /weights must be non-negative integers/);
  t.throws(() => validateNetworks([{ ...base, ranges: [{ from: '22', to: '3', weight: 1 }] }]), /prefix range 22-3/);
  t.throws(() => validateNetworks([{ ...base, ranges: [{ from: '5', to: '4', weight: 1 }] }]), /prefix range 5-4/);
  t.throws(() => validateNetworks([{ ...base, lengths: [{ digits: 20, weight: 1 }] }]), /length 20/);
  t.throws(() => validateNetworks([{ ...base, lengths: [{ digits: 11, weight: 1 }] }]), /length 11/);
  t.throws(() => validateNetworks([{ ...base, ranges: [{ from: '4', to: '4', weight: 0 }] }]), /no prefix range/);
  t.doesNotThrow(() => validateNetworks([base]));
});
