/**
 * The stolen-card set as the hot path asks it, once per payment: "is this card stolen?". A plain
 * Set<string> of 100 000 cards took 0.4-0.7 µs a lookup on this machine, mostly cache misses on
 * its hash table and its strings, to answer "no" nine times in ten. So:
 * - a bit filter in front (256 KiB, two bits per card, small enough to stay in a core's cache)
 *   answers almost every "no" with two probes;
 * - a "maybe" (every stolen card, ~1 % of the others) is settled by an exact table of the cards
 *   as numbers (open addressing over typed arrays: one or two cache lines a lookup, where a Set
 *   read its table, its entry and the stored string, and first hashed a fresh string);
 * - both read a card straight from the record's bytes, so no string is made for a card that is
 *   not stolen.
 * The answer is always that of a Set of the same cards. A card that is not 12-19 ASCII digits
 * (the file loader accepts none, but this class takes any string) is kept in a plain Set.
 */
import type { AsciiCardSet } from '../../../common/src/payment-fast-path.js';
import { ownString } from '../../../common/src/strings.js';

const FILTER_BITS = 1 << 21;
const MASK = FILTER_BITS - 1;

/** FNV-1a over the card's characters (ASCII digits), mixed so that every bit varies. */
function fingerprint(card: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < card.length; i++) h = Math.imul(h ^ card.charCodeAt(i), 0x01000193);
  return h ^ (h >>> 15);
}

/** The same fingerprint, of the card written as ASCII in bytes[start, end). */
function fingerprintOfBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h ^ (h >>> 15);
}

/** The fingerprint's second filter bit, from its high bits mixed again. */
const secondBit = (f: number): number => (Math.imul(f, 0x9e3779b1) >>> 11) & MASK;

/**
 * A card of 12-19 digits as two exact numbers: `high` = its leading digits × 32 + its length (below
 * 10^10 × 32, exact in a double; the length keeps "0123…" and "123…" apart), `low` = its last 9
 * digits. Set by cardKey*, read right after (no object per lookup).
 */
let keyHigh = 0;
let keyLow = 0;

function cardKeyOfBytes(bytes: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (n < 12 || n > 19) return false;
  let high = 0;
  let low = 0;
  const split = end - 9;
  for (let i = start; i < end; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9) return false;
    if (i < split) high = high * 10 + d;
    else low = low * 10 + d;
  }
  keyHigh = high * 32 + n;
  keyLow = low;
  return true;
}

/** Room for a card's characters as bytes (cardKeyOfString). */
const cardBytes = new Uint8Array(19);

function cardKeyOfString(card: string): boolean {
  const n = card.length;
  if (n < 12 || n > 19) return false;
  // Anything but ASCII becomes a 0 byte, which no card has.
  for (let i = 0; i < n; i++) {
    const c = card.charCodeAt(i);
    cardBytes[i] = c < 0x80 ? c : 0;
  }
  return cardKeyOfBytes(cardBytes, 0, n);
}

/** Exact set of card keys: open addressing, linear probing; a slot is empty while its high is 0 (no card's is). */
class CardTable {
  readonly #highs: Float64Array;
  readonly #lows: Int32Array;
  readonly #mask: number;
  size = 0;

  constructor(cards: number) {
    // At most half full, so a probe sequence stays short.
    let slots = 1024;
    while (slots < cards * 2) slots *= 2;
    this.#highs = new Float64Array(slots);
    this.#lows = new Int32Array(slots);
    this.#mask = slots - 1;
  }

  #slot(high: number, low: number): number {
    // The high part's two 32-bit halves and the low part, mixed.
    let h = Math.imul(low, 0x9e3779b1) ^ Math.imul(high | 0, 0x85ebca6b) ^ Math.imul((high / 0x1_0000_0000) | 0, 0xc2b2ae35);
    h ^= h >>> 15;
    return h & this.#mask;
  }

  /** Adds the key last set by cardKey*. */
  add(): void {
    const high = keyHigh;
    const low = keyLow;
    for (let i = this.#slot(high, low); ; i = (i + 1) & this.#mask) {
      const h = this.#highs[i]!;
      if (h === 0) {
        this.#highs[i] = high;
        this.#lows[i] = low;
        this.size++;
        return;
      }
      if (h === high && this.#lows[i] === low) return;
    }
  }

  /** Whether the key last set by cardKey* is in the table. */
  has(): boolean {
    const high = keyHigh;
    const low = keyLow;
    for (let i = this.#slot(high, low); ; i = (i + 1) & this.#mask) {
      const h = this.#highs[i]!;
      if (h === 0) return false;
      if (h === high && this.#lows[i] === low) return true;
    }
  }
}

export class StolenCards implements AsciiCardSet {
  readonly #table: CardTable;
  /** Cards that are not 12-19 ASCII digits. */
  readonly #others = new Set<string>();
  readonly #filter = new Int32Array(FILTER_BITS >>> 5);

  constructor(cards: Iterable<string>) {
    const list = [...cards];
    this.#table = new CardTable(list.length);
    for (const card of list) {
      if (cardKeyOfString(card)) this.#table.add();
      // A copy of its own: a card cut from the cards file would keep its whole chunk alive.
      else this.#others.add(ownString(card));
      const f = fingerprint(card);
      this.#set(f & MASK);
      this.#set(secondBit(f));
    }
  }

  get size(): number {
    return this.#table.size + this.#others.size;
  }

  has(card: string): boolean {
    if (!this.#maybe(fingerprint(card))) return false;
    return cardKeyOfString(card) ? this.#table.has() : this.#others.has(card);
  }

  /**
   * False when the card written as ASCII in bytes[start, end) is certainly not stolen; true means
   * it may be, and hasAscii must settle it.
   */
  mayHaveAscii(bytes: Uint8Array, start: number, end: number): boolean {
    return this.#maybe(fingerprintOfBytes(bytes, start, end));
  }

  /** has() of the card written as ASCII in bytes[start, end), without making its string. */
  hasAscii(bytes: Uint8Array, start: number, end: number): boolean {
    if (cardKeyOfBytes(bytes, start, end)) return this.#table.has();
    if (this.#others.size === 0) return false;
    let card = '';
    for (let i = start; i < end; i++) card += String.fromCharCode(bytes[i]!);
    return this.#others.has(card);
  }

  #maybe(f: number): boolean {
    return this.#isSet(f & MASK) && this.#isSet(secondBit(f));
  }

  #isSet(bit: number): boolean {
    return (this.#filter[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  #set(bit: number): void {
    this.#filter[bit >>> 5]! |= 1 << (bit & 31);
  }
}
