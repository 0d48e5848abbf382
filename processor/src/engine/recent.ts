/**
 * The shard's record of recent payments, of every card: what a STOLEN report needs to alert the
 * payments its card made before the report was read, and a recovery to take them out of its
 * summaries (docs/semantics.md, "Card status"). Kept for RETRO_ALERT_MS of stream time, in
 * event-time buckets, purged by bucket.
 *
 * A payment of a card nobody reported is never turned into objects: its fields are written from
 * the record's bytes into the bucket's chunk as one line of ASCII with fixed-width fields:
 *   card hash (16 hex) · event time (13 digits, ms) · event id (36) · amount (12 digits, cents) ·
 *   currency (3) · merchant length (3 digits) · merchant kind (a: as is, h: hex of its UTF-8) ·
 *   merchant id.
 * The card is kept as its keyed hash (SipHash-2-4 under a key derived from the card token key,
 * common/src/siphash.ts), never as its number, so the record is stored as it is, with no
 * encryption (sealing it cost more than the rest of the record: bench "card-status"). A merchant
 * id holding a card number is masked first. A report reads its card's lines back by comparing hashes.
 *
 * Stored as `recent/<bucketStart>/<part>` → the part's text, a JSON string as it is (every
 * character of a line is JSON-safe). The store keeps these entries as files beside LevelDB
 * (state/entry-files.ts): a part is written once and deleted with its bucket, and through LevelDB
 * its bytes were rewritten by every compaction. After a crash, a part whose commit was lost can be
 * read back beside the replay that records its payments again: `find` gives each id once. A split gives every child all of its parent's parts (an
 * entry's card is known only by its hash, not by its Kinesis hash key): a report reaches only the
 * child that owns its card, so the copies elsewhere are never matched, only purged with their
 * bucket.
 */
import { scrubPans } from '../../../common/src/pan-scrub.js';
import { sipHash64, sipLow, type SipKey } from '../../../common/src/siphash.js';
import { EngineStateError } from './errors.js';
import { insertUnique } from './sorted.js';
import { floorTo, iso, padTime } from './time.js';

export type { SipKey };

export const RECENT_KEY_PREFIX = 'recent/';
export const RECENT_KEY = /^recent\/(\d{13})\/(\d{13})$/;
export const recentKey = (bucket: number, part: number): string => `${RECENT_KEY_PREFIX}${padTime(bucket)}/${padTime(part)}`;
/** The part number of a bucket written whole (entries()); commits number theirs from 1. */
const WHOLE_PART = 0;

// A line's fields: offsets from its start.
const HASH = 0;
const TIME = 16;
const ID = 29;
const CENTS = 65;
const CURRENCY = 77;
const MERCHANT_LENGTH = 80;
const MERCHANT_KIND = 83;
const MERCHANT = 84;
/** The longest merchant field: 64 characters of UTF-8 as hex. */
const MAX_MERCHANT = 64 * 3 * 2;

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** A payment as a report reads it back from the record. */
export interface RecentPayment {
  id: string;
  at: number;
  origin: string;
  amount: number;
  currency: string;
  merchant: string;
}

/**
 * Writes `value` (a non-negative integer below 10^16) as `width` (≤ 16) decimal digits ending
 * before `end`. In two halves of 8 digits with integer division: `%` on a double above 2^31 is a
 * floating-point remainder, which made this the dearest step of recording a payment.
 */
function digits(out: Uint8Array, end: number, width: number, value: number): void {
  let low = value % 1e8;
  const high = (value - low) / 1e8;
  for (let i = end - 1; i >= end - width; i--) {
    if (i === end - 9) low = high;
    const q = (low / 10) | 0;
    out[i] = 0x30 + low - q * 10;
    low = q;
  }
}

/** The decimal number in bytes[at, at + width). */
function readDigits(bytes: Uint8Array, at: number, width: number): number {
  let v = 0;
  for (let i = at; i < at + width; i++) v = v * 10 + (bytes[i] as number) - 0x30;
  return v;
}

/** Writes the 64-bit hash (high, low) as 16 hex digits at `at`. */
function hex64(out: Uint8Array, at: number, high: number, low: number): void {
  for (let i = 7; i >= 0; i--) {
    out[at + i] = HEX[high & 15] as number;
    high >>>= 4;
    out[at + 8 + i] = HEX[low & 15] as number;
    low >>>= 4;
  }
}

/** True when bytes[start, end) hold a run of 12 or more digits (a card number could be there). */
function holdsDigitRun(bytes: Uint8Array, start: number, end: number): boolean {
  let run = 0;
  for (let i = start; i < end; i++) {
    const d = (bytes[i] as number) - 0x30;
    run = d >= 0 && d <= 9 ? run + 1 : 0;
    if (run >= 12) return true;
  }
  return false;
}

/** A merchant id as it is stored: as is when every character is printable ASCII but `"` and `\`, else as hex of its UTF-8. */
function merchantField(merchant: string): { kind: number; text: string } {
  return /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(merchant)
    ? { kind: 0x61, text: merchant }
    : { kind: 0x68, text: Buffer.from(merchant, 'utf8').toString('hex') };
}

/**
 * Chunks a bucket's entries are written into: fixed-size, never grown or copied (a bucket at a
 * full shard is ~1 MB; growing one buffer by doubling cost a copy of it and much external memory
 * churn per bucket). An entry never spans two chunks.
 */
const CHUNK_BYTES = 64 * 1024;

class Bucket {
  /** The chunks, the last one being written; `ends[i]`: the bytes of chunk i in use. */
  readonly chunks: Buffer[] = [];
  readonly ends: number[] = [];
  /** Everything before chunk `storedChunk` at `storedAt` is in the store already. */
  storedChunk = 0;
  storedAt = 0;
  /** The stored keys holding this bucket's parts (deleted when it is purged). */
  keys: string[] = [];

  get used(): number {
    let n = 0;
    for (const e of this.ends) n += e;
    return n;
  }

  /** The index of the chunk to write `n` more bytes into at its end. */
  room(n: number): number {
    const last = this.chunks.length - 1;
    if (last >= 0 && (this.ends[last] as number) + n <= (this.chunks[last] as Buffer).length) return last;
    this.chunks.push(Buffer.allocUnsafe(Math.max(CHUNK_BYTES, n)));
    this.ends.push(0);
    return last + 1;
  }

  /** Adds bytes read back from the store, as stored. */
  addStored(clear: Buffer): void {
    this.chunks.push(clear);
    this.ends.push(clear.length);
    this.markStored();
  }

  /** The bytes written since the last markStored (a view when they are in one chunk). */
  unstored(): Buffer {
    const parts: Buffer[] = [];
    for (let i = this.storedChunk; i < this.chunks.length; i++) {
      const from = i === this.storedChunk ? this.storedAt : 0;
      if ((this.ends[i] as number) > from) parts.push((this.chunks[i] as Buffer).subarray(from, this.ends[i]));
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  all(): Buffer {
    return Buffer.concat(this.chunks.map((c, i) => c.subarray(0, this.ends[i])));
  }

  markStored(): void {
    this.storedChunk = Math.max(0, this.chunks.length - 1);
    this.storedAt = this.ends[this.storedChunk] ?? 0;
  }

  get hasUnstored(): boolean {
    return this.storedChunk < this.chunks.length - 1 || (this.ends[this.storedChunk] ?? 0) > this.storedAt;
  }
}

export class RecentPayments {
  readonly #bucketMs: number;
  readonly #key: SipKey;
  /** Bucket start → bucket, ascending (buckets are created in any order; kept sorted on insert). */
  readonly #buckets = new Map<number, Bucket>();
  #starts: number[] = [];
  #purged: string[] = [];
  #nextPart = WHOLE_PART + 1;
  /** The bucket last written: payments come in event-time order, mostly into the same one. */
  #last: Bucket | undefined;
  #lastStart = NaN;

  /** `key`: the key of the cards' hashes (CardTokenizer.recordKey). */
  constructor(bucketMs: number, key: SipKey) {
    this.#bucketMs = bucketMs;
    this.#key = key;
  }

  /** Bytes of payments held (payments are not counted: it would cost per payment). */
  get bytes(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.used;
    return n;
  }

  /**
   * Records a payment read from the ASCII of its record: the card in bytes[cardAt, cardEnd), the
   * id at idAt (36 characters), the merchant id in bytes[merchantAt, merchantEnd) (printable
   * ASCII without quotes or backslashes, as the scanner accepts it).
   */
  addAscii(
    bytes: Uint8Array,
    cardAt: number,
    cardEnd: number,
    idAt: number,
    at: number,
    amount: number,
    currency: string,
    merchantAt: number,
    merchantEnd: number,
  ): void {
    if (holdsDigitRun(bytes, merchantAt, merchantEnd)) {
      this.#add(
        bytes,
        cardAt,
        cardEnd,
        Buffer.from(bytes.buffer, bytes.byteOffset + idAt, 36).toString('latin1'),
        at,
        amount,
        currency,
        Buffer.from(bytes.buffer, bytes.byteOffset + merchantAt, merchantEnd - merchantAt).toString('latin1'),
      );
      return;
    }
    // Byte loops, no subarray or string write: per payment, those views and native calls cost
    // more than the rest of a payment's processing (bench "card-status").
    const merchantLength = merchantEnd - merchantAt;
    const b = this.#bucketOf(at);
    const c = b.room(MERCHANT + merchantLength);
    const out = b.chunks[c] as Buffer;
    const p = b.ends[c] as number;
    const high = sipHash64(this.#key, bytes, cardAt, cardEnd);
    hex64(out, p + HASH, high, sipLow);
    digits(out, p + ID, ID - TIME, at);
    for (let i = 0; i < 36; i++) out[p + ID + i] = bytes[idAt + i] as number;
    digits(out, p + CURRENCY, CURRENCY - CENTS, Math.round(amount * 100));
    out[p + CURRENCY] = currency.charCodeAt(0);
    out[p + CURRENCY + 1] = currency.charCodeAt(1);
    out[p + CURRENCY + 2] = currency.charCodeAt(2);
    digits(out, p + MERCHANT_KIND, 3, merchantLength);
    out[p + MERCHANT_KIND] = 0x61;
    for (let i = 0; i < merchantLength; i++) out[p + MERCHANT + i] = bytes[merchantAt + i] as number;
    b.ends[c] = p + MERCHANT + merchantLength;
  }

  /** Records a payment given as strings (a record the scanner left to the decoder). */
  add(card: string, id: string, at: number, amount: number, currency: string, merchant: string): void {
    const bytes = Buffer.from(card, 'latin1');
    this.#add(bytes, 0, bytes.length, id, at, amount, currency, merchant);
  }

  #add(card: Uint8Array, cardAt: number, cardEnd: number, id: string, at: number, amount: number, currency: string, merchant: string): void {
    const { kind, text } = merchantField(scrubPans(merchant));
    const b = this.#bucketOf(at);
    const c = b.room(MERCHANT + text.length);
    const out = b.chunks[c] as Buffer;
    const p = b.ends[c] as number;
    const high = sipHash64(this.#key, card, cardAt, cardEnd);
    hex64(out, p + HASH, high, sipLow);
    digits(out, p + ID, ID - TIME, at);
    out.write(id, p + ID, 36, 'latin1');
    digits(out, p + CURRENCY, CURRENCY - CENTS, Math.round(amount * 100));
    out.write(currency, p + CURRENCY, 3, 'latin1');
    digits(out, p + MERCHANT_KIND, 3, text.length);
    out[p + MERCHANT_KIND] = kind;
    out.write(text, p + MERCHANT, 'latin1');
    b.ends[c] = p + MERCHANT + text.length;
  }

  /**
   * The recorded payments of the card whose number is `card` (ASCII digits) with event time in
   * [from, until), each id once, in event-time order (ties by id).
   */
  find(card: Uint8Array, from: number, until: number): RecentPayment[] {
    const hash = Buffer.alloc(16);
    hex64(hash, 0, sipHash64(this.#key, card), sipLow);
    const found = new Map<string, RecentPayment>();
    for (const start of this.#starts) {
      if (start + this.#bucketMs <= from || start >= until) continue;
      const b = this.#buckets.get(start) as Bucket;
      for (let c = 0; c < b.chunks.length; c++) findIn(b.chunks[c] as Buffer, b.ends[c] as number, hash, from, until, found);
    }
    return [...found.values()].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Drops every bucket that ends at or before `cutoff` (no report can reach back to it). */
  purgeBefore(cutoff: number): void {
    while (this.#starts.length > 0 && (this.#starts[0] as number) + this.#bucketMs <= cutoff) {
      const start = this.#starts.shift() as number;
      this.#purged.push(...(this.#buckets.get(start) as Bucket).keys);
      this.#buckets.delete(start);
      if (start === this.#lastStart) this.#last = undefined;
    }
  }

  /** Takes back one stored part (any order; a restore reads them as stored). */
  restore(key: string, value: unknown): void {
    const m = RECENT_KEY.exec(key);
    // As a store reads it back (the text), or as takeDirty/entries wrote it (that text's JSON bytes).
    const text = value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1').slice(1, -1) : value;
    if (!m || typeof text !== 'string') throw new EngineStateError(`state entry ${key} is not a part of the recent payments`);
    const bytes = Buffer.from(text, 'latin1');
    const problem = linesProblem(bytes);
    if (problem) throw new EngineStateError(`state entry ${key} does not hold recent payments: ${problem}`);
    const b = this.#bucket(Number(m[1]));
    b.addStored(bytes);
    b.keys.push(key);
    if (Number(m[2]) >= this.#nextPart) this.#nextPart = Number(m[2]) + 1;
  }

  /** Every bucket as one stored part (a state written whole; see discardDirty). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const start of this.#starts) {
      const b = this.#buckets.get(start) as Bucket;
      if (b.used > 0) yield [recentKey(start, WHOLE_PART), jsonOf(b.all())];
    }
  }

  /** Parts written since the last call (one per bucket that grew), and the keys of purged buckets. */
  takeDirty(): [string, Uint8Array | undefined][] {
    const out: [string, Uint8Array | undefined][] = this.#purged.map((key) => [key, undefined]);
    this.#purged = [];
    let part: number | undefined;
    for (const start of this.#starts) {
      const b = this.#buckets.get(start) as Bucket;
      if (!b.hasUnstored) continue;
      part ??= this.#nextPart++;
      const key = recentKey(start, part);
      out.push([key, jsonOf(b.unstored())]);
      b.markStored();
      b.keys.push(key);
    }
    return out;
  }

  /** Forgets the changes since the last takeDirty: each bucket is stored as entries()' one part from now on. */
  discardDirty(): void {
    this.#purged = [];
    for (const [start, b] of this.#buckets) {
      b.markStored();
      b.keys = b.used > 0 ? [recentKey(start, WHOLE_PART)] : [];
    }
  }

  #bucketOf(at: number): Bucket {
    if (at >= this.#lastStart && at < this.#lastStart + this.#bucketMs && this.#last) return this.#last;
    const start = floorTo(at, this.#bucketMs);
    this.#last = this.#bucket(start);
    this.#lastStart = start;
    return this.#last;
  }

  #bucket(start: number): Bucket {
    let b = this.#buckets.get(start);
    if (b === undefined) {
      b = new Bucket();
      this.#buckets.set(start, b);
      insertUnique(this.#starts, start);
    }
    return b;
  }
}

/** A part's stored value: its text as a JSON string, in bytes (the store writes them as they are). */
function jsonOf(text: Uint8Array): Uint8Array {
  const json = Buffer.allocUnsafe(text.length + 2);
  json[0] = 0x22;
  json.set(text, 1);
  json[json.length - 1] = 0x22;
  return json;
}

/** The end of the line starting at `p` (its merchant field's length read from it). */
const lineEnd = (bytes: Uint8Array, p: number): number => p + MERCHANT + readDigits(bytes, p + MERCHANT_LENGTH, 3);

/** Adds the lines of `hash` (16 hex) in bytes[0, used) with event time in [from, until) to `found` (each id once). */
function findIn(bytes: Buffer, used: number, hash: Uint8Array, from: number, until: number, found: Map<string, RecentPayment>): void {
  for (let p = 0; p < used; p = lineEnd(bytes, p)) {
    let same = true;
    for (let i = 0; i < 16 && same; i++) same = bytes[p + i] === hash[i];
    if (!same) continue;
    const at = readDigits(bytes, p + TIME, ID - TIME);
    const id = bytes.toString('latin1', p + ID, p + ID + 36);
    if (at < from || at >= until || found.has(id)) continue;
    const end = lineEnd(bytes, p);
    const text = bytes.toString('latin1', p + MERCHANT, end);
    found.set(id, {
      id,
      at,
      origin: iso(at),
      amount: readDigits(bytes, p + CENTS, CURRENCY - CENTS) / 100,
      currency: bytes.toString('latin1', p + CURRENCY, p + CURRENCY + 3),
      merchant: bytes[p + MERCHANT_KIND] === 0x68 ? Buffer.from(text, 'hex').toString('utf8') : text,
    });
  }
}

/** Why `bytes` are not whole lines of recent payments, or undefined. */
function linesProblem(bytes: Uint8Array): string | undefined {
  let p = 0;
  while (p < bytes.length) {
    if (p + MERCHANT > bytes.length) return `a line is cut at byte ${p}`;
    for (let i = p; i < p + MERCHANT_KIND; i++) {
      const x = bytes[i] as number;
      const isDigit = x >= 0x30 && x <= 0x39;
      const ok =
        i < p + TIME
          ? isDigit || (x >= 0x61 && x <= 0x66)
          : i >= p + ID && i < p + CENTS
            ? x >= 0x20 && x <= 0x7e
            : i >= p + CURRENCY && i < p + MERCHANT_LENGTH
              ? x >= 0x41 && x <= 0x5a
              : isDigit;
      if (!ok) return `byte ${i} is not what its field holds`;
    }
    const kind = bytes[p + MERCHANT_KIND];
    const length = readDigits(bytes, p + MERCHANT_LENGTH, 3);
    if ((kind !== 0x61 && kind !== 0x68) || length > MAX_MERCHANT || p + MERCHANT + length > bytes.length) return `the merchant field at byte ${p} is not one`;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + p + MERCHANT, length).toString('latin1');
    if (!(kind === 0x61 ? /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/ : /^([0-9a-f]{2})*$/).test(text))
      return `the merchant id at byte ${p} is not stored as its kind says`;
    p += MERCHANT + length;
  }
  return p === bytes.length ? undefined : 'the last line is cut';
}
