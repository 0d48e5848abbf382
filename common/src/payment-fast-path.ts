/**
 * A schema-specialised scanner for the one record shape that makes up nearly all of the stream: a
 * PAYMENT_EVENT exactly as our producers write it (JSON.stringify of the simulator's object: fixed
 * key order, no whitespace, printable-ASCII strings without escapes, plain decimal amounts). It
 * reads the bytes once, applying the rules of the zod schemas (events.ts), and makes no string for
 * a payment whose card is not stolen. It says yes only when decodeRecord would accept the record
 * with the same event; anything else (another key order, whitespace, an escape, an exponent, a rule
 * broken, ...) is left to decodeRecord, which gives the reason and detail. So it changes what a
 * record costs, never its outcome: common/test/payment-fast-path.test.ts holds it to that.
 *
 * Kept: without it the processor's CPU per payment rose 82 % (30.6 → 55.6 µs, BENCH_ONLY=cpu, issue 16).
 */
import { isKnownCurrency, isKnownRegion, isRealInstant, MAX_AMOUNT, type PaymentEvent } from './events.js';

/** A card set asked with a card's ASCII bytes, so that no string is made (see the processor's StolenCards). */
export interface AsciiCardSet {
  /** False when the card in bytes[start, end) is certainly not in the set (a quick first test). */
  mayHaveAscii(bytes: Uint8Array, start: number, end: number): boolean;
  /** The set's name for the card in bytes[start, end) (the processor's: its card ref), or undefined when it is not in the set. */
  refOfAscii(bytes: Uint8Array, start: number, end: number): string | undefined;
}

/**
 * A reader of a scanned payment's fields as bytes, without a string made (the processor's record
 * of recent payments): the card in bytes[cardAt, cardEnd), the 36-character event id at idAt,
 * the merchant id in bytes[merchantAt, merchantEnd).
 */
export interface PaymentBytesSink {
  addAscii(
    bytes: Uint8Array,
    cardAt: number,
    cardEnd: number,
    idAt: number,
    eventTimeMs: number,
    amount: number,
    currency: string,
    merchantAt: number,
    merchantEnd: number,
  ): void;
}

/** A payment with its card named by `card` (a card ref) instead of its number: what the processor's engine takes. */
export interface CardPayment {
  readonly event_id: string;
  readonly event_date_origin: string;
  readonly card: string;
  readonly data: { readonly amount: number; readonly currency: string; readonly merchant_id: string };
}

/**
 * A fixed piece of the JSON text, possibly with holes ("?") for values checked separately: the
 * little-endian 32-bit words to compare, at these offsets, under these masks (the last word may
 * overlap the one before; words entirely in a hole are left out). Compared four bytes at a time
 * through a DataView, several times faster than byte by byte.
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
function literalAt(view: DataView, at: number, lit: Literal, end: number): boolean {
  if (at + lit.length > end) return false;
  const { offsets, words, masks } = lit;
  for (let i = 0; i < words.length; i++) if ((view.getInt32(at + offsets[i]!, true) & masks[i]!) !== words[i]) return false;
  return true;
}

// The fixed text around the values, in the producers' key order. Everything up to the card number
// has a fixed length: one template, with holes for the event id and time.
const PREFIX_TEXT =
  '{"event_type":"PAYMENT_EVENT","event_id":"????????-????-????-????-????????????",' + '"event_date_origin":"????-??-??T??:??:??.???Z","data":{"card_number":"';
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

/** The shortest record that can be canonical. */
const MIN_LENGTH = CARD_AT + 12 + AMOUNT_KEY.length + 1 + CURRENCY_KEY.length + 3 + MERCHANT_ID_KEY.length + 2 + 2;
/** Longer than any canonical payment (~600 bytes: names are capped at 256): left to decodeRecord. */
const MAX_LENGTH = 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;

/** A byte's digit value, or 0xff when it is not a digit (so an OR of several shows any non-digit). */
const DIGIT = new Uint8Array(256).fill(0xff);
for (let d = 0; d < 10; d++) DIGIT[0x30 + d] = d;

/** The number written with `n` digits at `at`, or -1 if one of them is not a digit. */
function digitsAt(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = DIGIT[b[i]!]!;
    if (d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** 1 for a hex digit, 2 for anything else (so an OR of several is 1 only if all are). */
const HEX = new Uint8Array(256).fill(2);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/**
 * Index of the quote that closes a string of at most `maxLength` starting at `at`; -1 unless it
 * is plain printable ASCII: JSON.parse rejects control characters, and an escape or a byte >= 0x80
 * decodes to something else than its bytes. All left to decodeRecord.
 */
function stringEnd(b: Uint8Array, at: number, maxLength: number, end: number): number {
  const limit = Math.min(end, at + maxLength + 1);
  for (let i = at; i < limit; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i;
    if (c < 0x20 || c > 0x7e || c === BACKSLASH) return -1;
  }
  return -1;
}

/** zod's z.uuid(): RFC 9562 layout, version 1-8, variant 10xx; or the nil or max UUID. */
function isUuidAt(b: Uint8Array, view: DataView, at: number): boolean {
  if (b[at + 8] !== 0x2d || b[at + 13] !== 0x2d || b[at + 18] !== 0x2d || b[at + 23] !== 0x2d) return false;
  let seen = 0;
  for (let i = at; i < at + 8; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 9; i < at + 13; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 14; i < at + 18; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 19; i < at + 23; i++) seen |= HEX[b[i]!]!;
  for (let i = at + 24; i < at + 36; i++) seen |= HEX[b[i]!]!;
  if (seen !== 1) return false;
  const version = b[at + 14]!;
  const variant = b[at + 19]! | 0x20; // lower case
  if (version >= 0x31 && version <= 0x38 && (variant === 0x38 || variant === 0x39 || variant === 0x61 || variant === 0x62)) return true;
  return literalAt(view, at, NIL_UUID, at + UUID_LENGTH) || literalAt(view, at, MAX_UUID, at + UUID_LENGTH);
}

/** Luhn's doubled digit. */
const LUHN_DOUBLE = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/**
 * End of the card number at `at` if it is 12 to 19 digits with a correct Luhn check digit (the
 * rule of luhn.ts), else -1. The length is only known at the end, so both ways of doubling are
 * summed on the way and the one that leaves the last digit undoubled is kept.
 */
function cardEnd(b: Uint8Array, at: number): number {
  let p = at;
  let evenPlain = 0; // digits at even offsets from `at`, as they are, and doubled
  let evenDoubled = 0;
  let oddPlain = 0;
  let oddDoubled = 0;
  for (; ; p++) {
    const d = DIGIT[b[p]!]!;
    if (d > 9) break; // the byte after the record is 0
    if (((p - at) & 1) === 0) {
      evenPlain += d;
      evenDoubled += LUHN_DOUBLE[d]!;
    } else {
      oddPlain += d;
      oddDoubled += LUHN_DOUBLE[d]!;
    }
  }
  const n = p - at;
  if (n < 12 || n > 19) return -1;
  // The last digit (offset n - 1) stays as it is; the ones at the other parity are doubled.
  const sum = (n & 1) === 1 ? evenPlain + oddDoubled : oddPlain + evenDoubled;
  return sum % 10 === 0 ? p : -1;
}

/** Each distinct code becomes a string once, shared by every event (a code maps to its own text only). */
const currencies = new Map<number, string>();
/** By A-Z × A-Z: the code when a known region, null when not, undefined when not asked yet. */
const countries = new Array<string | null | undefined>(26 * 26).fill(undefined);
const mccs = new Array<string | undefined>(10_000).fill(undefined);

function currencyAt(b: Uint8Array, at: number): string | undefined {
  const c0 = b[at]!;
  const c1 = b[at + 1]!;
  const c2 = b[at + 2]!;
  if (!isUpper(c0) || !isUpper(c1) || !isUpper(c2)) return undefined;
  const key = (c0 << 16) | (c1 << 8) | c2;
  let code = currencies.get(key);
  if (code === undefined) {
    const s = String.fromCharCode(c0, c1, c2);
    // Unknown codes are not kept: decodeRecord rejects them, so they never come often.
    if (!isKnownCurrency(s)) return undefined;
    currencies.set(key, (code = s));
  }
  return code;
}

function countryAt(b: Uint8Array, at: number): string | undefined {
  const c0 = b[at]!;
  const c1 = b[at + 1]!;
  if (!isUpper(c0) || !isUpper(c1)) return undefined;
  const key = (c0 - 0x41) * 26 + (c1 - 0x41);
  let code = countries[key];
  if (code === undefined) {
    const s = String.fromCharCode(c0, c1);
    countries[key] = code = isKnownRegion(s) ? s : null;
  }
  return code ?? undefined;
}

function mccAt(b: Buffer, at: number): string | undefined {
  const n = digitsAt(b, at, 4);
  return n < 0 ? undefined : (mccs[n] ??= b.toString('latin1', at, at + 4));
}

/**
 * A reader of canonical payments, and what it found in the last record it read (valid until the
 * next `read`, if that returned true): the event time, and where each value is; strings are made
 * only when asked for. Each record is first copied into the reader's own buffer (one native copy,
 * cheaper than a DataView over each record), so every read hits one typed array and one DataView.
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
  /** The last record read, at offset 0; one spare byte past the longest. */
  readonly #b = Buffer.alloc(MAX_LENGTH + 1);
  readonly #view = new DataView(this.#b.buffer, this.#b.byteOffset, this.#b.byteLength);
  /** The last date read, as year × 10 000 + month × 100 + day, and its epoch ms (NaN: not a real day). */
  #dayKey = -1;
  #dayMs = NaN;

  /**
   * True when `bytes` is a PAYMENT_EVENT in the producers' canonical form that decodeRecord
   * accepts; the fields then describe it. False when not sure (ask decodeRecord).
   */
  read(bytes: Uint8Array): boolean {
    const end = bytes.length;
    if (end < MIN_LENGTH || end > MAX_LENGTH) return false;
    const b = this.#b;
    const view = this.#view;
    b.set(bytes);
    b[end] = 0; // a byte no rule accepts: no scan reads on into an earlier record's bytes

    // The fixed prefix (within MIN_LENGTH), written out: through literalAt, beyond V8's inlining
    // budget, this longest comparison ran as a call.
    const prefixWords = PREFIX.words;
    for (let i = 0; i < prefixWords.length; i++) {
      if ((view.getInt32(PREFIX.offsets[i]!, true) & PREFIX.masks[i]!) !== prefixWords[i]) return false;
    }
    if (!isUuidAt(b, view, ID_AT)) return false;
    const eventTimeMs = this.#instantAt(b, DATE_AT);
    if (eventTimeMs !== eventTimeMs) return false; // NaN: not an instant
    const cardEnds = cardEnd(b, CARD_AT);
    if (cardEnds < 0 || !literalAt(view, cardEnds, AMOUNT_KEY, end)) return false;
    let p = cardEnds + AMOUNT_KEY.length;

    // (0|[1-9]\d{0,9})(\.\d{1,2})?, read as a whole number of hundredths: below 10^12, so exact.
    let cents = 0;
    if (b[p] === 0x30) {
      p++;
    } else {
      const start = p;
      while (isDigit(b[p]!) && p - start < 10) cents = cents * 10 + b[p++]! - 0x30;
      if (p === start) return false;
      cents *= 100;
    }
    if (b[p] === 0x2e) {
      if (!isDigit(b[p + 1]!)) return false;
      cents += (b[p + 1]! - 0x30) * 10;
      p += 2;
      if (isDigit(b[p]!)) cents += b[p++]! - 0x30;
    }
    if (cents <= 0 || cents > MAX_AMOUNT * 100 || !literalAt(view, p, CURRENCY_KEY, end)) return false;
    // One correctly rounded division of two exact integers gives the double nearest the decimal,
    // as JSON.parse does. Such a double has at most two decimals (an amount up to MAX_AMOUNT is
    // far more precise than 0.005), so hasAtMostTwoDecimals holds by construction.
    const amount = cents / 100;
    p += CURRENCY_KEY.length;

    const currency = currencyAt(b, p);
    if (currency === undefined || !literalAt(view, p + 3, MERCHANT_ID_KEY, end)) return false;
    const merchantAt = p + 3 + MERCHANT_ID_KEY.length;
    const merchantEnds = stringEnd(b, merchantAt, 64, end);
    if (merchantEnds <= merchantAt) return false; // not a plain string, or empty
    p = merchantEnds + 1;

    // The optional fields, each at most once and in this order.
    let nameAt = -1;
    let nameEnds = -1;
    if (literalAt(view, p, NAME_KEY, end)) {
      nameAt = p + NAME_KEY.length;
      nameEnds = stringEnd(b, nameAt, 256, end);
      if (nameEnds < 0) return false;
      p = nameEnds + 1;
    }
    let mcc: string | undefined;
    if (literalAt(view, p, MCC_KEY, end)) {
      p += MCC_KEY.length;
      mcc = mccAt(b, p);
      if (mcc === undefined || b[p + 4] !== QUOTE) return false;
      p += 5;
    }
    let country: string | undefined;
    if (literalAt(view, p, COUNTRY_KEY, end)) {
      p += COUNTRY_KEY.length;
      country = countryAt(b, p);
      if (country === undefined || b[p + 2] !== QUOTE) return false;
      p += 3;
    }
    if (p + 2 !== end || b[p] !== 0x7d || b[p + 1] !== 0x7d) return false;

    this.eventTimeMs = eventTimeMs;
    this.cardEnds = cardEnds;
    this.amount = amount;
    this.currency = currency;
    this.merchantAt = merchantAt;
    this.merchantEnds = merchantEnds;
    this.nameAt = nameAt;
    this.nameEnds = nameEnds;
    this.mcc = mcc;
    this.country = country;
    return true;
  }

  /**
   * The instant `YYYY-MM-DDTHH:mm:ss.sssZ` at `at` as Date.parse gives it, or NaN unless isoInstant
   * accepts it. The day is checked by isoInstant's own rule (isRealInstant), once per day seen:
   * consecutive records nearly always share it. The time of day is then valid up to 23:59:59.999.
   */
  #instantAt(b: Uint8Array, at: number): number {
    if (
      b[at + 4] !== 0x2d ||
      b[at + 7] !== 0x2d ||
      b[at + 10] !== 0x54 ||
      b[at + 13] !== 0x3a ||
      b[at + 16] !== 0x3a ||
      b[at + 19] !== 0x2e ||
      b[at + 23] !== 0x5a
    )
      return NaN;
    const year = digitsAt(b, at, 4);
    const month = digitsAt(b, at + 5, 2);
    const day = digitsAt(b, at + 8, 2);
    const hour = digitsAt(b, at + 11, 2);
    const minute = digitsAt(b, at + 14, 2);
    const second = digitsAt(b, at + 17, 2);
    const ms = digitsAt(b, at + 20, 3);
    // A -1 (a non-digit) anywhere makes the OR negative.
    if ((year | month | day | hour | minute | second | ms) < 0 || hour > 23 || minute > 59 || second > 59) return NaN;
    const key = year * 10_000 + month * 100 + day;
    if (key !== this.#dayKey) {
      const midnight = `${this.#b.toString('latin1', at, at + 10)}T00:00:00.000Z`;
      this.#dayKey = key;
      this.#dayMs = isRealInstant(midnight) ? Date.parse(midnight) : NaN;
    }
    return this.#dayMs + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms;
  }

  /** False when the card is certainly not in `cards`; true means it may be (ask cardRefIn). */
  cardMayBeIn(cards: AsciiCardSet): boolean {
    return cards.mayHaveAscii(this.#b, CARD_AT, this.cardEnds);
  }

  /** The set's name for the card, or undefined when it is not in `cards`. */
  cardRefIn(cards: AsciiCardSet): string | undefined {
    return cards.refOfAscii(this.#b, CARD_AT, this.cardEnds);
  }

  /** Hands the payment's fields to `sink` as bytes of the record read. */
  copyTo(sink: PaymentBytesSink): void {
    sink.addAscii(this.#b, CARD_AT, this.cardEnds, ID_AT, this.eventTimeMs, this.amount, this.currency, this.merchantAt, this.merchantEnds);
  }

  /** The payment with its card named `card`: no string of the card number is made. */
  payment(card: string): CardPayment {
    const text = this.#b;
    return {
      event_id: text.toString('latin1', ID_AT, ID_AT + UUID_LENGTH),
      event_date_origin: text.toString('latin1', DATE_AT, DATE_AT + INSTANT_LENGTH),
      card,
      data: { amount: this.amount, currency: this.currency, merchant_id: text.toString('latin1', this.merchantAt, this.merchantEnds) },
    };
  }

  /** Whether the card number is exactly `text` (a partition key), compared without making a string. */
  cardIs(text: string): boolean {
    const n = this.cardEnds - CARD_AT;
    if (text.length !== n) return false;
    for (let i = 0; i < n; i++) if (this.#b[CARD_AT + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  /** The card number. */
  card(): string {
    return this.#b.toString('latin1', CARD_AT, this.cardEnds);
  }

  /** The event, exactly as JSON.parse would give it. */
  event(): PaymentEvent {
    const text = this.#b;
    const { amount, currency, mcc, country, nameAt, nameEnds } = this;
    const card_number = text.toString('latin1', CARD_AT, this.cardEnds);
    const merchant_id = text.toString('latin1', this.merchantAt, this.merchantEnds);
    let data: PaymentEvent['data'];
    if (nameAt >= 0 && mcc !== undefined && country !== undefined) {
      // The usual record, as one literal: a single allocation with every field in the object.
      data = { card_number, amount, currency, merchant_id, merchant_name: text.toString('latin1', nameAt, nameEnds), mcc, country };
    } else {
      data = { card_number, amount, currency, merchant_id };
      if (nameAt >= 0) data.merchant_name = text.toString('latin1', nameAt, nameEnds);
      if (mcc !== undefined) data.mcc = mcc;
      if (country !== undefined) data.country = country;
    }
    return {
      event_type: 'PAYMENT_EVENT',
      event_id: text.toString('latin1', ID_AT, ID_AT + UUID_LENGTH),
      event_date_origin: text.toString('latin1', DATE_AT, DATE_AT + INSTANT_LENGTH),
      data,
    };
  }
}

/** The event and its time when `bytes` is a canonical payment decodeRecord accepts; undefined when not sure. */
export function fastDecodePayment(bytes: Uint8Array, scan = new PaymentScan()): { event: PaymentEvent; eventTimeMs: number } | undefined {
  return scan.read(bytes) ? { event: scan.event(), eventTimeMs: scan.eventTimeMs } : undefined;
}
