/**
 * The shard's record of recent payments, of every card: what a STOLEN report needs to alert the
 * payments its card made before the report was read (retroactive alerts, docs/semantics.md). Kept
 * for RETRO_ALERT_MS of stream time, in event-time buckets, purged by bucket.
 *
 * A payment of a card not (yet) stolen is never turned into objects: its fields are copied as
 * bytes from the record into the bucket's buffer, one entry after another:
 *   u8 card length, card digits (ASCII), f64 event time, event id (36 ASCII), f64 amount,
 *   currency (3 ASCII), u8 merchant length, merchant id (UTF-8).
 * A report reads its card's entries back by comparing digits; reports are rare, payments are not.
 *
 * The card numbers here never leave the process in clear: each stored part is sealed (AES-256-GCM,
 * Sealer) before it is written, `recent/<bucketStart>/<part>` → base64 of the sealed bytes. A
 * split gives every child all of its parent's parts (the card of an entry is only known by its
 * number, whose hash key is not worth computing per payment): a report reaches only the child that
 * owns its card, so the copies elsewhere are never matched, only purged with their bucket.
 */
import { EngineStateError } from './errors.js';
import { padTime } from './codec.js';
import { floorTo, iso } from './time.js';

/** Seals stored parts: the processor's CardTokenizer (common/src/card-token.ts). */
export interface Sealer {
  seal(clear: Uint8Array): Buffer;
  /** Throws when `sealed` is not one of this key's seals, intact. */
  open(sealed: Uint8Array): Buffer;
}

export const RECENT_KEY_PREFIX = 'recent/';
export const RECENT_KEY = /^recent\/(\d{13})\/(\d{13})$/;
export const recentKey = (bucket: number, part: number): string => `${RECENT_KEY_PREFIX}${padTime(bucket)}/${padTime(part)}`;
/** The part number of a bucket written whole (entries()); commits number theirs from 1. */
const WHOLE_PART = 0;
/** An entry's bytes besides its card and merchant: lengths, time, id, amount, currency. */
const FIXED_BYTES = 1 + 8 + 36 + 8 + 3 + 1;
const ID_BYTES = 36;

/** A payment as a report reads it back from the record. */
export interface RecentPayment {
  id: string;
  at: number;
  origin: string;
  amount: number;
  currency: string;
  merchant: string;
}

class Bucket {
  bytes = Buffer.allocUnsafe(16 * 1024);
  used = 0;
  /** Bytes up to here are in the store already. */
  stored = 0;
  /** The stored keys holding this bucket's parts (deleted when it is purged). */
  keys: string[] = [];

  reserve(n: number): void {
    if (this.used + n <= this.bytes.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + n));
    this.bytes.copy(bigger, 0, 0, this.used);
    this.bytes = bigger;
  }
}

export class RecentPayments {
  readonly #bucketMs: number;
  readonly #sealer: Sealer;
  /** Bucket start → bucket, ascending (buckets are created in any order; kept sorted on insert). */
  readonly #buckets = new Map<number, Bucket>();
  #starts: number[] = [];
  #purged: string[] = [];
  #nextPart = WHOLE_PART + 1;

  constructor(bucketMs: number, sealer: Sealer) {
    this.#bucketMs = bucketMs;
    this.#sealer = sealer;
  }

  /** Bytes of payments held (payments are not counted: it would cost per payment). */
  get bytes(): number {
    let n = 0;
    for (const b of this.#buckets.values()) n += b.used;
    return n;
  }

  /**
   * Records a payment read from the ASCII of its record: the card in bytes[cardAt, cardEnd), the
   * id at idAt (36 bytes), the merchant id in bytes[merchantAt, merchantEnd) (printable ASCII).
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
    const cardLength = cardEnd - cardAt;
    const merchantLength = merchantEnd - merchantAt;
    const b = this.#bucketOf(at);
    b.reserve(FIXED_BYTES + cardLength + merchantLength);
    const out = b.bytes;
    let p = b.used;
    out[p++] = cardLength;
    out.set(bytes.subarray(cardAt, cardEnd), p);
    p = out.writeDoubleLE(at, p + cardLength);
    out.set(bytes.subarray(idAt, idAt + ID_BYTES), p);
    p = out.writeDoubleLE(amount, p + ID_BYTES);
    p += out.write(currency, p, 3, 'latin1');
    out[p++] = merchantLength;
    out.set(bytes.subarray(merchantAt, merchantEnd), p);
    b.used = p + merchantLength;
  }

  /** Records a payment given as strings (a record the scanner left to the decoder). */
  add(card: string, id: string, at: number, amount: number, currency: string, merchant: string): void {
    const merchantBytes = Buffer.from(merchant, 'utf8');
    const b = this.#bucketOf(at);
    b.reserve(FIXED_BYTES + card.length + merchantBytes.length);
    const out = b.bytes;
    let p = b.used;
    out[p++] = card.length;
    p += out.write(card, p, 'latin1');
    p = out.writeDoubleLE(at, p);
    p += out.write(id, p, ID_BYTES, 'latin1');
    p = out.writeDoubleLE(amount, p);
    p += out.write(currency, p, 3, 'latin1');
    out[p++] = merchantBytes.length;
    merchantBytes.copy(out, p);
    b.used = p + merchantBytes.length;
  }

  /**
   * The recorded payments of the card whose number is `card` (ASCII digits) with event time in
   * [from, until), each id once, in event-time order (ties by id).
   */
  find(card: Uint8Array, from: number, until: number): RecentPayment[] {
    const found = new Map<string, RecentPayment>();
    for (const start of this.#starts) {
      if (start + this.#bucketMs <= from || start >= until) continue;
      const b = this.#buckets.get(start) as Bucket;
      const bytes = b.bytes;
      for (let p = 0; p < b.used;) {
        const cardLength = bytes[p] as number;
        const atAt = p + 1 + cardLength;
        const merchantLength = bytes[atAt + 8 + ID_BYTES + 8 + 3] as number;
        const next = atAt + 8 + ID_BYTES + 8 + 3 + 1 + merchantLength;
        if (cardLength === card.length && sameBytes(bytes, p + 1, card)) {
          const at = bytes.readDoubleLE(atAt);
          const idAt = atAt + 8;
          const id = bytes.toString('latin1', idAt, idAt + ID_BYTES);
          if (at >= from && at < until && !found.has(id)) {
            const amountAt = idAt + ID_BYTES;
            found.set(id, {
              id,
              at,
              origin: iso(at),
              amount: bytes.readDoubleLE(amountAt),
              currency: bytes.toString('latin1', amountAt + 8, amountAt + 11),
              merchant: bytes.toString('utf8', amountAt + 12, next),
            });
          }
        }
        p = next;
      }
    }
    return [...found.values()].sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Drops every bucket that ends at or before `cutoff` (no report can reach back to it). */
  purgeBefore(cutoff: number): void {
    while (this.#starts.length > 0 && (this.#starts[0] as number) + this.#bucketMs <= cutoff) {
      const start = this.#starts.shift() as number;
      this.#purged.push(...(this.#buckets.get(start) as Bucket).keys);
      this.#buckets.delete(start);
    }
  }

  /** Takes back one stored part, sealed (any order; a restore reads them as stored). */
  restore(key: string, value: unknown): void {
    const m = RECENT_KEY.exec(key);
    if (!m || typeof value !== 'string') throw new EngineStateError(`state entry ${key} is not a part of the recent payments`);
    let clear: Buffer;
    try {
      clear = this.#sealer.open(Buffer.from(value, 'base64'));
    } catch {
      throw new EngineStateError(`state entry ${key} cannot be opened with this processor's card key (sealed with another key, or damaged)`);
    }
    checkEntries(key, clear);
    const start = Number(m[1]);
    const part = Number(m[2]);
    const b = this.#bucket(start);
    b.reserve(clear.length);
    clear.copy(b.bytes, b.used);
    b.used += clear.length;
    b.stored = b.used;
    b.keys.push(key);
    if (part >= this.#nextPart) this.#nextPart = part + 1;
  }

  /** Every bucket as one stored part (a state written whole; see discardDirty). */
  *entries(): IterableIterator<[string, string]> {
    for (const start of this.#starts) {
      const b = this.#buckets.get(start) as Bucket;
      if (b.used > 0) yield [recentKey(start, WHOLE_PART), this.#sealed(b.bytes.subarray(0, b.used))];
    }
  }

  /** Parts written since the last call (one per bucket that grew), and the keys of purged buckets. */
  takeDirty(): [string, string | undefined][] {
    const out: [string, string | undefined][] = this.#purged.map((key) => [key, undefined]);
    this.#purged = [];
    let part: number | undefined;
    for (const start of this.#starts) {
      const b = this.#buckets.get(start) as Bucket;
      if (b.used === b.stored) continue;
      part ??= this.#nextPart++;
      const key = recentKey(start, part);
      out.push([key, this.#sealed(b.bytes.subarray(b.stored, b.used))]);
      b.stored = b.used;
      b.keys.push(key);
    }
    return out;
  }

  /** Forgets the changes since the last takeDirty: each bucket is stored as entries()' one part from now on. */
  discardDirty(): void {
    this.#purged = [];
    for (const [start, b] of this.#buckets) {
      b.stored = b.used;
      b.keys = b.used > 0 ? [recentKey(start, WHOLE_PART)] : [];
    }
  }

  #sealed(clear: Uint8Array): string {
    return this.#sealer.seal(clear).toString('base64');
  }

  #bucketOf(at: number): Bucket {
    return this.#bucket(floorTo(at, this.#bucketMs));
  }

  #bucket(start: number): Bucket {
    let b = this.#buckets.get(start);
    if (b === undefined) {
      b = new Bucket();
      this.#buckets.set(start, b);
      let i = this.#starts.length;
      while (i > 0 && (this.#starts[i - 1] as number) > start) i--;
      this.#starts.splice(i, 0, start);
    }
    return b;
  }
}

function sameBytes(bytes: Uint8Array, at: number, card: Uint8Array): boolean {
  for (let i = 0; i < card.length; i++) if (bytes[at + i] !== card[i]) return false;
  return true;
}

/** Throws unless `clear` is a whole number of entries (the seal vouches for the rest). */
function checkEntries(key: string, clear: Buffer): void {
  let p = 0;
  while (p < clear.length) {
    const cardLength = clear[p] as number;
    const merchantAt = p + 1 + cardLength + 8 + ID_BYTES + 8 + 3;
    if (merchantAt >= clear.length) break;
    p = merchantAt + 1 + (clear[merchantAt] as number);
  }
  if (p !== clear.length) throw new EngineStateError(`state entry ${key} does not hold whole recent payments`);
}
