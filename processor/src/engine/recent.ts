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
    // Byte loops, no subarray or string write: per payment, those views and native calls cost
    // ~1.5 µs, more than the rest of a payment's processing (bench "card-status").
    const cardLength = cardEnd - cardAt;
    const merchantLength = merchantEnd - merchantAt;
    const b = this.#bucketOf(at);
    const c = b.room(FIXED_BYTES + cardLength + merchantLength);
    const out = b.chunks[c] as Buffer;
    let p = b.ends[c] as number;
    out[p++] = cardLength;
    for (let i = cardAt; i < cardEnd; i++) out[p++] = bytes[i] as number;
    p = out.writeDoubleLE(at, p);
    for (let i = idAt; i < idAt + ID_BYTES; i++) out[p++] = bytes[i] as number;
    p = out.writeDoubleLE(amount, p);
    out[p++] = currency.charCodeAt(0);
    out[p++] = currency.charCodeAt(1);
    out[p++] = currency.charCodeAt(2);
    out[p++] = merchantLength;
    for (let i = merchantAt; i < merchantEnd; i++) out[p++] = bytes[i] as number;
    b.ends[c] = p;
  }

  /** Records a payment given as strings (a record the scanner left to the decoder). */
  add(card: string, id: string, at: number, amount: number, currency: string, merchant: string): void {
    const merchantBytes = Buffer.from(merchant, 'utf8');
    const b = this.#bucketOf(at);
    const c = b.room(FIXED_BYTES + card.length + merchantBytes.length);
    const out = b.chunks[c] as Buffer;
    let p = b.ends[c] as number;
    out[p++] = card.length;
    p += out.write(card, p, 'latin1');
    p = out.writeDoubleLE(at, p);
    p += out.write(id, p, ID_BYTES, 'latin1');
    p = out.writeDoubleLE(amount, p);
    p += out.write(currency, p, 3, 'latin1');
    out[p++] = merchantBytes.length;
    merchantBytes.copy(out, p);
    b.ends[c] = p + merchantBytes.length;
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
      for (let c = 0; c < b.chunks.length; c++) findIn(b.chunks[c] as Buffer, b.ends[c] as number, card, from, until, found);
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
    // As a store reads it back (the base64 text), or as takeDirty/entries wrote it (that text's JSON bytes).
    const base64 = value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1').slice(1, -1) : value;
    if (!m || typeof base64 !== 'string') throw new EngineStateError(`state entry ${key} is not a part of the recent payments`);
    let clear: Buffer;
    try {
      clear = this.#sealer.open(Buffer.from(base64, 'base64'));
    } catch {
      throw new EngineStateError(`state entry ${key} cannot be opened with this processor's card key (sealed with another key, or damaged)`);
    }
    checkEntries(key, clear);
    const start = Number(m[1]);
    const part = Number(m[2]);
    const b = this.#bucket(start);
    b.addStored(clear);
    b.keys.push(key);
    if (part >= this.#nextPart) this.#nextPart = part + 1;
  }

  /** Every bucket as one stored part (a state written whole; see discardDirty). */
  *entries(): IterableIterator<[string, Uint8Array]> {
    for (const start of this.#starts) {
      const b = this.#buckets.get(start) as Bucket;
      if (b.used > 0) yield [recentKey(start, WHOLE_PART), this.#sealed(b.all())];
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
      out.push([key, this.#sealed(b.unstored())]);
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

  /**
   * The stored value of a part: the JSON text of its seal's base64, as bytes (the store writes
   * them as they are). Made here rather than by JSON.stringify and the store's UTF-8 encoding of a
   * MB-long string: those two cost as much again as the seal (bench "card-status").
   */
  #sealed(clear: Uint8Array): Uint8Array {
    const base64 = this.#sealer.seal(clear).toString('base64');
    const json = Buffer.allocUnsafe(base64.length + 2);
    json[0] = 0x22;
    json.write(base64, 1, 'latin1');
    json[json.length - 1] = 0x22;
    return json;
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

/** Adds the entries of `card` in bytes[0, used) with event time in [from, until) to `found` (each id once). */
function findIn(bytes: Buffer, used: number, card: Uint8Array, from: number, until: number, found: Map<string, RecentPayment>): void {
  for (let p = 0; p < used;) {
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
