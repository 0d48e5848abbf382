/**
 * Deterministic event ids (UUID v5), so a record re-emitted after a restart carries the same id
 * and downstream can drop the duplicate. Changing a namespace changes every id: never do it.
 */
import { parse } from 'uuid';
import { iso } from './types.js';

export const ALERT_ID_NAMESPACE = 'e6eaa71e-fecd-401b-86bb-1aebecd2802f';
export const SUMMARY_ID_NAMESPACE = '13ed46de-292e-46d8-b5e6-04a6165f5025';

// Parsed once: v5 re-parses and re-validates a string namespace on every call.
const ALERT_NS_BYTES = Uint8Array.from(parse(ALERT_ID_NAMESPACE));
const SUMMARY_NS_BYTES = Uint8Array.from(parse(SUMMARY_ID_NAMESPACE));

/**
 * RFC 9562 UUID v5 (SHA-1 of namespace + name, version and variant bits set), exactly as uuid's
 * v5 computes it (summaries.test.ts compares the two). SHA-1 is written out here, over one shared
 * buffer, because ids are one per alert and per summary: node:crypto's one-shot hash cost ~0.8 µs
 * an id and ~600 bytes of garbage (the call, a hex string, its slices), about a tenth of what the
 * processor allocated per record; this costs a fraction of that and allocates only the id string.
 */
let message = Buffer.allocUnsafeSlow(256) as Buffer & { latin1Slice(start: number, end: number): string };
const schedule = new Int32Array(80);
const digest = new Int32Array(5);
const text = Buffer.allocUnsafeSlow(36) as Buffer & { latin1Slice(start: number, end: number): string };
const HEX_DIGITS = Uint8Array.from(Buffer.from('0123456789abcdef', 'latin1'));

/** Room for a message of `n` bytes and its padding (up to 72 more). */
function ensureRoom(n: number): void {
  if (n > 1 << 28) throw new RangeError(`an id's name of ${n} bytes`);
  if (message.length >= n + 72) return;
  // A name is written in parts (card, '/', time): the parts already written move along.
  const grown = Buffer.allocUnsafeSlow(2 * (n + 72)) as typeof message;
  message.copy(grown);
  message = grown;
}

/** Writes `s` at `at` in `message` as UTF-8; returns the end. */
function writeName(s: string, at: number): number {
  ensureRoom(at + 3 * s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Ids are built from ASCII (digits, UUIDs, ISO instants); anything else goes through UTF-8.
    if (c > 0x7f) return at + message.write(s, at, 'utf8');
    message[at + i] = c;
  }
  return at + s.length;
}

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/** SHA-1 (FIPS 180-4) of message[0, length) into `digest`. Overwrites the padding bytes after it. */
function sha1(length: number): void {
  const m = message;
  const w = schedule;
  // Padding: 0x80, zeros, then the length in bits as a big-endian 64-bit number.
  const blocks = ((length + 8) >>> 6) + 1;
  const end = blocks * 64;
  m[length] = 0x80;
  for (let i = length + 1; i < end - 4; i++) m[i] = 0;
  // Messages are far below 2^29 bytes: the length in bits fits the last 32 bits.
  const bits = length * 8;
  m[end - 4] = bits >>> 24;
  m[end - 3] = bits >>> 16;
  m[end - 2] = bits >>> 8;
  m[end - 1] = bits;
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
      const t = (rotl(a, 5) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]!) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    for (let i = 20; i < 40; i++) {
      const t = (rotl(a, 5) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]!) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    for (let i = 40; i < 60; i++) {
      const t = (rotl(a, 5) + ((b & c) | (b & d) | (c & d)) + e - 0x70e44324 + w[i]!) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    for (let i = 60; i < 80; i++) {
      const t = (rotl(a, 5) + (b ^ c ^ d) + e - 0x359d3e2a + w[i]!) | 0;
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
  digest[0] = h0;
  digest[1] = h1;
  digest[2] = h2;
  digest[3] = h3;
  digest[4] = h4;
}

/** Byte `i` (0..15) of the digest. */
const digestByte = (i: number): number => (digest[i >>> 2]! >>> (24 - 8 * (i & 3))) & 0xff;

/** The UUID of namespace + the name already written at message[16, nameEnd). */
function v5(namespace: Uint8Array, nameEnd: number): string {
  message.set(namespace, 0);
  sha1(nameEnd);
  let at = 0;
  for (let i = 0; i < 16; i++) {
    let byte = digestByte(i);
    if (i === 6) byte = (byte & 0x0f) | 0x50; // version 5
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // variant 10xx
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d;
    text[at++] = HEX_DIGITS[byte >>> 4]!;
    text[at++] = HEX_DIGITS[byte & 0x0f]!;
  }
  return text.latin1Slice(0, 36);
}

/** One alert per payment: its id derives from the payment's event_id alone. */
export function alertEventId(paymentEventId: string): string {
  return v5(ALERT_NS_BYTES, writeName(paymentEventId, 16));
}

/** One summary per (card, window end); `windowEnd` as ms or as its ISO string: the name is `card/windowEnd`. */
export function summaryEventId(cardNumber: string, windowEnd: number | string): string {
  let end = writeName(cardNumber, 16);
  end = writeName('/', end);
  end = writeName(typeof windowEnd === 'number' ? iso(windowEnd) : windowEnd, end);
  return v5(SUMMARY_NS_BYTES, end);
}
