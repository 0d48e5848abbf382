/**
 * The checks compiled from the zod schemas (ajv + zod's own refinement functions) against zod
 * itself: the same accept/reject verdict on many generated valid and invalid values, for every
 * schema of the contract and every refinement in it (Luhn, two decimals, ISO 4217, ISO 3166, real
 * instants), and decodeRecord, which asks the compiled checks first, never disagreeing with zod.
 */
import t from 'tap';
import { z } from 'zod';
import { generateCards } from '../../cardgen/src/generate.js';
import { createPaymentGenerator, seededRandom } from '../../simulator/src/generator.js';
import { compileCheck, jsonSchemaOf, refinementsOf } from '../src/compiled-check.js';
import {
  alertData,
  DATA_SCHEMAS,
  cardStatusData,
  decodeRecordTraced,
  envelope,
  hasAtMostTwoDecimals,
  isKnownCurrency,
  isKnownRegion,
  isKnownType,
  isRealInstant,
  MAX_AMOUNT,
  paymentData,
  rejectedData,
  summaryData,
  type PaymentEvent,
} from '../src/events.js';
import { isLuhnValid, luhnCheckDigit } from '../src/luhn.js';
import { CardTokenizer } from '../src/card-token.js';

const random = seededRandom(16);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const digits = (n: number): string => Array.from({ length: n }, () => int(10)).join('');
const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const YEAR_0 = Date.parse('0000-01-01T00:00:00.000Z');
const YEAR_10000 = Date.parse('9999-12-31T23:59:59.999Z') + 1;

/** Values of the wrong type, for any field. */
const WRONG_TYPES: unknown[] = [null, true, 0, 1.5, -1, '', '1', [], {}, ['x'], { a: 1 }];

// Each generator mixes valid values with ones that break exactly one rule, often only a refinement.
const gen = {
  card(): unknown {
    const n = 10 + int(12);
    const payload = digits(n - 1);
    const r = random();
    if (r < 0.45) return payload + luhnCheckDigit(payload);
    if (r < 0.85) return payload + int(10);
    return pick(['٤١١١١١١١١١١١١١١١', '4111 1111 1111 1111', '4111111111111111\n', 4111111111111111, '-411111111111111']);
  },
  amount(): unknown {
    const r = random();
    if (r < 0.3) return int(10 ** (1 + int(9))) / 100;
    if (r < 0.5) return int(10 ** (1 + int(9))) / 1000;
    if (r < 0.6) return random() * 100;
    return pick([0, -0, -1, 0.01, 0.1 + 0.2, 0.1 + 0.7, 1.005, MAX_AMOUNT, MAX_AMOUNT + 0.01, MAX_AMOUNT + 1, 1e-7, 5e-324, 1e21, '12.5']);
  },
  currency(): unknown {
    const r = random();
    if (r < 0.4) return pick(Intl.supportedValuesOf('currency'));
    if (r < 0.9) return LETTERS[int(26)]! + LETTERS[int(26)]! + LETTERS[int(26)]!;
    return pick(['eur', 'EU', 'EURO', '', 'E€R', 'XTS']);
  },
  country(): unknown {
    if (random() < 0.85) return LETTERS[int(26)]! + LETTERS[int(26)]!;
    return pick(['fr', 'F', 'FRA', '', 'x', 'xyz', 'Fr', 'ÉÉ']);
  },
  instant(): unknown {
    const r = random();
    if (r < 0.35) return new Date(YEAR_0 + int(YEAR_10000 - YEAR_0)).toISOString();
    if (r < 0.85) {
      // The right shape, fields in and around their ranges: days past the month's end, hour 24, ...
      return `${pad(int(10_000), 4)}-${pad(int(14), 2)}-${pad(int(33), 2)}T${pad(int(26), 2)}:${pad(int(62), 2)}:${pad(int(62), 2)}.${pad(int(1000), 3)}Z`;
    }
    return pick([
      '2026-11-27T04:31:34Z',
      '2026-11-27T04:31:34.123+00:00',
      '2026-11-27t04:31:34.123z',
      '+010000-01-01T00:00:00.000Z',
      '2026-11-27 04:31:34.123Z',
      '2026-11-27',
      '',
    ]);
  },
  uuid(): unknown {
    const r = random();
    const version = r < 0.6 ? String(1 + int(8)) : pick([...'09aAfg']);
    const variant = r < 0.6 ? pick([...'89abAB']) : pick([...'07cCfg']);
    const id = `${hex(8)}-${hex(4)}-${version}${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
    if (random() < 0.1)
      return pick([
        '00000000-0000-0000-0000-000000000000',
        'ffffffff-ffff-ffff-ffff-ffffffffffff',
        'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
        id.slice(1),
        id + '0',
      ]);
    return random() < 0.2 ? id.toUpperCase() : id;
  },
  /** Around `max` UTF-16 units; astral characters count two for zod (String#length). */
  text(max: number): unknown {
    const n = Math.max(0, max - 2 + int(4));
    return pick(['x'.repeat(n), 'é'.repeat(n), '😀'.repeat(Math.ceil(n / 2)), 'm-1', '', 'a"b\\c\n']);
  },
  eventType(): unknown {
    return pick([
      'PAYMENT_EVENT',
      'CARD_STATUS_CHANGED',
      'PAYMENT_ALERT',
      'PAYMENT_ALERT_SUMMARY',
      'PAYMENT_EVENT_REJECTED',
      'SOMETHING_ELSE',
      'payment_event',
      'A'.repeat(32),
      'A'.repeat(33),
      '1ABC',
      '',
    ]);
  },
  int(): unknown {
    return pick([1, 2, 100, 0, -1, 1.5, 2 ** 53, 2 ** 53 - 1, 1e21]);
  },
};

/** The generator for a field, by its name; anything else gets a wrong type. */
function valueFor(key: string): unknown {
  if (random() < 0.15) return pick(WRONG_TYPES);
  if (key === 'card_number') return gen.card();
  if (key === 'card_token') return pick([tokenizer.token(String(gen.card())), 'x'.repeat(43), 'x'.repeat(42), `${'x'.repeat(42)}=`, '']);
  if (key === 'card_key_id') return pick(['k1', 'local-1a2b', '-k', 'k'.repeat(65), '']);
  if (key === 'card_masked') return pick(['411111******1111', '411111**1111', '4111111111111111', '411111*******111', '']);
  if (key === 'schema_version') return pick([2, 1, '2', 3]);
  if (key === 'amount') return gen.amount();
  if (key === 'currency') return gen.currency();
  if (key === 'country') return gen.country();
  if (/date_origin|window_|_at$/.test(key)) return gen.instant();
  if (/(^|_)id$/.test(key) && key !== 'merchant_id' && key !== 'shard_id') return gen.uuid();
  if (key === 'merchant_id') return gen.text(64);
  if (key === 'reason') return gen.text(pick([64, 256]));
  if (key === 'reported_by') return gen.text(128);
  if (key === 'status') return pick(['STOLEN', 'ACTIVE', 'stolen', 'LOST', '', 1]);
  if (key === 'retro') return pick([true, false, 'true', 1]);
  if (key === 'merchant_name') return gen.text(256);
  if (key === 'detail') return gen.text(1024);
  if (key === 'mcc') return pick(['5411', '0000', '541', '54111', 'abcd', '٥٤١١', 5411]);
  if (key === 'event_type') return gen.eventType();
  if (/count|_ms$|raw_bytes/.test(key)) return gen.int();
  if (key === 'late' || key === 'raw_truncated') return pick([true, false, 'true', 0]);
  return pick(WRONG_TYPES);
}

/** One change to a copy of `value`: a field replaced, removed or added, at any depth. */
function mutate(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const copy: Record<string, unknown> = Array.isArray(value) ? ([...value] as unknown as Record<string, unknown>) : { ...value };
  const keys = Object.keys(copy);
  const r = random();
  if (keys.length === 0 || r < 0.05) copy[pick(['extra', 'EUR', 'XXX', '__proto__', '0'])] = 1;
  else {
    const key = pick(keys);
    const v = copy[key];
    if (typeof v === 'object' && v !== null && random() < 0.5) copy[key] = mutate(v);
    else if (r < 0.12) delete copy[key];
    else copy[key] = Array.isArray(value) ? gen.uuid() : valueFor(key);
  }
  return copy;
}

const cards = generateCards({ count: 1_000, seed: 16 }).map((c) => c.cardNumber);
const payments = createPaymentGenerator({
  cards,
  random,
  timeRandom: seededRandom(17),
  now: () => Date.now() - int(86_400_000),
  newId: () => crypto.randomUUID(),
});

const tokenizer = new CardTokenizer('k1', 'compiled-check-test-key-of-32-bytes!');

function alert(): unknown {
  const p = payments();
  return {
    schema_version: 2,
    payment_event_id: p.event_id,
    payment_date_origin: p.event_date_origin,
    ...tokenizer.reference(p.data.card_number),
    amount: p.data.amount,
    currency: p.data.currency,
    merchant_id: p.data.merchant_id,
    window_start: p.event_date_origin,
    window_end: p.event_date_origin,
    late: random() < 0.5,
    ...(random() < 0.3 ? { clock_ahead_ms: 1 + int(1e6) } : {}),
    ...(random() < 0.3 ? { retro: true } : {}),
  };
}

function cardStatus(): unknown {
  const p = payments();
  return {
    card_number: p.data.card_number,
    status: pick(['STOLEN', 'ACTIVE']),
    effective_at: p.event_date_origin,
    ...(random() < 0.5 ? { reason: pick(['reported by phone', 'found']) } : {}),
    ...(random() < 0.5 ? { reported_by: 'risk-console' } : {}),
  };
}

function summary(): unknown {
  const p = payments();
  const amounts: Record<string, unknown> = {};
  for (let i = 0, n = 1 + int(3); i < n; i++) amounts[pick(['EUR', 'USD', 'JPY', 'GBP'])] = { count: 1 + int(5), total: 10.5, min: 1, max: 9.5 };
  return {
    schema_version: 2,
    ...tokenizer.reference(p.data.card_number),
    window_start: p.event_date_origin,
    window_end: p.event_date_origin,
    payment_count: 1 + int(50),
    amounts,
    first_payment_at: p.event_date_origin,
    last_payment_at: p.event_date_origin,
    merchant_count: 1 + int(5),
    payment_event_ids: Array.from({ length: pick([0, 1, 5, 99, 100, 101]) }, () => crypto.randomUUID()),
  };
}

function rejected(): unknown {
  return {
    reason: 'bad_data',
    detail: 'amount: must be greater than 0',
    raw: '{}',
    raw_bytes: 2,
    raw_truncated: false,
    shard_id: 'shardId-000000000001',
    sequence_number: '4959',
  };
}

interface Tally {
  accepted: number;
  rejected: number;
  disagreements: string[];
}

/** Both verdicts on `value`; a disagreement is recorded with the value. */
function compare(check: (v: unknown) => boolean, schema: z.ZodType, value: unknown, tally: Tally): void {
  const compiled = check(value);
  const zod = schema.safeParse(value).success;
  if (compiled !== zod) tally.disagreements.push(`compiled ${compiled}, zod ${zod}: ${JSON.stringify(value)?.slice(0, 300)}`);
  if (zod) tally.accepted++;
  else tally.rejected++;
}

const newTally = (): Tally => ({ accepted: 0, rejected: 0, disagreements: [] });

t.test('every schema of the contract: the compiled check and zod agree on generated values and mutations of them', async (t) => {
  const sources: [string, z.ZodType, () => unknown, number][] = [
    ['envelope', envelope, () => ({ ...payments(), event_type: gen.eventType() }), 4_000],
    ['PAYMENT_EVENT.data', paymentData, () => payments().data, 20_000],
    ['CARD_STATUS_CHANGED.data', cardStatusData, cardStatus, 4_000],
    ['PAYMENT_ALERT.data', alertData, alert, 6_000],
    ['PAYMENT_ALERT_SUMMARY.data', summaryData, summary, 4_000],
    ['PAYMENT_EVENT_REJECTED.data', rejectedData, rejected, 2_000],
  ];
  for (const [name, schema, make, count] of sources) {
    const check = compileCheck(schema);
    const tally = newTally();
    for (let i = 0; i < count; i++) {
      const valid = make();
      compare(check, schema, valid, tally);
      let v = mutate(valid);
      compare(check, schema, v, tally);
      if (random() < 0.5) compare(check, schema, (v = mutate(v)), tally);
    }
    t.same(tally.disagreements.slice(0, 5), [], `${name}: no disagreement`);
    t.ok(tally.accepted > count && tally.rejected > count / 2, `${name}: both verdicts exercised (${tally.accepted} accepted, ${tally.rejected} rejected)`);
  }
});

t.test('each refinement, exhaustively or densely, where it alone decides', async (t) => {
  const check = compileCheck(paymentData);
  const checkEnvelope = compileCheck(envelope);
  const base = payments();
  const data = (over: Record<string, unknown>) => ({ ...base.data, ...over });
  const tally = newTally();
  const flips = { luhn: 0, decimals: 0, currency: 0, country: 0, instant: 0 };
  // Luhn: every check digit of payloads of every allowed length and just outside.
  for (let n = 11; n <= 20; n++) {
    for (let k = 0; k < 60; k++) {
      const payload = digits(n - 1);
      for (let d = 0; d < 10; d++) {
        const card = payload + d;
        if (/^\d{12,19}$/.test(card) && !isLuhnValid(card)) flips.luhn++;
        compare(check, paymentData, data({ card_number: card }), tally);
      }
    }
  }
  // At most two decimals: hundredths, thousandths, and binary fractions, across magnitudes.
  for (let k = 0; k < 20_000; k++) {
    const amount = int(10 ** (1 + int(11))) / pick([1, 10, 100, 1000, 10_000, 3, 7, 1024]);
    if (amount > 0 && amount <= MAX_AMOUNT && !hasAtMostTwoDecimals(amount)) flips.decimals++;
    compare(check, paymentData, data({ amount }), tally);
  }
  // Every three-letter code as a currency, every two-letter code as a country.
  for (const a of LETTERS) {
    for (const b of LETTERS) {
      const country = a + b;
      if (!isKnownRegion(country)) flips.country++;
      compare(check, paymentData, data({ country }), tally);
      for (const c of LETTERS) {
        const currency = a + b + c;
        if (!isKnownCurrency(currency)) flips.currency++;
        compare(check, paymentData, data({ currency }), tally);
      }
    }
  }
  // Instants of the right shape, each field in and around its range, in the envelope.
  for (let k = 0; k < 20_000; k++) {
    const stamp = gen.instant() as string;
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(stamp) && !isRealInstant(stamp)) flips.instant++;
    compare(checkEnvelope, envelope, { ...base, event_date_origin: stamp }, tally);
  }
  t.same(tally.disagreements.slice(0, 5), []);
  for (const [rule, n] of Object.entries(flips)) t.ok(n > 100, `${rule}: ${n} values of the right form that only the refinement refuses`);
});

t.test('the refinements the compiled checks run are the functions zod runs', async (t) => {
  const payment = jsonSchemaOf(paymentData) as { properties: Record<string, unknown> };
  t.ok(refinementsOf(payment.properties.card_number).includes(isLuhnValid), 'card_number: isLuhnValid');
  t.ok(refinementsOf(payment.properties.amount).includes(hasAtMostTwoDecimals), 'amount: hasAtMostTwoDecimals');
  t.equal(refinementsOf(payment.properties.amount).length, 4, 'amount: finite, > 0, <= MAX_AMOUNT, two decimals');
  t.ok(refinementsOf(payment.properties.currency).includes(isKnownCurrency), 'currency: isKnownCurrency');
  t.ok(refinementsOf(payment.properties.country).includes(isKnownRegion), 'country: isKnownRegion');
  const env = jsonSchemaOf(envelope) as { properties: Record<string, unknown> };
  t.ok(refinementsOf(env.properties.event_date_origin).includes(isRealInstant), 'event_date_origin: isRealInstant');
  const summ = jsonSchemaOf(summaryData) as { properties: { amounts: { propertyNames: { anyOf: unknown[] } } } };
  t.ok(refinementsOf(summ.properties.amounts.propertyNames.anyOf[1]).includes(isKnownCurrency), 'summary amounts keys: isKnownCurrency');
});

t.test('a "__proto__" key (JSON.parse makes it an own key) is judged as zod judges it: an unknown field of an object, skipped in a record', async (t) => {
  const payment = '"card_number":"4111111111111111","amount":1,"currency":"EUR","merchant_id":"m"';
  const totals = '{"count":1,"total":1,"min":1,"max":1}';
  const summaryWith = (amounts: string) => ({ ...(summary() as object), amounts: JSON.parse(amounts) as unknown });
  const cases: [z.ZodType, unknown][] = [
    [paymentData, JSON.parse(`{${payment},"__proto__":1}`)],
    [paymentData, JSON.parse(`{"__proto__":{"card_number":"x"},${payment}}`)],
    [envelope, { ...payments(), data: JSON.parse('{"__proto__":1}') }],
    [summaryData, summaryWith(`{"__proto__":${totals}}`)],
    [summaryData, summaryWith(`{"__proto__":5,"EUR":${totals}}`)],
    [summaryData, summaryWith(`{"__proto__":5,"EUX":${totals}}`)],
    [summaryData, summaryWith(`{"EUR":${totals.replace('}', ',"__proto__":1}')}}`)],
  ];
  const tally = newTally();
  for (const [schema, value] of cases) compare(compileCheck(schema), schema, value, tally);
  t.same(tally.disagreements, []);
  t.ok(tally.accepted >= 2 && tally.rejected >= 2, `${tally.accepted} accepted, ${tally.rejected} rejected`);
});

t.test('what cannot be compiled faithfully stops the start instead', async (t) => {
  t.throws(() => compileCheck(z.url()), /no pattern/, 'a format ajv would not check');
  t.throws(() => compileCheck(z.string().superRefine(() => undefined)), /only \.refine/, 'a refinement that is not a plain function of the value');
  t.throws(() => compileCheck(z.string().transform((s) => s.length)), 'a transform');
});

/** zod alone, as decodeRecord decided before the compiled checks. */
function zodVerdict(bytes: Uint8Array): boolean {
  const env = envelope.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  if (!env.success) return false;
  const type = env.data.event_type;
  return !isKnownType(type) || DATA_SCHEMAS[type].safeParse(env.data.data).success;
}

t.test('decodeRecord: zod runs only where the compiled checks refuse, and then refuses too', async (t) => {
  const by = { compiled: 0, zod: 0, parse: 0 };
  const wrong: string[] = [];
  const wrap = (event_type: string, data: unknown) => ({
    event_type,
    event_id: crypto.randomUUID(),
    event_date_origin: new Date().toISOString(),
    data,
  });
  const makers = [
    () => payments() as unknown,
    () => wrap('PAYMENT_ALERT', alert()),
    () => wrap('PAYMENT_ALERT_SUMMARY', summary()),
    () => wrap('PAYMENT_EVENT_REJECTED', rejected()),
    () => wrap('SOMETHING_ELSE', { any: 1 }),
  ];
  for (let i = 0; i < 10_000; i++) {
    let value = pick(makers)();
    if (random() < 0.7) value = mutate(value);
    const bytes = Buffer.from(JSON.stringify(value) ?? 'null');
    const r = decodeRecordTraced(bytes);
    by[r.decidedBy]++;
    if (r.decidedBy === 'parse') continue;
    const zod = zodVerdict(bytes);
    if (r.ok !== zod || (r.decidedBy === 'zod') === r.ok) wrong.push(`${r.decidedBy} ${r.ok}, zod ${zod}: ${bytes.toString().slice(0, 300)}`);
  }
  t.same(wrong.slice(0, 5), []);
  t.ok(by.compiled > 3_000 && by.zod > 3_000, `decided by compiled ${by.compiled}, by zod ${by.zod}, before any schema ${by.parse}`);
});

t.test('a payment the compiled check accepts is returned as JSON.parse gave it', async (t) => {
  const p: PaymentEvent = payments();
  const r = decodeRecordTraced(Buffer.from(JSON.stringify(p)));
  t.match(r, { ok: true, decidedBy: 'compiled' });
  if (r.ok) t.same(r.event, p);
});
