/**
 * A schema-specialised scanner for the one record shape that makes up nearly all of the stream: a
 * PAYMENT_EVENT exactly as our producers write it, i.e. JSON.stringify of the simulator's object
 * (fixed key order, no whitespace, printable-ASCII strings without escapes, plain decimal amounts).
 * It reads the bytes once, applies the same rules as the general path (events.ts), and builds the
 * event itself, so it skips TextDecoder, JSON.parse and the checks on a parsed object; or, through
 * scanPayment, builds nothing until asked, for a caller that only needs the time and the card.
 *
 * It only says yes when sure: what it returns is what JSON.parse would give, for a record the
 * general path accepts. Anything else (another key order, whitespace, an escape, a byte >= 0x80, an
 * exponent, a rule broken, ...) gives undefined, and the general path decides, with its own reason
 * and detail. So it can change what a record costs, never its outcome.
 */
import { daysInMonth, isKnownCurrency, isKnownRegion, MAX_AMOUNT, type PaymentEvent } from './events.js';

export interface FastPayment {
  event: PaymentEvent;
  /** Date.parse(event.event_date_origin), computed from the digits. */
  eventTimeMs: number;
}

/**
 * Each record is first copied here (one native copy, cheaper than a DataView over the record):
 * every read then hits the same typed array, and the fixed JSON text is compared four bytes at a
 * time through a DataView, several times faster than byte by byte. Only the last day read is kept
 * across calls (instantAt).
 */
const SCRATCH_BYTES = 1024; // well above the longest canonical payment (~600 bytes)
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES + 1) as Buffer & {
  /** Undocumented but long-standing: what toString('latin1', start, end) calls, minus its checks. */
  latin1Slice(start: number, end: number): string;
};
const view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);

/**
 * A fixed piece of the JSON text, possibly with holes ("?") for values checked separately: the
 * little-endian 32-bit words to compare, at these offsets, under these masks (the last word may
 * overlap the one before; words entirely in a hole are left out).
 */
interface Literal {
  length: number;
  offsets: Int32Array;
  words: Int32Array;
  masks: Int32Array;
}

function literal(text: string): Literal {
  const n = text.length;
  const bytes = Buffer.from(text, 'latin1');
  const holes = Buffer.from(text.replace(/[^?]/g, '\xff').replace(/\?/g, '\0'), 'latin1');
  const offsets: number[] = [];
  const words: number[] = [];
  const masks: number[] = [];
  for (let i = 0; i < n; i += 4) {
    const at = Math.min(i, n - 4);
    const mask = holes.readInt32LE(at);
    if (mask === 0) continue;
    offsets.push(at);
    masks.push(mask);
    words.push(bytes.readInt32LE(at) & mask);
  }
  return { length: n, offsets: Int32Array.from(offsets), words: Int32Array.from(words), masks: Int32Array.from(masks) };
}

/** True when `lit` is at `at` and ends by `end`. */
function literalAt(at: number, lit: Literal, end: number): boolean {
  if (at + lit.length > end) return false;
  const { offsets, words, masks } = lit;
  for (let i = 0; i < words.length; i++) if ((view.getInt32(at + offsets[i]!, true) & masks[i]!) !== words[i]) return false;
  return true;
}

// The fixed text around the values, in the producers' key order. Everything up to the card number
// has a fixed length: one template, with holes for the event id and time.
const PREFIX_TEXT =
  '{"event_type":"PAYMENT_EVENT","event_id":"????????-????-????-????-????????????",' +
  '"event_date_origin":"????-??-??T??:??:??.???Z","data":{"card_number":"';
const PREFIX = literal(PREFIX_TEXT);
const ID_AT = PREFIX_TEXT.indexOf('?');
const DATE_AT = PREFIX_TEXT.indexOf('????-??-??T');
const CARD_AT = PREFIX_TEXT.length;
const AMOUNT_KEY = literal('","amount":');
const CURRENCY_KEY = literal(',"currency":"');
const MERCHANT_ID_KEY = literal('","merchant_id":"');
const NAME_KEY = literal(',"merchant_name":"');
const MCC_KEY = literal(',"mcc":"');
const COUNTRY_KEY = literal(',"country":"');
const NIL_UUID = literal('00000000-0000-0000-0000-000000000000');
const MAX_UUID = literal('ffffffff-ffff-ffff-ffff-ffffffffffff');

const UUID_LENGTH = 36;
const INSTANT_LENGTH = 24; // 2026-11-27T04:31:34.123Z
/** The shortest record that can be canonical: everything up to the card is read without bound checks. */
const MIN_LENGTH = CARD_AT + 12 + AMOUNT_KEY.length + 1 + CURRENCY_KEY.length + 3 + MERCHANT_ID_KEY.length + 2 + 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;

/**
 * Index of the quote that closes a string of at most `maxLength` starting at `at`; -1 unless it
 * is plain printable ASCII: JSON.parse rejects control characters, and an escape or a byte >= 0x80
 * decodes to something else than its bytes. All left to the general path.
 */
function stringEnd(at: number, maxLength: number, end: number): number {
  const limit = Math.min(end, at + maxLength + 1);
  for (let i = at; i < limit; i++) {
    const c = scratch[i]!;
    if (c === QUOTE) return i;
    if (c < 0x20 || c > 0x7e || c === BACKSLASH) return -1;
  }
  return -1;
}

const HEX = new Uint8Array(256).fill(2);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** zod's z.uuid() (the UUID pattern of events.ts): RFC 9562 layout, version 1-8, variant 10xx; or the nil or max UUID. */
function isUuidAt(at: number): boolean {
  const b = scratch;
  if (b[at + 8] !== 0x2d || b[at + 13] !== 0x2d || b[at + 18] !== 0x2d || b[at + 23] !== 0x2d) return false;
  // The 32 hex digits around the dashes, OR-ed: HEX is 1 for a hex digit, 2 for anything else.
  let seen = 0;
  for (let i = at; i < at + 8; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 9; i < at + 13; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 14; i < at + 18; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 19; i < at + 23; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 24; i < at + 36; i++) seen |= HEX[b[i]!]!;
  if (seen !== 1) return false;
  const version = scratch[at + 14]!;
  const variant = scratch[at + 19]! | 0x20; // lower case
  if (version >= 0x31 && version <= 0x38 && (variant === 0x38 || variant === 0x39 || variant === 0x61 || variant === 0x62)) return true;
  return literalAt(at, NIL_UUID, at + UUID_LENGTH) || literalAt(at, MAX_UUID, at + UUID_LENGTH);
}

/** The number written with `n` digits at `at`, or -1 if one of them is not a digit. */
function digitsAt(at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = scratch[i]!;
    if (!isDigit(c)) return -1;
    v = v * 10 + c - 0x30;
  }
  return v;
}

/** A day number of year-month-day (proleptic Gregorian, years 0..9999): only differences count. */
function dayNumber(year: number, month: number, day: number): number {
  // Count from March of a year 400 years earlier, so that the leap day ends a year and the
  // divisions below only ever see positive numbers.
  const y = year + 400 - (month <= 2 ? 1 : 0);
  const monthFromMarch = (month + 9) % 12;
  const dayOfYear = Math.floor((153 * monthFromMarch + 2) / 5) + day - 1;
  return y * 365 + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400) + dayOfYear;
}
const UNIX_EPOCH_DAY = dayNumber(1970, 1, 1);

/** A byte's digit value, or 0xff when it is not a digit (so an OR of several shows any non-digit). */
const DIGIT = new Uint8Array(256).fill(0xff);
for (let d = 0; d < 10; d++) DIGIT[0x30 + d] = d;

/**
 * The day last read, as the raw bytes of `YYYY-MM-DD` (two little-endian words and a half), with
 * its epoch milliseconds: consecutive records nearly always fall on the same day, so the date is
 * parsed and checked once per day seen rather than once per record.
 */
let lastDateLow = 0;
let lastDateMid = 0;
let lastDateHigh = -1;
let lastDayMs = 0;

/** Epoch ms of the day `YYYY-MM-DD` at `at`, or NaN unless it is a real calendar day. */
function dayAt(at: number): number {
  const b = scratch;
  if (b[at + 4] !== 0x2d || b[at + 7] !== 0x2d) return NaN;
  const year = digitsAt(at, 4);
  const month = digitsAt(at + 5, 2);
  const day = digitsAt(at + 8, 2);
  // digitsAt's -1 for a non-digit fails every lower bound here.
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  return (dayNumber(year, month, day) - UNIX_EPOCH_DAY) * 86_400_000;
}

/**
 * The instant `YYYY-MM-DDTHH:mm:ss.sssZ` at `at` as Date.parse gives it, or NaN unless isoInstant
 * accepts it (this format, a real calendar day, a time of day up to 23:59:59.999).
 */
function instantAt(at: number): number {
  const b = scratch;
  if (b[at + 10] !== 0x54 || b[at + 13] !== 0x3a || b[at + 16] !== 0x3a || b[at + 19] !== 0x2e || b[at + 23] !== 0x5a) return NaN;
  const low = view.getInt32(at, true);
  const mid = view.getInt32(at + 4, true);
  const high = view.getUint16(at + 8, true);
  let dayMs: number;
  if (low === lastDateLow && mid === lastDateMid && high === lastDateHigh) dayMs = lastDayMs;
  else {
    dayMs = dayAt(at);
    if (dayMs !== dayMs) return NaN;
    lastDateLow = low;
    lastDateMid = mid;
    lastDateHigh = high;
    lastDayMs = dayMs;
  }
  const h1 = DIGIT[b[at + 11]!]!;
  const h2 = DIGIT[b[at + 12]!]!;
  const m1 = DIGIT[b[at + 14]!]!;
  const m2 = DIGIT[b[at + 15]!]!;
  const s1 = DIGIT[b[at + 17]!]!;
  const s2 = DIGIT[b[at + 18]!]!;
  const f1 = DIGIT[b[at + 20]!]!;
  const f2 = DIGIT[b[at + 21]!]!;
  const f3 = DIGIT[b[at + 22]!]!;
  if (((h1 | h2 | m1 | m2 | s1 | s2 | f1 | f2 | f3) & 0xf0) !== 0) return NaN; // a non-digit
  const hour = h1 * 10 + h2;
  const minute = m1 * 10 + m2;
  const second = s1 * 10 + s2;
  if (hour > 23 || minute > 59 || second > 59) return NaN;
  return dayMs + hour * 3_600_000 + minute * 60_000 + second * 1000 + f1 * 100 + f2 * 10 + f3;
}

/** Luhn's doubled digit: 2d, minus 9 when that has two digits. */
const LUHN_DOUBLE = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/**
 * End of the card number at `at` if it is 12 to 19 digits with a correct Luhn check digit (the
 * rule of luhn.ts), else -1. The length is only known at the end, so both ways of doubling are
 * summed on the way and the one that leaves the last digit undoubled is kept.
 */
function cardEnd(at: number): number {
  let p = at;
  let evenPlain = 0; // digits at even offsets from `at`, as they are
  let evenDoubled = 0; // ...and doubled
  let oddPlain = 0;
  let oddDoubled = 0;
  for (;;) {
    const c = scratch[p]!;
    if (!isDigit(c)) break;
    const d = c - 0x30;
    if (((p - at) & 1) === 0) {
      evenPlain += d;
      evenDoubled += LUHN_DOUBLE[d]!;
    } else {
      oddPlain += d;
      oddDoubled += LUHN_DOUBLE[d]!;
    }
    p++;
  }
  const n = p - at;
  if (n < 12 || n > 19) return -1;
  // The last digit (offset n - 1) stays as it is; the ones at the other parity are doubled.
  const sum = (n & 1) === 1 ? evenPlain + oddDoubled : oddPlain + evenDoubled;
  return sum % 10 === 0 ? p : -1;
}

/**
 * Currencies, countries and MCCs come from small sets: each distinct code becomes a string once,
 * shared by every event that carries it, which saves both the copy and the memory. They are
 * filled on first sight, as events.ts's rules are only ready once both modules are loaded.
 */
const currencies = new Map<number, string>();
function currencyAt(at: number): string | undefined {
  const c0 = scratch[at]!;
  const c1 = scratch[at + 1]!;
  const c2 = scratch[at + 2]!;
  if (!isUpper(c0) || !isUpper(c1) || !isUpper(c2)) return undefined;
  const key = (c0 << 16) | (c1 << 8) | c2;
  let code = currencies.get(key);
  if (code === undefined) {
    const s = scratch.latin1Slice(at, at + 3);
    // Unknown codes are not cached: the general path rejects them, so they never come often.
    if (!isKnownCurrency(s)) return undefined;
    currencies.set(key, (code = s));
  }
  return code;
}

/** By A-Z × A-Z: the code when a known region, null when not, undefined when not asked yet. */
const countries = new Array<string | null | undefined>(26 * 26).fill(undefined);
function countryAt(at: number): string | undefined {
  const c0 = scratch[at]!;
  const c1 = scratch[at + 1]!;
  if (!isUpper(c0) || !isUpper(c1)) return undefined;
  const key = (c0 - 0x41) * 26 + (c1 - 0x41);
  let code = countries[key];
  if (code === undefined) {
    const s = scratch.latin1Slice(at, at + 2);
    countries[key] = code = isKnownRegion(s) ? s : null;
  }
  return code ?? undefined;
}

const mccs = new Array<string | undefined>(10_000).fill(undefined);
function mccAt(at: number): string | undefined {
  const n = digitsAt(at, 4);
  return n < 0 ? undefined : (mccs[n] ??= scratch.latin1Slice(at, at + 4));
}

/** A card set asked with a card's ASCII bytes, so that no string is made (see the processor's StolenCards). */
export interface AsciiCardSet {
  /** False when the card in bytes[start, end) is certainly not in the set (a quick first test). */
  mayHaveAscii(bytes: Uint8Array, start: number, end: number): boolean;
  /** Whether the card in bytes[start, end) is in the set. */
  hasAscii(bytes: Uint8Array, start: number, end: number): boolean;
}

/**
 * A canonical payment as scanPayment found it: the event time, and where each value is in the
 * scratch copy. Strings are only made when asked for, so a payment whose card is not stolen (nine
 * in ten) costs no strings at all. There is one scan, reused: it is valid until the next call.
 */
export class PaymentScan {
  eventTimeMs = 0;
  cardEnds = 0;
  amount = 0;
  currency = '';
  merchantAt = 0;
  merchantEnds = 0;
  nameAt = -1;
  nameEnds = -1;
  mcc: string | undefined = undefined;
  country: string | undefined = undefined;

  /** False when the card is certainly not in `cards`; true means it may be (ask cardIsIn). */
  cardMayBeIn(cards: AsciiCardSet): boolean {
    return cards.mayHaveAscii(scratch, CARD_AT, this.cardEnds);
  }

  cardIsIn(cards: AsciiCardSet): boolean {
    return cards.hasAscii(scratch, CARD_AT, this.cardEnds);
  }

  /** Whether the card number is exactly `text` (a partition key), compared without making a string. */
  cardIs(text: string): boolean {
    const n = this.cardEnds - CARD_AT;
    if (text.length !== n) return false;
    for (let i = 0; i < n; i++) if (scratch[CARD_AT + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  /** The card number. */
  card(): string {
    return scratch.latin1Slice(CARD_AT, this.cardEnds);
  }

  /** The event, exactly as JSON.parse would give it. */
  event(): PaymentEvent {
    const b = scratch;
    const { amount, currency, mcc, country, nameAt, nameEnds } = this;
    const card_number = b.latin1Slice(CARD_AT, this.cardEnds);
    const merchant_id = b.latin1Slice(this.merchantAt, this.merchantEnds);
    let data: PaymentEvent['data'];
    if (nameAt >= 0 && mcc !== undefined && country !== undefined) {
      // The usual record, as one literal: a single allocation with every field in the object.
      data = { card_number, amount, currency, merchant_id, merchant_name: b.latin1Slice(nameAt, nameEnds), mcc, country };
    } else {
      data = { card_number, amount, currency, merchant_id };
      if (nameAt >= 0) data.merchant_name = b.latin1Slice(nameAt, nameEnds);
      if (mcc !== undefined) data.mcc = mcc;
      if (country !== undefined) data.country = country;
    }
    return {
      event_type: 'PAYMENT_EVENT',
      event_id: b.latin1Slice(ID_AT, ID_AT + UUID_LENGTH),
      event_date_origin: b.latin1Slice(DATE_AT, DATE_AT + INSTANT_LENGTH),
      data,
    };
  }
}
const scan = new PaymentScan();

/**
 * The event and its time when `bytes` is a PAYMENT_EVENT in the producers' canonical form that
 * decodeRecord's general path accepts; undefined when not sure (then use the general path).
 */
export function fastDecodePayment(bytes: Uint8Array): FastPayment | undefined {
  const s = scanPayment(bytes);
  return s && { event: s.event(), eventTimeMs: s.eventTimeMs };
}

/**
 * fastDecodePayment without making the event: the scan when `bytes` is a canonical PAYMENT_EVENT
 * the general path accepts, undefined when not sure. Valid until the next call.
 */
export function scanPayment(bytes: Uint8Array): PaymentScan | undefined {
  const end = bytes.length;
  if (end < MIN_LENGTH || end > SCRATCH_BYTES) return undefined;
  const b = scratch;
  b.set(bytes);
  // A byte no rule accepts, so that a scan stops at the record's end rather than reading on into
  // a previous record's bytes (the final length check would refuse that too; this keeps it local).
  b[end] = 0;

  // The fixed prefix, word by word, written out here rather than through literalAt: the scanner's
  // callees exceed V8's inlining budget, and this, its longest comparison, ran as a call. (The
  // record is at least MIN_LENGTH long, so the whole prefix is within it.)
  const prefixWords = PREFIX.words;
  for (let i = 0; i < prefixWords.length; i++) {
    if ((view.getInt32(PREFIX.offsets[i]!, true) & PREFIX.masks[i]!) !== prefixWords[i]) return undefined;
  }
  if (!isUuidAt(ID_AT)) return undefined;
  const eventTimeMs = instantAt(DATE_AT);
  if (eventTimeMs !== eventTimeMs) return undefined; // NaN: not an instant
  const cardEnds = cardEnd(CARD_AT);
  if (cardEnds < 0 || !literalAt(cardEnds, AMOUNT_KEY, end)) return undefined;
  let p = cardEnds + AMOUNT_KEY.length;

  // (0|[1-9]\d{0,9})(\.\d{1,2})?, read as a whole number of hundredths: below 10^12, so exact.
  let cents = 0;
  if (b[p] === 0x30) {
    p++;
  } else {
    const start = p;
    while (isDigit(b[p]!) && p - start < 10) cents = cents * 10 + b[p++]! - 0x30;
    if (p === start) return undefined;
    cents *= 100;
  }
  if (b[p] === 0x2e) {
    if (!isDigit(b[p + 1]!)) return undefined;
    cents += (b[p + 1]! - 0x30) * 10;
    p += 2;
    if (isDigit(b[p]!)) cents += b[p++]! - 0x30;
  }
  if (cents <= 0 || cents > MAX_AMOUNT * 100 || !literalAt(p, CURRENCY_KEY, end)) return undefined;
  // One correctly rounded division of two exact integers gives the double nearest the decimal,
  // as JSON.parse does. Such a double has at most two decimals (an amount up to MAX_AMOUNT is
  // far more precise than 0.005), so hasAtMostTwoDecimals holds by construction.
  const amount = cents / 100;
  p += CURRENCY_KEY.length;

  const currency = currencyAt(p);
  if (currency === undefined || !literalAt(p + 3, MERCHANT_ID_KEY, end)) return undefined;
  const merchantAt = p + 3 + MERCHANT_ID_KEY.length;
  const merchantEnds = stringEnd(merchantAt, 64, end);
  if (merchantEnds <= merchantAt) return undefined; // not a plain string, or empty
  p = merchantEnds + 1;

  // The optional fields, each at most once and in this order.
  let nameAt = -1;
  let nameEnds = -1;
  if (literalAt(p, NAME_KEY, end)) {
    nameAt = p + NAME_KEY.length;
    nameEnds = stringEnd(nameAt, 256, end);
    if (nameEnds < 0) return undefined;
    p = nameEnds + 1;
  }
  let mcc: string | undefined;
  if (literalAt(p, MCC_KEY, end)) {
    p += MCC_KEY.length;
    mcc = mccAt(p);
    if (mcc === undefined || b[p + 4] !== QUOTE) return undefined;
    p += 5;
  }
  let country: string | undefined;
  if (literalAt(p, COUNTRY_KEY, end)) {
    p += COUNTRY_KEY.length;
    country = countryAt(p);
    if (country === undefined || b[p + 2] !== QUOTE) return undefined;
    p += 3;
  }
  if (p + 2 !== end || b[p] !== 0x7d || b[p + 1] !== 0x7d) return undefined;

  scan.eventTimeMs = eventTimeMs;
  scan.cardEnds = cardEnds;
  scan.amount = amount;
  scan.currency = currency;
  scan.merchantAt = merchantAt;
  scan.merchantEnds = merchantEnds;
  scan.nameAt = nameAt;
  scan.nameEnds = nameEnds;
  scan.mcc = mcc;
  scan.country = country;
  return scan;
}
