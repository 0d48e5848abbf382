/**
 * Deterministic event ids (UUID v5), so a record re-emitted after a restart carries the same id
 * and downstream can drop the duplicate. Changing a namespace changes every id: never do it.
 */
import { hash } from 'node:crypto';
import { parse } from 'uuid';
import { iso } from './types.js';

export const ALERT_ID_NAMESPACE = 'e6eaa71e-fecd-401b-86bb-1aebecd2802f';
export const SUMMARY_ID_NAMESPACE = '13ed46de-292e-46d8-b5e6-04a6165f5025';

// Parsed once: v5 re-parses and re-validates a string namespace on every call.
const ALERT_NS_BYTES = Buffer.from(parse(ALERT_ID_NAMESPACE));
const SUMMARY_NS_BYTES = Buffer.from(parse(SUMMARY_ID_NAMESPACE));

/**
 * RFC 9562 UUID v5 (SHA-1 of namespace + name, version and variant bits set), exactly as uuid's
 * v5 computes it, with one one-shot hash call instead of a Hash object per id: ids are a large
 * share of a catch-up that emits millions of summaries (see docs/benchmarks.md).
 */
/** Namespace + name are written here (names are short: a card and an instant, or a UUID). */
const scratch = Buffer.allocUnsafeSlow(16 + 256);

function v5(name: string, namespace: Buffer): string {
  let input: Buffer;
  if (name.length <= 64) {
    // One shared buffer: no allocation per id (ids are computed once per alert and summary).
    namespace.copy(scratch, 0);
    const n = scratch.write(name, 16, 'utf8');
    input = scratch.subarray(0, 16 + n);
  } else {
    const nameBytes = Buffer.from(name, 'utf8');
    input = Buffer.concat([namespace, nameBytes]);
  }
  // Hex output: asking crypto.hash for a Buffer took ~3x as long (its encoding check is slow).
  const x = hash('sha1', input, 'hex');
  // Version 5 in the 13th hex digit; variant 10xx in the high bits of the 17th.
  const variant = VARIANT_DIGIT[x.charCodeAt(16)] as string;
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-5${x.slice(13, 16)}-${variant}${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

/** Hex digit (by char code) → the same digit with its top two bits set to 10. */
const VARIANT_DIGIT: string[] = [];
for (const d of '0123456789abcdef') VARIANT_DIGIT[d.charCodeAt(0)] = ((parseInt(d, 16) & 0x3) | 0x8).toString(16);

/** One alert per payment: its id derives from the payment's event_id alone. */
export function alertEventId(paymentEventId: string): string {
  return v5(paymentEventId, ALERT_NS_BYTES);
}

/** One summary per (card, window end); `windowEnd` as ms or as its ISO string. */
export function summaryEventId(cardNumber: string, windowEnd: number | string): string {
  return v5(`${cardNumber}/${typeof windowEnd === 'number' ? iso(windowEnd) : windowEnd}`, SUMMARY_NS_BYTES);
}
