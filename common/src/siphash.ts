/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit pseudorandom function, the hash of a
 * card number that the processor's record of recent payments keeps instead of the number. Like a
 * card token it is a keyed cryptographic hash of the whole PAN (PCI DSS 3.5.1.1), but it costs
 * ~0.1 µs where an HMAC-SHA-256 through node:crypto costs ~2 µs, and the record takes one per
 * payment (bench "card-status"). Hand-written: no maintained package hashes a byte range without
 * copying it into a string first. Checked against the reference implementation's test vectors
 * (common/test/siphash.test.ts).
 *
 * 64-bit words are kept as two 32-bit halves; every operation below is the reference one on them.
 */

/** A SipHash key: 16 bytes, as four little-endian 32-bit words. */
export type SipKey = Uint32Array;

export function sipKeyOf(bytes: Uint8Array): SipKey {
  if (bytes.length !== 16) throw new RangeError('a SipHash key is 16 bytes');
  const k = new Uint32Array(4);
  for (let i = 0; i < 4; i++) k[i] = (bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)) >>> 0;
  return k;
}

/** The last hash's low 32 bits (sipHash64 returns the high ones; read this right after). */
export let sipLow = 0;

/**
 * SipHash-2-4 of bytes[start, end) under `key`: returns the high 32 bits; the low ones are in
 * `sipLow`. One function with the state v0..v3 as eight locals, every value a signed 32-bit
 * integer and each carry found by bit logic: state in module variables (context slots) made a
 * hash ~0.56 µs, in a typed array between helper calls ~0.1 µs, and this ~10 % less again.
 */
export function sipHash64(key: SipKey, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let v0h = key[1]! ^ 0x736f6d65;
  let v0l = key[0]! ^ 0x70736575;
  let v1h = key[3]! ^ 0x646f7261;
  let v1l = key[2]! ^ 0x6e646f6d;
  let v2h = key[1]! ^ 0x6c796765;
  let v2l = key[0]! ^ 0x6e657261;
  let v3h = key[3]! ^ 0x74656462;
  let v3l = key[2]! ^ 0x79746573;
  const n = end - start;
  const whole = start + (n & ~7);
  // The message words, the last one (remaining bytes, length in its top byte) included; then the
  // finalisation as one more step of 4 rounds.
  const words = (whole - start) / 8 + 1;
  let p = start;
  let mh = 0;
  let ml = 0;
  for (let w = 0; w <= words; w++) {
    let rounds = 4;
    if (w < words) {
      if (p < whole) {
        ml = bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24);
        mh = bytes[p + 4]! | (bytes[p + 5]! << 8) | (bytes[p + 6]! << 16) | (bytes[p + 7]! << 24);
        p += 8;
      } else {
        ml = 0;
        mh = (n & 0xff) << 24;
        for (let i = 0; p + i < end; i++) {
          const b = bytes[p + i]!;
          if (i < 4) ml |= b << (8 * i);
          else mh |= b << (8 * (i - 4));
        }
      }
      v3h ^= mh;
      v3l ^= ml;
      rounds = 2;
    } else v2l ^= 0xff;
    for (let r = 0; r < rounds; r++) {
      // A 64-bit add: the low halves' sum, and its carry (the top bit of (a & b) | ((a | b) & ~sum)).
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      let l = (v0l + v1l) | 0;
      v0h = (v0h + v1h + (((v0l & v1l) | ((v0l | v1l) & ~l)) >>> 31)) | 0;
      v0l = l;
      let h = v1h;
      v1h = (h << 13) | (v1l >>> 19);
      v1l = (v1l << 13) | (h >>> 19);
      v1h ^= v0h;
      v1l ^= v0l;
      h = v0h;
      v0h = v0l;
      v0l = h;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      l = (v2l + v3l) | 0;
      v2h = (v2h + v3h + (((v2l & v3l) | ((v2l | v3l) & ~l)) >>> 31)) | 0;
      v2l = l;
      h = v3h;
      v3h = (h << 16) | (v3l >>> 16);
      v3l = (v3l << 16) | (h >>> 16);
      v3h ^= v2h;
      v3l ^= v2l;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      l = (v0l + v3l) | 0;
      v0h = (v0h + v3h + (((v0l & v3l) | ((v0l | v3l) & ~l)) >>> 31)) | 0;
      v0l = l;
      h = v3h;
      v3h = (h << 21) | (v3l >>> 11);
      v3l = (v3l << 21) | (h >>> 11);
      v3h ^= v0h;
      v3l ^= v0l;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      l = (v2l + v1l) | 0;
      v2h = (v2h + v1h + (((v2l & v1l) | ((v2l | v1l) & ~l)) >>> 31)) | 0;
      v2l = l;
      h = v1h;
      v1h = (h << 17) | (v1l >>> 15);
      v1l = (v1l << 17) | (h >>> 15);
      v1h ^= v2h;
      v1l ^= v2l;
      h = v2h;
      v2h = v2l;
      v2l = h;
    }
    if (w < words) {
      v0h ^= mh;
      v0l ^= ml;
    }
  }
  sipLow = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  return (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
}
