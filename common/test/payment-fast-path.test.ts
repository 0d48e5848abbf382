import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { generateCards } from '../../cardgen/src/generate.js';
import { createPaymentGenerator, seededRandom, type Random } from '../../simulator/src/generator.js';
import { decodeRecord, type PaymentEvent } from '../src/events.js';
import { luhnCheckDigit } from '../src/luhn.js';
import { fastDecodePayment, PaymentScan } from '../src/payment-fast-path.js';

const cards = generateCards({ count: 2_000, seed: 3 }).map((r) => r.cardNumber);
const utf8 = new TextDecoder('utf-8', { fatal: true });
const YEAR_0 = Date.parse('0000-01-01T00:00:00.000Z');
const YEAR_10000 = Date.parse('9999-12-31T23:59:59.999Z') + 1;
const RECENT = Date.parse('2026-11-27T00:00:00.000Z');

/** A valid UUID of any version and variant zod accepts, from a seeded source so that runs repeat. */
function uuidFrom(random: Random): string {
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(random() * 16)]).join('');
  const version = String(1 + Math.floor(random() * 8));
  const variant = '89ab'[Math.floor(random() * 4)];
  const id = `${hex(8)}-${hex(4)}-${version}${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
  return random() < 0.1 ? id.toUpperCase() : id;
}

/** `count` encoded events of the simulator's generator, stamped across years 0000-9999 or in a recent day. */
function generated(count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const other = seededRandom(seed + 1000);
  const generate = createPaymentGenerator({
    cards,
    random,
    timeRandom: seededRandom(seed + 1),
    now: () => (other() < 0.5 ? YEAR_0 + Math.floor(other() * (YEAR_10000 - YEAR_0)) : RECENT - Math.floor(other() * 86_400_000)),
    newId: () => uuidFrom(other),
  });
  return Array.from({ length: count }, () => JSON.stringify(generate()));
}

interface Tally {
  fast: number;
  general: number;
  failures: string[];
}

/** One reader for the whole file, as the processor keeps one: what it remembers must never show. */
const scan = new PaymentScan();

/**
 * The contract: when the fast path answers, its event is what JSON.parse gives (same keys, order
 * and values), decodeRecord (the general path) accepts the record with the same event, and the
 * time is Date.parse's. When it does not answer, decodeRecord decides alone.
 */
function check(bytes: Uint8Array, tally: Tally, label: string): boolean {
  const fail = (why: string) => tally.failures.push(`${label}: ${why}: ${Buffer.from(bytes).toString('latin1').slice(0, 400)}`);
  const fast = fastDecodePayment(bytes, scan);
  const general = decodeRecord(bytes);
  if (fast === undefined) {
    tally.general++;
    return false;
  }
  tally.fast++;
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch (e) {
    fail(`fast path accepted what JSON.parse refuses (${(e as Error).message})`);
    return true;
  }
  if (JSON.stringify(fast.event) !== JSON.stringify(parsed) || !isDeepStrictEqual(fast.event, parsed)) {
    fail(`fast event ${JSON.stringify(fast.event)} is not JSON.parse's ${JSON.stringify(parsed)}`);
  }
  if (!general.ok) fail(`fast path accepted what the general path rejects (${general.reason}: ${general.detail})`);
  else if (JSON.stringify(general.event) !== JSON.stringify(fast.event)) fail('general event differs');
  const time = Date.parse((parsed as PaymentEvent).event_date_origin);
  if (fast.eventTimeMs !== time) fail(`eventTimeMs ${fast.eventTimeMs} is not Date.parse's ${time}`);
  return true;
}

const newTally = (): Tally => ({ fast: 0, general: 0, failures: [] });

// Text-level mutations of one canonical record.
const INTERESTING_BYTES = [
  0x00, 0x09, 0x0a, 0x1f, 0x20, 0x22, 0x2b, 0x2c, 0x2d, 0x2e, 0x30, 0x31, 0x39, 0x3a, 0x41, 0x45, 0x46, 0x47, 0x5a, 0x5c, 0x5f, 0x61, 0x65, 0x66, 0x67, 0x7a,
  0x7b, 0x7d, 0x7e, 0x7f, 0x80, 0xc3, 0xe9, 0xff,
];
const AMOUNTS = [
  '1e2',
  '1E2',
  '1.0',
  '1.00',
  '1.10',
  '01',
  '-1',
  '-0',
  '1.234',
  '0',
  '0.0',
  '0.00',
  '0.01',
  '0.001',
  '.5',
  '1.',
  '+1',
  '1e-2',
  '100e-2',
  '1.5e0',
  '1000000000',
  '1000000000.00',
  '1000000000.01',
  '999999999.99',
  '10000000000',
  '99999999999',
  '12345678901.5',
  'NaN',
  'null',
  'true',
  '"12.5"',
  '[1]',
  '12 ',
  ' 12',
  '0x10',
  '1_000',
  '9007199254740993',
];
const DATES = [
  '2023-02-29T10:00:00.000Z',
  '2024-02-29T10:00:00.000Z',
  '1900-02-29T00:00:00.000Z',
  '2000-02-29T00:00:00.000Z',
  '2026-04-31T00:00:00.000Z',
  '2026-00-10T00:00:00.000Z',
  '2026-13-10T00:00:00.000Z',
  '2026-01-00T00:00:00.000Z',
  '2026-01-01T24:00:00.000Z',
  '2026-01-01T23:60:00.000Z',
  '2026-01-01T23:59:60.000Z',
  '2026-01-01T23:59:59.999Z',
  '2026-01-01T23:59:59Z',
  '2026-01-01T23:59:59.000z',
  '2026-01-01T23:59:59.000+00:00',
  '0000-01-01T00:00:00.000Z',
  '0000-02-29T00:00:00.000Z',
  '9999-12-31T23:59:59.999Z',
  '+010000-01-01T00:00:00.000Z',
  '1969-12-31T23:59:59.999Z',
  '2026-1-01T00:00:00.000Z',
  '2026-01-01 00:00:00.000Z',
];
const oneOf = <T>(items: readonly T[], random: Random): T => items[Math.floor(random() * items.length)]!;

function mutations(text: string, random: Random): Uint8Array[] {
  const bytes = Buffer.from(text, 'latin1');
  const at = () => Math.floor(random() * bytes.length);
  const out: Uint8Array[] = [];
  for (let k = 0; k < 4; k++) {
    const flipped = Buffer.from(bytes);
    flipped[at()] = random() < 0.7 ? oneOf(INTERESTING_BYTES, random) : Math.floor(random() * 256);
    out.push(flipped);
  }
  const i = at();
  out.push(bytes.subarray(0, i));
  out.push(Buffer.concat([bytes.subarray(0, i), Buffer.from(oneOf([' ', '\t', '\n', '\r'], random)), bytes.subarray(i)]));
  out.push(Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]));
  out.push(Buffer.concat([bytes, Buffer.from(oneOf([' ', '}', '\n', 'x', '\0'], random))]));
  // A character of a string value written as a \u escape: the same JSON value, the fast path must defer.
  const strings = [...text.matchAll(/":"([^"]+)"/g)];
  const s = oneOf(strings, random);
  const j = s.index! + 3 + Math.floor(random() * s[1]!.length);
  out.push(Buffer.from(`${text.slice(0, j)}\\u${text.charCodeAt(j).toString(16).padStart(4, '0')}${text.slice(j + 1)}`));
  out.push(Buffer.from(text.replace(/"amount":[^,]*/, `"amount":${oneOf(AMOUNTS, random)}`)));
  return out;
}

const OBJECT_CHANGES: ((e: PaymentEvent, random: Random) => unknown)[] = [
  (e) => ({ ...e, data: { ...e.data, card_number: e.data.card_number.slice(0, -1) + ((Number(e.data.card_number.slice(-1)) + 1) % 10) } }),
  (e, r) => {
    const payload = e.data.card_number.slice(0, 1) + '0'.repeat(Math.floor(r() * 11) + 9);
    return { ...e, data: { ...e.data, card_number: payload + luhnCheckDigit(payload) } };
  },
  (e) => ({ ...e, data: { ...e.data, card_number: Number(e.data.card_number) } }),
  (e, r) => ({ ...e, data: { ...e.data, amount: Math.floor(r() * 1e11) / 100 } }),
  (e, r) => ({ ...e, data: { ...e.data, amount: Math.floor(r() * 1e6) / 1000 } }),
  (e, r) => ({ ...e, data: { ...e.data, amount: r() * 100 } }),
  (e, r) => ({ ...e, data: { ...e.data, currency: oneOf(['ABC', 'XXX', 'XTS', 'eur', 'EU', 'EURO', 'ZWL', 'VES', ''], r) } }),
  (e, r) => ({ ...e, data: { ...e.data, country: oneOf(['XX', 'ZZ', 'EU', 'UN', 'QO', 'AA', 'XK', 'fr', 'F', 'FRA', '', 'AN'], r) } }),
  (e, r) => ({ ...e, data: { ...e.data, mcc: oneOf(['541', '54111', 'abcd', '٥٤١١', '0000', '9999', ''], r) } }),
  (e, r) => {
    const names = ['Épicerie', 'Café ☕', 'a"b', 'a\\b', 'tab\there', '', 'x'.repeat(256), 'x'.repeat(257), 'del\x7f', '/slash/'];
    return { ...e, data: { ...e.data, merchant_name: oneOf(names, r) } };
  },
  (e, r) => ({ ...e, data: { ...e.data, merchant_id: oneOf(['', 'x'.repeat(64), 'x'.repeat(65), 'é', 'm 1', 'm\n1'], r) } }),
  (e, r) => {
    const id = e.event_id;
    const ids = [
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
      id.toUpperCase(),
      id.replace('-', ''),
      id + '0',
      id.slice(1),
      id.replace(/[0-9a-f]$/i, 'g'),
    ];
    return { ...e, event_id: oneOf(ids, r) };
  },
  (e, r) => {
    // One character of the id, at the version, the variant, a hyphen or the ends.
    const at = oneOf([14, 19, 8, 0, 35], r);
    return { ...e, event_id: e.event_id.slice(0, at) + oneOf([...'0123456789abcdefABCDEFgG-'], r) + e.event_id.slice(at + 1) };
  },
  (e, r) => ({ ...e, event_date_origin: oneOf(DATES, r) }),
  (e, r) => ({ ...e, event_type: oneOf(['PAYMENT_ALERT', 'payment_event', 'SOMETHING_ELSE', 'PAYMENT_EVENT_'], r) }),
  (e, r) => {
    // Drop some fields; optional ones only make the record shorter, required ones make it invalid.
    const data: Record<string, unknown> = { ...e.data };
    for (const k of Object.keys(data)) if (r() < 0.3) delete data[k];
    return { ...e, data };
  },
  (e, r) => {
    const entries = Object.entries(e.data);
    const [a, b] = [Math.floor(r() * entries.length), Math.floor(r() * entries.length)];
    [entries[a], entries[b]] = [entries[b]!, entries[a]!];
    return { ...e, data: Object.fromEntries(entries) };
  },
  (e) => ({ event_id: e.event_id, event_type: e.event_type, event_date_origin: e.event_date_origin, data: e.data }),
  (e) => ({ ...e, extra: 1 }),
  (e) => ({ ...e, data: { ...e.data, extra: 'x' } }),
  (e) => ({ ...e, data: { ...e.data, mcc: 5411 } }),
];

const TEXT_CHANGES: ((s: string) => string)[] = [
  (s) => s.replace('"amount":', '"amount":1,"amount":'),
  (s) => s.replace(/"currency":"[A-Z]+"/, (m) => `${m},"currency":"EUR"`),
  (s) => s.replace(/,"country":"[A-Z]+"/, (m) => `${m}${m}`),
  (s) => s.replace('{"event_type"', '{"event_id":"x","event_type"'),
  (s) => s.replace('}}', '},"data":{}}'),
  (s) => JSON.stringify(JSON.parse(s), null, 1),
  (s) => s.replace(':', ' :'),
  (s) => s + s,
];

t.test('differential: the generator, and mutations of its events', async (t) => {
  const random = seededRandom(99);
  const originals = newTally();
  const mutated = newTally();
  for (const text of generated(5_000, 1)) {
    // Kinesis hands a Uint8Array view; tests also pass Buffers.
    const buf = Buffer.from(text);
    if (!check(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), originals, 'original'))
      originals.failures.push(`not taken by the fast path: ${text}`);
    for (const m of mutations(text, random)) check(m, mutated, 'bytes');
    const event = JSON.parse(text) as PaymentEvent;
    check(Buffer.from(JSON.stringify(oneOf(OBJECT_CHANGES, random)(event, random))), mutated, 'object');
    check(Buffer.from(oneOf(TEXT_CHANGES, random)(text)), mutated, 'text');
  }
  t.same(originals.failures.slice(0, 5), [], 'every generated event is taken by the fast path, with the same result');
  t.equal(originals.fast, 5_000);
  t.same(mutated.failures.slice(0, 5), [], 'no mutation changes an outcome');
  // Both sides must be exercised, or the test proves nothing.
  t.ok(mutated.fast > 2_000, `mutations the fast path took: ${mutated.fast}`);
  t.ok(mutated.general > 30_000, `mutations left to the general path: ${mutated.general}`);
});

t.test('every object change, many times', async (t) => {
  const random = seededRandom(7);
  const texts = generated(300, 2);
  const tally = newTally();
  OBJECT_CHANGES.forEach((change, k) => {
    for (const text of texts) check(Buffer.from(JSON.stringify(change(JSON.parse(text) as PaymentEvent, random))), tally, `change ${k}`);
  });
  t.same(tally.failures.slice(0, 5), []);
  t.ok(tally.fast > 0 && tally.general > 0, `fast ${tally.fast}, general ${tally.general}`);
});

const good = (): PaymentEvent => ({
  event_type: 'PAYMENT_EVENT',
  event_id: '3f0c5a4e-9b1d-4c2e-8f3a-1b2c3d4e5f60',
  event_date_origin: '2026-11-27T04:31:34.123Z',
  data: {
    card_number: '4111111111111111',
    amount: 19.99,
    currency: 'EUR',
    merchant_id: 'mrc-000042',
    merchant_name: 'Blue Market',
    mcc: '5411',
    country: 'FR',
  },
});
const withData = (data: Partial<Record<keyof PaymentEvent['data'], unknown>>) => ({ ...good(), data: { ...good().data, ...data } });
const validCard = (payload: string) => payload + luhnCheckDigit(payload);

t.test('each rule, case by case', async (t) => {
  // [name, record (object or exact text), taken by the fast path]
  const cases: [string, unknown, boolean][] = [
    ['canonical', good(), true],
    ['no optional fields', { ...good(), data: { card_number: '4111111111111111', amount: 5, currency: 'USD', merchant_id: 'm' } }, true],
    ['name only', { ...good(), data: { card_number: '4111111111111111', amount: 5, currency: 'USD', merchant_id: 'm', merchant_name: '' } }, true],
    ['mcc only', { ...good(), data: { card_number: '4111111111111111', amount: 5, currency: 'USD', merchant_id: 'm', mcc: '0000' } }, true],
    ['country only', { ...good(), data: { card_number: '4111111111111111', amount: 5, currency: 'USD', merchant_id: 'm', country: 'JP' } }, true],
    [
      'mcc before name',
      {
        ...good(),
        data: { card_number: '4111111111111111', amount: 5, currency: 'USD', merchant_id: 'm', mcc: '5411', merchant_name: 'x' },
      },
      false,
    ],
    ['missing merchant_id', { ...good(), data: { card_number: '4111111111111111', amount: 5, currency: 'USD' } }, false],
    ['keys reordered', { event_id: good().event_id, event_type: 'PAYMENT_EVENT', event_date_origin: good().event_date_origin, data: good().data }, false],
    ['whitespace', JSON.stringify(good(), null, 2), false],
    ['escape', JSON.stringify(good()).replace('Blue', '\\u0042lue'), false],
    ['non-ASCII name', withData({ merchant_name: 'Épicerie' }), false],
    ['name of 256', withData({ merchant_name: 'n'.repeat(256) }), true],
    ['name of 257', withData({ merchant_name: 'n'.repeat(257) }), false],
    ['merchant_id of 64', withData({ merchant_id: 'm'.repeat(64) }), true],
    ['merchant_id of 65', withData({ merchant_id: 'm'.repeat(65) }), false],
    ['empty merchant_id', withData({ merchant_id: '' }), false],
    [
      'longest fields',
      withData({
        card_number: validCard('4'.repeat(18)),
        amount: 999_999_999.99,
        merchant_id: 'm'.repeat(64),
        merchant_name: 'n'.repeat(256),
      }),
      true,
    ],
    ['Luhn', withData({ card_number: '4111111111111112' }), false],
    ['card of 11', withData({ card_number: validCard('4'.repeat(10)) }), false],
    ['card of 12', withData({ card_number: validCard('4'.repeat(11)) }), true],
    ['card of 19', withData({ card_number: validCard('4'.repeat(18)) }), true],
    ['card of 20', withData({ card_number: validCard('4'.repeat(19)) }), false],
    ['card of 15', withData({ card_number: validCard('37828224631000') }), true],
    ['amount 0.01', withData({ amount: 0.01 }), true],
    ['amount MAX', withData({ amount: 1_000_000_000 }), true],
    ['amount MAX + 0.01', withData({ amount: 1_000_000_000.01 }), false],
    ['amount 0', withData({ amount: 0 }), false],
    ['amount -1', withData({ amount: -1 }), false],
    ['three decimals', withData({ amount: 1.234 }), false],
    ['1.0', JSON.stringify(good()).replace('19.99', '1.0'), true],
    ['1.10', JSON.stringify(good()).replace('19.99', '1.10'), true],
    ['1e2', JSON.stringify(good()).replace('19.99', '1e2'), false],
    ['01', JSON.stringify(good()).replace('19.99', '01'), false],
    ['amount as string', withData({ amount: '19.99' }), false],
    ['unknown currency', withData({ currency: 'ABC' }), false],
    ['lower-case currency', withData({ currency: 'eur' }), false],
    ['JPY', withData({ currency: 'JPY', amount: 1200 }), true],
    ['unknown country', withData({ country: 'XX' }), false],
    ['lower-case country', withData({ country: 'fr' }), false],
    ['mcc of 3', withData({ mcc: '541' }), false],
    ['mcc of letters', withData({ mcc: '54a1' }), false],
    ['Feb 29, non-leap', { ...good(), event_date_origin: '2023-02-29T10:00:00.000Z' }, false],
    ['Feb 29, leap', { ...good(), event_date_origin: '2024-02-29T10:00:00.000Z' }, true],
    ['Feb 29, 1900', { ...good(), event_date_origin: '1900-02-29T10:00:00.000Z' }, false],
    ['Feb 29, 2000', { ...good(), event_date_origin: '2000-02-29T10:00:00.000Z' }, true],
    ['April 31', { ...good(), event_date_origin: '2026-04-31T10:00:00.000Z' }, false],
    ['hour 24', { ...good(), event_date_origin: '2026-04-30T24:00:00.000Z' }, false],
    ['second 60', { ...good(), event_date_origin: '2026-04-30T23:59:60.000Z' }, false],
    ['year 0', { ...good(), event_date_origin: '0000-01-01T00:00:00.000Z' }, true],
    ['year 9999', { ...good(), event_date_origin: '9999-12-31T23:59:59.999Z' }, true],
    ['before 1970', { ...good(), event_date_origin: '1969-12-31T23:59:59.999Z' }, true],
    ['no milliseconds', { ...good(), event_date_origin: '2026-11-27T04:31:34Z' }, false],
    ['UUID version 0', { ...good(), event_id: '3f0c5a4e-9b1d-0c2e-8f3a-1b2c3d4e5f60' }, false],
    ['UUID version 9', { ...good(), event_id: '3f0c5a4e-9b1d-9c2e-8f3a-1b2c3d4e5f60' }, false],
    ['UUID version 8', { ...good(), event_id: '3f0c5a4e-9b1d-8c2e-8f3a-1b2c3d4e5f60' }, true],
    ['UUID variant c', { ...good(), event_id: '3f0c5a4e-9b1d-4c2e-cf3a-1b2c3d4e5f60' }, false],
    ['UUID variant 7', { ...good(), event_id: '3f0c5a4e-9b1d-4c2e-7f3a-1b2c3d4e5f60' }, false],
    ['UUID variant B', { ...good(), event_id: '3F0C5A4E-9B1D-4C2E-BF3A-1B2C3D4E5F60' }, true],
    ['UUID not hex', { ...good(), event_id: '3f0c5a4e-9b1d-4c2e-8f3a-1b2c3d4e5f6g' }, false],
    ['nil UUID', { ...good(), event_id: '00000000-0000-0000-0000-000000000000' }, true],
    ['max UUID', { ...good(), event_id: 'ffffffff-ffff-ffff-ffff-ffffffffffff' }, true],
    ['max UUID, upper case', { ...good(), event_id: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF' }, false],
    ['other type', { ...good(), event_type: 'PAYMENT_ALERT' }, false],
    ['unknown type', { ...good(), event_type: 'SOMETHING_ELSE' }, false],
    ['trailing newline', JSON.stringify(good()) + '\n', false],
    ['duplicate key', JSON.stringify(good()).replace('"amount":', '"amount":1,"amount":'), false],
  ];
  for (const [name, value, taken] of cases) {
    const tally = newTally();
    const fast = check(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), tally, name);
    t.same(tally.failures, [], `${name}: same outcome`);
    t.equal(fast, taken, `${name}: ${taken ? 'taken by' : 'left by'} the fast path`);
  }
});

t.test('amounts: every plain decimal gives the double JSON.parse gives', async (t) => {
  const random = seededRandom(11);
  const text = JSON.stringify(good());
  const tally = newTally();
  for (let i = 0; i < 20_000; i++) {
    const units = String(Math.floor(random() * 10 ** (1 + Math.floor(random() * 10))));
    const decimals = Math.floor(random() * 3);
    const amount = decimals === 0 ? units : `${units}.${String(Math.floor(random() * 10 ** decimals)).padStart(decimals, '0')}`;
    check(Buffer.from(text.replace('19.99', amount)), tally, amount);
  }
  t.same(tally.failures.slice(0, 5), []);
  t.ok(tally.fast > 15_000, `taken: ${tally.fast}`);
});

t.test('the event time is Date.parse of the timestamp', async (t) => {
  const random = seededRandom(5);
  const bad: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const stamp = new Date(YEAR_0 + Math.floor(random() * (YEAR_10000 - YEAR_0))).toISOString();
    const r = fastDecodePayment(Buffer.from(JSON.stringify({ ...good(), event_date_origin: stamp })), scan);
    if (r?.eventTimeMs !== Date.parse(stamp)) bad.push(`${stamp}: ${r?.eventTimeMs}`);
  }
  t.same(bad.slice(0, 5), []);
});

t.test('a day read before is reused only for the same date bytes: a bad time, or a bad date that follows it, is still refused', async (t) => {
  const at = (stamp: string) => fastDecodePayment(Buffer.from(JSON.stringify({ ...good(), event_date_origin: stamp })), scan)?.eventTimeMs;
  // Each case follows a good stamp of the same day, so the day is the one remembered.
  const cases: Array<[string, boolean]> = [
    ['2026-11-27T24:00:00.000Z', false],
    ['2026-11-27T23:60:00.000Z', false],
    ['2026-11-27T23:59:60.000Z', false],
    ['2026-11-27T2x:00:00.000Z', false],
    ['2026-11-27T23:59:59.99xZ', false],
    ['2026-11-2xT10:00:00.000Z', false],
    ['2026-11-37T10:00:00.000Z', false],
    ['2026-11/27T10:00:00.000Z', false],
    ['2026-11-28T10:00:00.000Z', true],
    ['2026-11-27T00:00:00.000Z', true],
    ['2026-11-27T23:59:59.999Z', true],
  ];
  for (const [stamp, valid] of cases) {
    t.equal(at('2026-11-27T12:00:00.000Z'), Date.parse('2026-11-27T12:00:00.000Z'));
    t.equal(at(stamp), valid ? Date.parse(stamp) : undefined, stamp);
  }
  // Days alternating, each a change from the one before.
  const stamps = ['2024-02-29T01:02:03.004Z', '2026-11-27T04:05:06.007Z', '1969-12-31T23:59:59.999Z', '2024-02-29T01:02:03.005Z'];
  t.same(
    stamps.map(at),
    stamps.map((s) => Date.parse(s)),
  );
});

t.test('a record longer than any canonical payment is left alone; no bytes of a previous record are seen', async (t) => {
  const r = fastDecodePayment(Buffer.from(JSON.stringify(good())), scan);
  t.same(r?.event, good());
  // No valid payment is that long (names are capped), but the cap must not be the only guard.
  const tally = newTally();
  t.notOk(check(Buffer.from(JSON.stringify(withData({ merchant_name: 'n'.repeat(2_000) }))), tally, 'huge'));
  t.same(tally.failures, []);
  t.match(decodeRecord(Buffer.from(JSON.stringify(withData({ merchant_name: 'n'.repeat(2_000) })))), { ok: false, reason: 'bad_data' });
  // A record decoded after another must not see the first one's bytes.
  const long = Buffer.from(JSON.stringify(withData({ merchant_name: 'n'.repeat(200) })));
  const short = Buffer.from(JSON.stringify(good()).replace('"country":"FR"}}', '"country":"FR"}'));
  t.ok(fastDecodePayment(long, scan));
  t.equal(fastDecodePayment(short, scan), undefined);
  t.notOk(decodeRecord(short).ok);
});
