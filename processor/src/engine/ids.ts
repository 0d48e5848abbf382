/**
 * Deterministic event ids (UUID v5), so a record re-emitted after a restart carries the same id
 * and downstream can drop the duplicate. Changing a namespace changes every id: never do it.
 */
import { parse, v5 } from 'uuid';
import { iso } from './types.js';

export const ALERT_ID_NAMESPACE = 'e6eaa71e-fecd-401b-86bb-1aebecd2802f';
export const SUMMARY_ID_NAMESPACE = '13ed46de-292e-46d8-b5e6-04a6165f5025';

// Parsed once: v5 re-parses and re-validates a string namespace on every call.
const ALERT_NS_BYTES = parse(ALERT_ID_NAMESPACE);
const SUMMARY_NS_BYTES = parse(SUMMARY_ID_NAMESPACE);

/** One alert per payment: its id derives from the payment's event_id alone. */
export function alertEventId(paymentEventId: string): string {
  return v5(paymentEventId, ALERT_NS_BYTES);
}

/** One summary per (card, window end); `windowEnd` as ms or as its ISO string. */
export function summaryEventId(cardNumber: string, windowEnd: number | string): string {
  // Bytes, not a string: uuid's own UTF-8 conversion is slower than Buffer's (hot in a catch-up).
  const name = `${cardNumber}/${typeof windowEnd === 'number' ? iso(windowEnd) : windowEnd}`;
  return v5(Buffer.from(name, 'utf8'), SUMMARY_NS_BYTES);
}
