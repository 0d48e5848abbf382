/**
 * The stolen-card set as the hot path asks it, once per payment: "is this card stolen, and what is
 * its card ref?". The set holds no card number: it is built from the stolen list (card refs:
 * token, masked form, route, key id; common/src/stolen-list.ts), and a payment's card is stolen
 * iff the HMAC of its number (its token) is one of the set's tokens.
 *
 * An HMAC costs ~2 µs, too much for every payment (nine in ten are not stolen). So a payment is
 * first tested on its truncated form, length + first 6 + last 4 digits, which the masked forms of
 * the set give without any card number:
 * - a bit filter (256 KiB, two bits per card, small enough to stay in a core's cache) answers
 *   almost every "no" with two probes, reading the digits straight from the record's bytes;
 * - a "maybe" is settled by an exact table of truncated forms (typed arrays, one or two cache
 *   lines a lookup), and only a truncated form of a stolen card pays for the HMAC and the token
 *   lookup. With cardgen's networks, ~1 payment in 10 000 of other cards gets that far.
 * The answer is always that of a Set of the stolen cards' tokens.
 */
import type { AsciiCardSet } from '../../../common/src/payment-fast-path.js';
import { AppError } from '../../../common/src/errors.js';
import { parseCardRef, type CardTokenizer } from '../../../common/src/card-token.js';
import type { CardDirectory } from '../engine/types.js';
import type { SipKey } from '../../../common/src/siphash.js';

const FILTER_BITS = 1 << 21;
const MASK = FILTER_BITS - 1;

/**
 * The truncated form of a card as two numbers, set by truncated*() and read right after (no object
 * per lookup): `high` = first 6 digits × 32 + length, `low` = last 4 digits.
 */
let truncHigh = 0;
let truncLow = 0;

/** The truncated form of the card written as ASCII in bytes[start, end); false when it is not 12-19 digits. */
function truncatedOfBytes(bytes: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  if (n < 12 || n > 19) return false;
  let high = 0;
  let low = 0;
  for (let i = start; i < start + 6; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9) return false;
    high = high * 10 + d;
  }
  for (let i = end - 4; i < end; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9) return false;
    low = low * 10 + d;
  }
  truncHigh = high * 32 + n;
  truncLow = low;
  return true;
}

/** The truncated form a masked card number shows (`411111******1111`). */
function truncatedOfMasked(masked: string): void {
  truncHigh = Number(masked.slice(0, 6)) * 32 + masked.length;
  truncLow = Number(masked.slice(-4));
}

/** The truncated form, mixed so that every bit varies. */
function fingerprint(): number {
  let h = Math.imul(truncHigh, 0x9e3779b1) ^ Math.imul(truncLow + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  return Math.imul(h, 0xc2b2ae35) ^ (h >>> 13);
}

/** The fingerprint's second filter bit, from its high bits mixed again. */
const secondBit = (f: number): number => (Math.imul(f, 0x9e3779b1) >>> 11) & MASK;

/** Exact set of truncated forms: open addressing, linear probing; a slot is empty while its high is 0 (no form's is). */
class TruncatedTable {
  readonly #highs: Int32Array;
  readonly #lows: Int16Array;
  readonly #mask: number;

  constructor(cards: number) {
    // At most half full, so a probe sequence stays short.
    let slots = 1024;
    while (slots < cards * 2) slots *= 2;
    this.#highs = new Int32Array(slots);
    this.#lows = new Int16Array(slots);
    this.#mask = slots - 1;
  }

  /** Adds the form last set by truncated*(). */
  add(f: number): void {
    for (let i = f & this.#mask; ; i = (i + 1) & this.#mask) {
      const h = this.#highs[i]!;
      if (h === 0) {
        this.#highs[i] = truncHigh;
        this.#lows[i] = truncLow;
        return;
      }
      if (h === truncHigh && this.#lows[i] === truncLow) return;
    }
  }

  /** Whether the form last set by truncated*() is in the table. */
  has(f: number): boolean {
    for (let i = f & this.#mask; ; i = (i + 1) & this.#mask) {
      const h = this.#highs[i]!;
      if (h === 0) return false;
      if (h === truncHigh && this.#lows[i] === truncLow) return true;
    }
  }
}

/** The bytes of a token (HMAC-SHA-256). */
const TOKEN_BYTES = 32;

/** base64url text that decodes to exactly `bytes` bytes and encodes back to itself, else undefined. */
function bytesOf(text: string, bytes: number): Buffer | undefined {
  const b = Buffer.from(text, 'base64url');
  return b.length === bytes && b.toString('base64url') === text ? b : undefined;
}

/**
 * The stolen cards in typed arrays, each as its token's 32 bytes (what a lookup compares) and its
 * card ref's text (what a hit returns, one string cut from the pool): held as a Map of card-ref
 * strings, 100 000 cards took ~18 MB of heap that every full collection walked; here ~14 MB it
 * never looks into (docs/benchmarks.md, RSS). Open addressing on a token's first 4 bytes (an
 * HMAC: uniform already).
 */
class TokenTable {
  readonly #slots: Int32Array;
  readonly #mask: number;
  readonly #tokens: Uint8Array;
  /** The refs' ASCII text, one after another; card c's ends at #ends[c]. */
  readonly #text: Buffer;
  readonly #ends: Int32Array;
  size = 0;

  constructor(capacity: number, textBytes: number) {
    let slots = 1024;
    while (slots < capacity * 2) slots *= 2;
    // A slot holds a card's index + 1; 0 is empty.
    this.#slots = new Int32Array(slots);
    this.#mask = slots - 1;
    this.#tokens = new Uint8Array(capacity * TOKEN_BYTES);
    this.#text = Buffer.alloc(textBytes);
    this.#ends = new Int32Array(capacity);
  }

  /** The index of the card whose token is `token` (32 bytes), or -1. */
  find(token: Uint8Array): number {
    const tokens = this.#tokens;
    for (let i = this.#slotOf(token); ; i = (i + 1) & this.#mask) {
      const c = this.#slots[i]! - 1;
      if (c < 0) return -1;
      const at = c * TOKEN_BYTES;
      let j = 0;
      while (j < TOKEN_BYTES && tokens[at + j] === token[j]) j++;
      if (j === TOKEN_BYTES) return c;
    }
  }

  /** Adds a card by its token's bytes and its ref (ASCII); false when its token is there already. */
  add(token: Uint8Array, ref: string): boolean {
    if (this.find(token) >= 0) return false;
    const c = this.size++;
    this.#tokens.set(token, c * TOKEN_BYTES);
    const start = c === 0 ? 0 : this.#ends[c - 1]!;
    this.#ends[c] = start + this.#text.write(ref, start, 'latin1');
    let i = this.#slotOf(token);
    while (this.#slots[i] !== 0) i = (i + 1) & this.#mask;
    this.#slots[i] = c + 1;
    return true;
  }

  /** The card ref of card `c`, as the stolen list gave it: a new flat string. */
  ref(c: number): string {
    return this.#text.toString('latin1', c === 0 ? 0 : this.#ends[c - 1]!, this.#ends[c]!);
  }

  #slotOf(token: Uint8Array): number {
    return (token[0]! | (token[1]! << 8) | (token[2]! << 16) | (token[3]! << 24)) & this.#mask;
  }
}

export class StolenCards implements AsciiCardSet, CardDirectory {
  readonly #tokenizer: CardTokenizer;
  readonly #cards: TokenTable;
  readonly #table: TruncatedTable;
  readonly #filter = new Int32Array(FILTER_BITS >>> 5);

  /** `refs`: the stolen cards' refs, all of `tokenizer`'s key (a ref of another key is refused: its token could never match). */
  constructor(tokenizer: CardTokenizer, refs: Iterable<string>) {
    this.#tokenizer = tokenizer;
    const list = Array.isArray(refs) ? (refs as readonly string[]) : [...refs];
    this.#table = new TruncatedTable(list.length);
    this.#cards = new TokenTable(
      list.length,
      list.reduce((n, ref) => n + ref.length, 0),
    );
    for (const ref of list) {
      const parts = parseCardRef(ref);
      // A token or route that is not canonical base64url names the same bytes as another text: refused.
      const token = parts && bytesOf(parts.card_token, TOKEN_BYTES);
      if (!parts || !token || !bytesOf(parts.card_route, 16)) throw new AppError('STOLEN_LIST', 'the stolen list holds an entry that is not a card ref');
      if (parts.card_key_id !== tokenizer.keyId) {
        throw new AppError(
          'STOLEN_LIST',
          `the stolen list was tokenised with key ${parts.card_key_id}, this processor has key ${tokenizer.keyId}: write it again with the processor's key (docs/deployment.md)`,
        );
      }
      truncatedOfMasked(parts.card_masked);
      const f = fingerprint();
      this.#table.add(f);
      this.#set(f & MASK);
      this.#set(secondBit(f));
      this.#cards.add(token, ref);
    }
  }

  get size(): number {
    return this.#cards.size;
  }

  /** The refs of the set, for the state store's copy. */
  *refs(): IterableIterator<string> {
    for (let c = 0; c < this.#cards.size; c++) yield this.#cards.ref(c);
  }

  /** The card ref of a stolen card number, or undefined when it is not stolen. */
  refOf(card: string): string | undefined {
    const bytes = Buffer.from(card, 'latin1');
    if (bytes.length !== card.length || !this.mayHaveAscii(bytes, 0, bytes.length)) return undefined;
    return this.refOfAscii(bytes, 0, bytes.length);
  }

  /**
   * False when the card written as ASCII in bytes[start, end) is certainly not stolen; true means
   * it may be, and refOfAscii must settle it.
   */
  mayHaveAscii(bytes: Uint8Array, start: number, end: number): boolean {
    if (!truncatedOfBytes(bytes, start, end)) return false;
    const f = fingerprint();
    return this.#isSet(f & MASK) && this.#isSet(secondBit(f)) && this.#table.has(f);
  }

  /**
   * The card ref of the card written as ASCII in bytes[start, end), or undefined when it is not
   * stolen. A new string each time: the engine keeps one per card (PaneStore).
   */
  refOfAscii(bytes: Uint8Array, start: number, end: number): string | undefined {
    return this.refOfDigest(this.#tokenizer.digest(bytes.subarray(start, end)));
  }

  /** The card ref of the stolen card whose token has these 32 bytes, or undefined. */
  refOfDigest(token: Uint8Array): string | undefined {
    const c = this.#cards.find(token);
    return c < 0 ? undefined : this.#cards.ref(c);
  }

  /** The token's bytes of the card written as ASCII in bytes[start, end) (an HMAC: ~2 µs). */
  digestOfAscii(bytes: Uint8Array, start: number, end: number): Buffer {
    return this.#tokenizer.digest(bytes.subarray(start, end));
  }

  /** The card ref of any card number (a card reported stolen or recovered need not be on the list). */
  cardRefOf(card: string): string {
    return this.#tokenizer.cardRef(card);
  }

  /** The key of the cards' hashes in the engine's record of recent payments (CardDirectory). */
  get recordKey(): SipKey {
    return this.#tokenizer.recordKey;
  }

  /** The card ref of a stolen card's token, or undefined when no stolen card has it. */
  refOfToken(token: string): string | undefined {
    if (token.length !== 43) return undefined;
    const c = this.#cards.find(Buffer.from(token, 'base64url'));
    if (c < 0) return undefined;
    // A token text that is not canonical decodes to the bytes of another: not that card's.
    const ref = this.#cards.ref(c);
    return ref.startsWith(token) ? ref : undefined;
  }

  /** The Kinesis hash key of a card ref's card (its route decrypted), to cut a child shard's state. */
  hashKeyOf(ref: string): bigint {
    return this.#tokenizer.hashKeyOfCardRef(ref);
  }

  #isSet(bit: number): boolean {
    return (this.#filter[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  #set(bit: number): void {
    this.#filter[bit >>> 5]! |= 1 << (bit & 31);
  }
}
