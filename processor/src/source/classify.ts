/**
 * What the processor does with one input record: process it (a valid PAYMENT_EVENT), skip it
 * (any other valid event, e.g. our own alerts), or reject it with a stable reason. Rejection never
 * throws and never blocks the shard: the record becomes a PAYMENT_EVENT_REJECTED event.
 */
import type { _Record } from '@aws-sdk/client-kinesis';
import { v5 as uuidv5 } from 'uuid';
import { decodeRecord, MAX_RAW_CHARS, type PaymentEvent, type PaymentRejectReason, type RejectedEvent } from '../../../common/src/events.js';
import { scanPayment } from '../../../common/src/payment-fast-path.js';
import type { StolenCards } from './stolen-cards.js';

type ProcessorRejectReason = PaymentRejectReason;

/** Events stamped further ahead than this are refused: they would drag the watermark forward. */
export const MAX_FUTURE_MS = 24 * 3_600_000;

export type Classified =
  | { kind: 'payment'; event: PaymentEvent; eventTimeMs: number }
  /** A valid payment of a card not in `options.stolen` (only when that is given): its time is all that counts. One shared object. */
  | { kind: 'not_stolen'; eventTimeMs: number }
  | { kind: 'skip'; eventType: string }
  | { kind: 'reject'; reason: ProcessorRejectReason; detail: string };

/** Which field a zod detail complains about decides the finer reason. */
function refine(reason: 'bad_envelope' | 'bad_data', detail: string): ProcessorRejectReason {
  if (/(^|; )event_date_origin:/.test(detail)) return 'bad_event_time';
  if (/(^|; )card_number:/.test(detail)) return 'bad_card_number';
  if (/(^|; )amount:/.test(detail)) return 'bad_amount';
  return reason;
}

/**
 * How the output events our producers write begin (JSON.stringify puts event_type first). The
 * processor reads its own alerts and summaries back from the shared stream; validating one cost
 * ~15-22 µs (a summary lists up to 100 UUIDs), many times a payment's cost, for a record it only
 * skips. So a record that opens as one of them is skipped on its first bytes; the warehouse
 * stand-in still validates everything it lands.
 */
const OUTPUT_PREFIXES = (['PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY', 'PAYMENT_EVENT_REJECTED'] as const).map(
  (eventType) => [eventType, Buffer.from(`{"event_type":"${eventType}","`, 'latin1')] as const,
);

function outputTypeOf(data: Uint8Array): string | undefined {
  // Every prefix has a 'P' here (…"event_type":"P…): one byte rules out most other records.
  if (data[15] !== 0x50) return undefined;
  for (const [eventType, prefix] of OUTPUT_PREFIXES) {
    if (data.byteLength < prefix.length) continue;
    let i = 0;
    while (i < prefix.length && data[i] === prefix[i]) i++;
    if (i === prefix.length) return eventType;
  }
  return undefined;
}

/**
 * The one `not_stolen` result, reused by every call: it is valid until the next one. Nine records
 * in ten end here, and a fresh object each (with its boxed time) was 56 of the ~700 bytes the
 * processor allocated per record (docs/benchmarks.md).
 */
const NOT_STOLEN: { kind: 'not_stolen'; eventTimeMs: number } = { kind: 'not_stolen', eventTimeMs: 0 };

function notStolen(eventTimeMs: number): Classified {
  NOT_STOLEN.eventTimeMs = eventTimeMs;
  return NOT_STOLEN;
}

export interface ClassifyOptions {
  maxRecordBytes: number;
  nowMs: number;
  /**
   * The stolen cards. When given, a payment is `payment` only if its card is stolen, else
   * `not_stolen`, and a canonical payment of another card is never turned into strings and objects
   * (nine payments in ten; they were most of what the processor allocated).
   */
  stolen?: StolenCards;
}

/** What to do with `data`. A `not_stolen` result is shared: read it before the next call. */
export function classifyRecord(data: Uint8Array, options: ClassifyOptions): Classified {
  if (data.byteLength > options.maxRecordBytes) {
    return { kind: 'reject', reason: 'oversized', detail: `${data.byteLength} bytes; the limit is ${options.maxRecordBytes}` };
  }
  const stolen = options.stolen;
  if (stolen) {
    // First, as most records are canonical payments (an output record fails its first words).
    const scan = scanPayment(data);
    // A time too far ahead is left to the general path below, which rejects it with its detail.
    if (scan && scan.eventTimeMs <= options.nowMs + MAX_FUTURE_MS) {
      const eventTimeMs = scan.eventTimeMs;
      if (!scan.cardMayBeIn(stolen) || !scan.cardIsIn(stolen)) return notStolen(eventTimeMs);
      return { kind: 'payment', event: scan.event(), eventTimeMs };
    }
  }
  const outputType = outputTypeOf(data);
  if (outputType !== undefined) return { kind: 'skip', eventType: outputType };
  const decoded = decodeRecord(data);
  if (!decoded.ok) {
    const reason = decoded.reason === 'bad_envelope' || decoded.reason === 'bad_data' ? refine(decoded.reason, decoded.detail) : decoded.reason;
    return { kind: 'reject', reason, detail: decoded.detail };
  }
  const event = decoded.event;
  if (event.event_type !== 'PAYMENT_EVENT') return { kind: 'skip', eventType: event.event_type };
  const eventTimeMs = decoded.eventTimeMs ?? Date.parse(event.event_date_origin);
  if (eventTimeMs > options.nowMs + MAX_FUTURE_MS) {
    return { kind: 'reject', reason: 'future_event_time', detail: `event time ${event.event_date_origin} is more than 24 h ahead of the processor's clock` };
  }
  if (stolen && !stolen.has((event as PaymentEvent).data.card_number)) return notStolen(eventTimeMs);
  return { kind: 'payment', event: event as PaymentEvent, eventTimeMs };
}

/** Namespace of rejected-event ids: the same record rejected twice gets the same id. */
const REJECTED_NAMESPACE = '6f1d4b1e-3c55-5a0e-9b7e-7f4f0c2a9d31';

export function rejectedEvent(
  record: _Record,
  shardId: string,
  reason: ProcessorRejectReason,
  detail: string,
  nowMs: number,
): RejectedEvent {
  const bytes = record.Data ?? new Uint8Array();
  const text = Buffer.from(bytes).toString('utf8');
  const sequenceNumber = record.SequenceNumber ?? '';
  return {
    event_type: 'PAYMENT_EVENT_REJECTED',
    event_id: uuidv5(`${shardId}/${sequenceNumber}`, REJECTED_NAMESPACE),
    event_date_origin: new Date(nowMs).toISOString(),
    data: {
      reason,
      detail: detail.slice(0, 1024),
      raw: text.slice(0, MAX_RAW_CHARS),
      raw_bytes: bytes.byteLength,
      raw_truncated: text.length > MAX_RAW_CHARS,
      shard_id: shardId,
      sequence_number: sequenceNumber,
    },
  };
}
