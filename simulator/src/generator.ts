/**
 * Payment events, generated purely from an injected random source and clock, so a test (or a
 * `--seed`) gets the same cards, merchants and amounts every time. Event ids and timestamps come
 * from their own sources: ids are random UUID v4s, times are the clock's.
 *
 * The shape of the traffic:
 * - cards: uniform over the cards file;
 * - merchants: a fixed population (drawn once from the seed), chosen with a Zipf-like popularity,
 *   so a few merchants are busy and most are quiet;
 * - each merchant has a country, and its currency is that country's, so EUR, USD and GBP make about
 *   90 % of payments;
 * - amounts are log-normal around a median typical of the merchant's category (MCC), in the
 *   currency's minor units (whole yen, cents elsewhere).
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { v4 as uuidv4 } from 'uuid';
import { MAX_AMOUNT, type CardStatusEvent, type PaymentEvent } from '../../common/src/events.js';
import { LATE_MAX_MS, LATE_MIN_MS, REPORT_BACKDATE_MAX_MS } from './options.js';

export type Random = () => number;

/** A [0, 1) source from a 32-bit seed (xoroshiro128+), reproducible across runs and platforms. */
export function seededRandom(seed: number): Random {
  const rng = xoroshiro128plus(seed | 0);
  return () => uniformFloat64(rng);
}

interface Category {
  mcc: string;
  names: readonly string[];
  /** Median amount in EUR. */
  median: number;
  weight: number;
}

/** Merchant categories: ISO 18245 merchant category codes with a typical ticket size. */
const CATEGORIES: readonly Category[] = [
  { mcc: '5411', names: ['Market', 'Grocery', 'Supermarket'], median: 35, weight: 20 },
  { mcc: '5812', names: ['Bistro', 'Restaurant', 'Brasserie'], median: 40, weight: 12 },
  { mcc: '5814', names: ['Burger', 'Pizza', 'Cafe', 'Bakery'], median: 12, weight: 14 },
  { mcc: '5541', names: ['Fuel', 'Service Station'], median: 60, weight: 8 },
  { mcc: '5912', names: ['Pharmacy'], median: 20, weight: 5 },
  { mcc: '5311', names: ['Department Store'], median: 80, weight: 4 },
  { mcc: '5651', names: ['Clothing', 'Apparel'], median: 70, weight: 6 },
  { mcc: '5732', names: ['Electronics'], median: 250, weight: 3 },
  { mcc: '5942', names: ['Books'], median: 20, weight: 2 },
  { mcc: '4121', names: ['Taxi', 'Rides'], median: 18, weight: 5 },
  { mcc: '4111', names: ['Transit'], median: 3, weight: 5 },
  { mcc: '7011', names: ['Hotel'], median: 180, weight: 3 },
  { mcc: '4511', names: ['Airlines'], median: 400, weight: 1 },
  { mcc: '7832', names: ['Cinema'], median: 15, weight: 2 },
  { mcc: '5999', names: ['Shop', 'Store'], median: 30, weight: 6 },
  { mcc: '5815', names: ['Digital'], median: 10, weight: 4 },
];

interface Currency {
  code: string;
  /** Units of this currency per EUR, roughly. */
  perEur: number;
  /** ISO 4217 minor-unit digits. */
  decimals: number;
}

const CURRENCIES: Record<string, Currency> = {
  EUR: { code: 'EUR', perEur: 1, decimals: 2 },
  USD: { code: 'USD', perEur: 1.1, decimals: 2 },
  GBP: { code: 'GBP', perEur: 0.85, decimals: 2 },
  CHF: { code: 'CHF', perEur: 0.95, decimals: 2 },
  SEK: { code: 'SEK', perEur: 11.5, decimals: 2 },
  PLN: { code: 'PLN', perEur: 4.3, decimals: 2 },
  JPY: { code: 'JPY', perEur: 160, decimals: 0 },
  CAD: { code: 'CAD', perEur: 1.5, decimals: 2 },
  AUD: { code: 'AUD', perEur: 1.65, decimals: 2 },
};

/** Merchant countries (ISO 3166-1 alpha-2), their currency and share of merchants in %. */
const COUNTRIES: readonly { country: string; currency: string; weight: number }[] = [
  { country: 'FR', currency: 'EUR', weight: 14 },
  { country: 'DE', currency: 'EUR', weight: 14 },
  { country: 'ES', currency: 'EUR', weight: 8 },
  { country: 'IT', currency: 'EUR', weight: 8 },
  { country: 'NL', currency: 'EUR', weight: 5 },
  { country: 'BE', currency: 'EUR', weight: 3 },
  { country: 'IE', currency: 'EUR', weight: 2 },
  { country: 'PT', currency: 'EUR', weight: 2 },
  { country: 'US', currency: 'USD', weight: 20 },
  { country: 'GB', currency: 'GBP', weight: 14 },
  { country: 'CH', currency: 'CHF', weight: 2 },
  { country: 'SE', currency: 'SEK', weight: 2 },
  { country: 'PL', currency: 'PLN', weight: 2 },
  { country: 'JP', currency: 'JPY', weight: 2 },
  { country: 'CA', currency: 'CAD', weight: 1 },
  { country: 'AU', currency: 'AUD', weight: 1 },
];

const NAME_WORDS = [
  'Blue',
  'Golden',
  'Corner',
  'Royal',
  'Green',
  'City',
  'Harbour',
  'Old Town',
  'Sunny',
  'North',
  'Silver',
  'Urban',
  'Village',
  'Central',
  'Riverside',
  'Maple',
  'Oak',
  'Star',
  'Express',
  'Family',
];

/** Spread of amounts around the category median (sigma of the underlying normal). */
const AMOUNT_SIGMA = 0.8;
/** Zipf exponent for merchant popularity. */
const MERCHANT_SKEW = 0.8;

export interface Merchant {
  id: string;
  name: string;
  mcc: string;
  country: string;
  currency: Currency;
  median: number;
}

function pickWeighted<T extends { weight: number }>(items: readonly T[], random: Random): T {
  const total = items.reduce((s, i) => s + i.weight, 0);
  let x = random() * total;
  for (const item of items) {
    x -= item.weight;
    if (x < 0) return item;
  }
  return items[items.length - 1]!;
}

function pick<T>(items: readonly T[], random: Random): T {
  return items[Math.floor(random() * items.length)]!;
}

/** A population of `n` merchants with distinct ids, drawn from `random`. */
export function createMerchants(n: number, random: Random): Merchant[] {
  return Array.from({ length: n }, (_, i) => {
    const category = pickWeighted(CATEGORIES, random);
    const place = pickWeighted(COUNTRIES, random);
    return {
      id: `mrc-${String(i + 1).padStart(6, '0')}`,
      name: `${pick(NAME_WORDS, random)} ${pick(category.names, random)}`,
      mcc: category.mcc,
      country: place.country,
      currency: CURRENCIES[place.currency]!,
      median: category.median,
    };
  });
}

/** A standard normal draw (Box-Muller). */
function gaussian(random: Random): number {
  const u1 = 1 - random(); // (0, 1]: log is finite
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A log-normal amount around `medianEur`, in `currency`, rounded to its minor unit, > 0. */
export function drawAmount(medianEur: number, currency: Currency, random: Random): number {
  const scale = 10 ** currency.decimals;
  const major = medianEur * currency.perEur * Math.exp(AMOUNT_SIGMA * gaussian(random));
  const minor = Math.min(Math.max(1, Math.round(major * scale)), MAX_AMOUNT * scale);
  // minor / scale is the double nearest to the decimal value, so it has at most 2 decimals.
  return minor / scale;
}

export interface GeneratorOptions {
  cards: readonly string[];
  /** Drives cards, merchants and amounts: seed it for a reproducible sequence. */
  random: Random;
  /** Drives the --disorder-ms and --late-ratio offsets. */
  timeRandom?: Random;
  now?: () => number;
  newId?: () => string;
  /** Each event is stamped 0..disorderMs ms before its creation. */
  disorderMs?: number;
  /** Share of events stamped LATE_MIN_MS..LATE_MAX_MS before their creation. */
  lateRatio?: number;
  /**
   * History instead of live traffic: the i-th of `count` events is stamped `fromMs + i·spanMs/count`,
   * so they cover [fromMs, fromMs + spanMs) evenly, in order (disorder still applies, late does not).
   */
  backfill?: { fromMs: number; spanMs: number; count: number };
  merchantCount?: number;
}

/** Returns a function that creates the next PAYMENT_EVENT. */
export function createPaymentGenerator(options: GeneratorOptions): () => PaymentEvent {
  const { cards, random } = options;
  if (cards.length === 0) throw new RangeError('no cards to generate payments for');
  const timeRandom = options.timeRandom ?? Math.random;
  const now = options.now ?? Date.now;
  const newId = options.newId ?? uuidv4;
  const disorderMs = options.disorderMs ?? 0;
  const lateRatio = options.lateRatio ?? 0;
  const merchants = createMerchants(options.merchantCount ?? 500, random);
  // Cumulative Zipf weights: merchant i has weight 1 / (i + 1)^s.
  const cumulative: number[] = [];
  let sum = 0;
  for (let i = 0; i < merchants.length; i++) cumulative.push((sum += 1 / (i + 1) ** MERCHANT_SKEW));

  const pickMerchant = (): Merchant => {
    const x = random() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return merchants[lo]!;
  };

  const backfill = options.backfill;
  let made = 0;
  return () => {
    const created = backfill ? backfill.fromMs + Math.floor((made * backfill.spanMs) / backfill.count) : now();
    made++;
    let stamped = created;
    // The offsets draw from their own source, so the knobs never shift the seeded cards and amounts.
    if (!backfill && lateRatio > 0 && timeRandom() < lateRatio) {
      stamped = created - Math.round(LATE_MIN_MS + timeRandom() * (LATE_MAX_MS - LATE_MIN_MS));
    } else if (disorderMs > 0) {
      stamped = created - Math.floor(timeRandom() * (disorderMs + 1));
    }
    const card = cards[Math.floor(random() * cards.length)]!;
    const merchant = pickMerchant();
    return {
      event_type: 'PAYMENT_EVENT',
      event_id: newId(),
      event_date_origin: new Date(stamped).toISOString(),
      data: {
        card_number: card,
        amount: drawAmount(merchant.median, merchant.currency, random),
        currency: merchant.currency.code,
        merchant_id: merchant.id,
        merchant_name: merchant.name,
        mcc: merchant.mcc,
        country: merchant.country,
      },
    };
  };
}

export interface StatusGeneratorOptions {
  cards: readonly string[];
  random: Random;
  now?: () => number;
  newId?: () => string;
  /** Share of reports that recover a card this run reported stolen, when there is one (default 0.3). */
  recoverRatio?: number;
}

/**
 * Returns a function that creates the next CARD_STATUS_CHANGED: most often a random card reported
 * STOLEN from a moment up to REPORT_BACKDATE_MAX_MS ago (so payments already made are alerted
 * retroactively), otherwise a card this run reported stolen is recovered (ACTIVE) from now.
 */
export function createStatusGenerator(options: StatusGeneratorOptions): () => CardStatusEvent {
  const { cards, random } = options;
  if (cards.length === 0) throw new RangeError('no cards to report');
  const now = options.now ?? Date.now;
  const newId = options.newId ?? uuidv4;
  const recoverRatio = options.recoverRatio ?? 0.3;
  const reported: string[] = [];
  return () => {
    const t = now();
    let card: string;
    let status: CardStatusEvent['data']['status'];
    let effectiveAt: number;
    if (reported.length > 0 && random() < recoverRatio) {
      card = reported.splice(Math.floor(random() * reported.length), 1)[0]!;
      status = 'ACTIVE';
      effectiveAt = t;
    } else {
      card = cards[Math.floor(random() * cards.length)]!;
      reported.push(card);
      status = 'STOLEN';
      effectiveAt = t - Math.floor(random() * REPORT_BACKDATE_MAX_MS);
    }
    return {
      event_type: 'CARD_STATUS_CHANGED',
      event_id: newId(),
      event_date_origin: new Date(t).toISOString(),
      data: { card_number: card, status, effective_at: new Date(effectiveAt).toISOString(), reported_by: 'simulator' },
    };
  };
}
