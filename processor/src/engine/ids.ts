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
  const h = hash('sha1', input, 'buffer') as unknown as Buffer;
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.toString('hex', 0, 16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** One alert per payment: its id derives from the payment's event_id alone. */
export function alertEventId(paymentEventId: string): string {
  return v5(paymentEventId, ALERT_NS_BYTES);
}

/** One summary per (card, window end); `windowEnd` as ms or as its ISO string. */
export function summaryEventId(cardNumber: string, windowEnd: number | string): string {
  return v5(`${cardNumber}/${typeof windowEnd === 'number' ? iso(windowEnd) : windowEnd}`, SUMMARY_NS_BYTES);
}
