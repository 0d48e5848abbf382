/**
 * Deterministic event ids (UUID v5), so a record re-emitted after a restart carries the same id
 * and downstream can drop the duplicate. Changing a namespace changes every id: never do it.
 *
 * alertEventId and summaryEventId are the definition (uuid's v5); EventIds computes the same ids
 * on the engine's hot path, tested against them (test/engine/ids.test.ts).
 */
import { parse, v5 } from 'uuid';
import { iso } from './time.js';

export const ALERT_ID_NAMESPACE = 'e6eaa71e-fecd-401b-86bb-1aebecd2802f';
export const SUMMARY_ID_NAMESPACE = '13ed46de-292e-46d8-b5e6-04a6165f5025';

/** One alert per payment: its id derives from the payment's event_id alone. */
export function alertEventId(paymentEventId: string): string {
  return v5(paymentEventId, ALERT_ID_NAMESPACE);
}

/**
 * One summary per (card, window end); `windowEnd` as ms or as its ISO string: the name is
 * `cardToken/windowEnd`. From the token, not the card number: an unkeyed hash of a card number
 * and a known time is the number again after a few million guesses.
 */
export function summaryEventId(cardToken: string, windowEnd: number | string): string {
  return v5(`${cardToken}/${typeof windowEnd === 'number' ? iso(windowEnd) : windowEnd}`, SUMMARY_ID_NAMESPACE);
}

const HEX_DIGITS = '0123456789abcdef';
const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

// Kept hand-written: uuid's v5 (node:crypto's SHA-1) on this path costs +36 % CPU per payment (28-44 %, throughput workload).
/**
 * alertEventId and summaryEventId, exactly, with SHA-1 (FIPS 180-4) written out over buffers this
 * object owns (one per engine): node:crypto's hash object, its digest and uuid's byte arrays cost
 * about four times as much an id (micro: ~2 µs against ~0.5 µs), and there is an id per alert and
 * per summary.
 */
export class EventIds {
  readonly #alertNs = parse(ALERT_ID_NAMESPACE);
  readonly #summaryNs = parse(SUMMARY_ID_NAMESPACE);
  /** Namespace, name, then SHA-1's padding; grown for a long name. */
  #message = Buffer.alloc(256);
  readonly #schedule = new Int32Array(80);
  readonly #digest = new Int32Array(5);
  readonly #text = Buffer.alloc(36);

  alert(paymentEventId: string): string {
    return this.#v5(this.#alertNs, this.#write(paymentEventId, 16));
  }

  summary(cardToken: string, windowEnd: number | string): string {
    const end = this.#write('/', this.#write(cardToken, 16));
    return this.#v5(this.#summaryNs, this.#write(typeof windowEnd === 'number' ? iso(windowEnd) : windowEnd, end));
  }

  /** Writes `s` at `at` as UTF-8, with room for SHA-1's padding after it; returns the end. */
  #write(s: string, at: number): number {
    const need = at + 3 * s.length + 72;
    if (need > 1 << 28) throw new RangeError(`an id's name of ${need} bytes`);
    if (this.#message.length < need) {
      // A name is written in parts (card, '/', time): the parts already written move along.
      const grown = Buffer.alloc(2 * need);
      this.#message.copy(grown);
      this.#message = grown;
    }
    const m = this.#message;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      // Ids are built from ASCII (tokens, UUIDs, ISO instants); anything else goes through UTF-8.
      if (c > 0x7f) return at + m.write(s, at, 'utf8');
      m[at + i] = c;
    }
    return at + s.length;
  }

  /** The UUID of `namespace` + the name already written at message[16, nameEnd). */
  #v5(namespace: Uint8Array, nameEnd: number): string {
    this.#message.set(namespace, 0);
    this.#sha1(nameEnd);
    const d = this.#digest;
    const text = this.#text;
    let at = 0;
    for (let i = 0; i < 16; i++) {
      let byte = (d[i >>> 2]! >>> (24 - 8 * (i & 3))) & 0xff;
      if (i === 6)
        byte = (byte & 0x0f) | 0x50; // version 5
      else if (i === 8) byte = (byte & 0x3f) | 0x80; // variant 10xx
      if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d;
      text[at++] = HEX_DIGITS.charCodeAt(byte >>> 4);
      text[at++] = HEX_DIGITS.charCodeAt(byte & 0x0f);
    }
    return text.toString('latin1', 0, 36);
  }

  /** SHA-1 of message[0, length) into the digest. Overwrites the padding bytes after it. */
  #sha1(length: number): void {
    const m = this.#message;
    const w = this.#schedule;
    // Padding: 0x80, zeros, then the length in bits as a big-endian 64-bit number.
    const end = (((length + 8) >>> 6) + 1) * 64;
    m[length] = 0x80;
    m.fill(0, length + 1, end - 4);
    // Messages are below 2^28 bytes: the length in bits fits the last 32 bits.
    m.writeUInt32BE(length * 8, end - 4);
    let h0 = 0x67452301;
    let h1 = 0xefcdab89 | 0;
    let h2 = 0x98badcfe | 0;
    let h3 = 0x10325476;
    let h4 = 0xc3d2e1f0 | 0;
    for (let block = 0; block < end; block += 64) {
      for (let i = 0; i < 16; i++) {
        const j = block + 4 * i;
        w[i] = (m[j]! << 24) | (m[j + 1]! << 16) | (m[j + 2]! << 8) | m[j + 3]!;
      }
      for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!, 1);
      let a = h0;
      let b = h1;
      let c = h2;
      let d = h3;
      let e = h4;
      // The four rounds of twenty, each with its own function and constant.
      for (let i = 0; i < 20; i++) {
        const t = (rotl(a, 5) + ((b & c) | (~b & d)) + 0x5a827999 + e + w[i]!) | 0;
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = t;
      }
      for (let i = 20; i < 40; i++) {
        const t = (rotl(a, 5) + (b ^ c ^ d) + 0x6ed9eba1 + e + w[i]!) | 0;
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = t;
      }
      for (let i = 40; i < 60; i++) {
        const t = (rotl(a, 5) + ((b & c) | (b & d) | (c & d)) - 0x70e44324 + e + w[i]!) | 0;
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = t;
      }
      for (let i = 60; i < 80; i++) {
        const t = (rotl(a, 5) + (b ^ c ^ d) - 0x359d3e2a + e + w[i]!) | 0;
        e = d;
        d = c;
        c = rotl(b, 30);
        b = a;
        a = t;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
    }
    const digest = this.#digest;
    digest[0] = h0;
    digest[1] = h1;
    digest[2] = h2;
    digest[3] = h3;
    digest[4] = h4;
  }
}
