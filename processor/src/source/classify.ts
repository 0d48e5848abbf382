/**
 * What the processor does with one input record: process it (a valid PAYMENT_EVENT or
 * CARD_STATUS_CHANGED of this shard), set it aside (a payment with an untrusted clock, or a record
 * keyed by something else than its card), skip it (any other valid event, e.g. our own alerts),
 * or reject it with a stable reason. Rejection never throws and never blocks the shard: the record
 * becomes a PAYMENT_EVENT_REJECTED event. The same function decides for the live shard and for a
 * rebuild's replay. It reads the record (its bytes, partition key and Kinesis arrival time) and the
 * shard's candidate cards, which only reports read earlier on the same shard change, and it hands
 * each valid payment to the shard's record of recent payments: a replay decides exactly as the
 * first read did.
 */
import type { _Record } from '@aws-sdk/client-kinesis';
import { v5 as uuidv5 } from 'uuid';
import {
  decodeRecordTraced,
  MAX_RAW_CHARS,
  type CardStatusEvent,
  type PaymentEvent,
  type PaymentRejectReason,
  type RejectedEvent,
} from '../../../common/src/events.js';
import { PaymentScan, type CardPayment } from '../../../common/src/payment-fast-path.js';
import type { RecentPayments } from '../engine/recent.js';
import type { StatusInput } from '../engine/types.js';
import type { CandidateCards } from './shard-cards.js';
import { scrubPans } from '../../../common/src/pan-scrub.js';

type ProcessorRejectReason = PaymentRejectReason;

/**
 * Beyond any clock error: a payment stamped this far ahead of its arrival is also published as a
 * reject (future_event_time), for the data-quality record. Its treatment otherwise is that of
 * every payment ahead by more than the allowed skew (see `clock_ahead` below).
 */
export const MAX_FUTURE_MS = 24 * 3_600_000;

/** The default of MAX_CLOCK_SKEW_MS: see processor/src/config.ts for why. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5_000;

export type Classified =
  /** A valid payment of a stolen card: the payment, its card named by its card ref (the card number is not kept). */
  | { kind: 'payment'; event: CardPayment; eventTimeMs: number }
  /** A valid payment of a card not in `options.stolen`: its time is all that counts. One shared object. */
  | { kind: 'not_stolen'; eventTimeMs: number }
  /**
   * A valid payment stamped more than `maxClockSkewMs` ahead of its arrival in Kinesis: its clock
   * is wrong, so its time must not move stream time. `event` is set only when its card is stolen
   * (it is then alerted at once); `reject` when it is also beyond MAX_FUTURE_MS.
   */
  | {
      kind: 'clock_ahead';
      event: CardPayment | undefined;
      eventTimeMs: number;
      arrivalMs: number;
      reject?: { reason: ProcessorRejectReason; detail: string };
    }
  /**
   * A valid payment whose partition key is not its card number: its card's other payments may be
   * on other shards, so this shard must not count it. It is re-published keyed by its card and
   * processed where that copy lands (`card` is the key to use).
   */
  | { kind: 'misrouted'; card: string }
  /** A valid CARD_STATUS_CHANGED of this shard: the card by its ref, its number for the engine's record only. */
  | ({ kind: 'status' } & StatusInput)
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
 * skips. So a record that opens as one of them, and names no other event_type further on, is
 * skipped on its first bytes; the warehouse stand-in still validates everything it lands.
 */
const OUTPUT_PREFIXES = (['PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY', 'PAYMENT_EVENT_REJECTED'] as const).map(
  (eventType) => [eventType, Buffer.from(`{"event_type":"${eventType}","`, 'latin1')] as const,
);
const EVENT_TYPE_KEY = Buffer.from('"event_type"', 'latin1');
/** Buffer's indexOf works on any Uint8Array: no Buffer view is made per record. */
const indexOf = Buffer.prototype.indexOf as (this: Uint8Array, value: Uint8Array, byteOffset: number) => number;

function outputTypeOf(data: Uint8Array): string | undefined {
  // Every prefix has a 'P' here (…"event_type":"P…): one byte rules out most other records.
  if (data[15] !== 0x50) return undefined;
  for (const [eventType, prefix] of OUTPUT_PREFIXES) {
    if (data.byteLength < prefix.length) continue;
    let i = 0;
    while (i < prefix.length && data[i] === prefix[i]) i++;
    if (i !== prefix.length) continue;
    // A second "event_type" (a repeated key, or the text in a value) leaves the record to the
    // decoder: `{"event_type":"PAYMENT_ALERT","event_type":"PAYMENT_EVENT",…}` is a payment to
    // JSON.parse, and the decoder refuses such an ambiguous record rather than have it skipped.
    return indexOf.call(data, EVENT_TYPE_KEY, prefix.length - 1) < 0 ? eventType : undefined;
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

/**
 * What decided each record classified in this process, by path (payments_decode_path_total reads
 * it at each scrape; docs/metrics.md):
 * - `scanner`: a payment in the producers' canonical form, read by the hand scanner
 *   (common/src/payment-fast-path.ts);
 * - `compiled`: decodeRecord accepted it through the checks compiled from the zod schemas;
 * - `zod`: those checks said no, and zod gave the verdict (a reject, with its detail);
 * - `parse`: not UTF-8, not JSON, a repeated key or nested too deep: no schema was asked;
 * - `skipped`: not decoded at all: over the size limit, or one of our own output events known by
 *   its first bytes.
 */
export const DECODE_PATHS = ['scanner', 'compiled', 'zod', 'parse', 'skipped'] as const;
export type DecodePath = (typeof DECODE_PATHS)[number];
export const decodePathCounts: Record<DecodePath, number> = { scanner: 0, compiled: 0, zod: 0, parse: 0, skipped: 0 };

/** The scanner's reader, reused by every call (its results are read before the next one). */
const scan = new PaymentScan();

export interface ClassifyOptions {
  maxRecordBytes: number;
  /** The wall clock; the arrival time of a record that has none (never, from Kinesis). */
  nowMs: number;
  /**
   * The candidate cards: the stolen list and the shard's reported cards (ShardCards). A payment is
   * `payment` only if its card is one of them, else `not_stolen`, and a canonical payment of
   * another card is never turned into strings and objects (nine payments in ten; they were most of
   * what the processor allocated).
   */
  stolen: CandidateCards;
  /**
   * The shard's record of recent payments (the engine's): every valid payment of this shard is
   * handed to it, as bytes when the scanner read it. Payments set aside (clock ahead, misrouted)
   * are not.
   */
  recent?: RecentPayments | undefined;
  /** How far a payment's event time may be ahead of its arrival (default DEFAULT_MAX_CLOCK_SKEW_MS). */
  maxClockSkewMs?: number;
}

/**
 * classifyRecord for a record as GetRecords returns it, with its arrival time and partition key
 * (positional, not an object: this runs once per record and allocates nothing it can avoid).
 */
export function classifyKinesisRecord(record: _Record, options: ClassifyOptions): Classified {
  return classifyRecord(record.Data ?? EMPTY, options, record.ApproximateArrivalTimestamp?.getTime(), record.PartitionKey);
}
const EMPTY = new Uint8Array();

function clockAhead(event: CardPayment | undefined, eventTimeMs: number, arrivalMs: number): Classified {
  const c: Classified = { kind: 'clock_ahead', event, eventTimeMs, arrivalMs };
  if (eventTimeMs > arrivalMs + MAX_FUTURE_MS) {
    c.reject = {
      reason: 'future_event_time',
      detail: `event time ${new Date(eventTimeMs).toISOString()} is more than 24 h ahead of the record's arrival in Kinesis (${new Date(arrivalMs).toISOString()})`,
    };
  }
  return c;
}

/**
 * What to do with `data`, which Kinesis received at `arrivalMs` (its ApproximateArrivalTimestamp)
 * under partition key `key`; without a key, the key is not checked. A `not_stolen` result is
 * shared: read it before the next call.
 * Order: size, validity, clock (a payment with an untrusted time is handled where it is read: it
 * touches no window or summary, so its shard does not matter), key, stolen or not.
 */
export function classifyRecord(data: Uint8Array, options: ClassifyOptions, arrivalMs = options.nowMs, key?: string): Classified {
  if (data.byteLength > options.maxRecordBytes) {
    decodePathCounts.skipped++;
    return { kind: 'reject', reason: 'oversized', detail: `${data.byteLength} bytes; the limit is ${options.maxRecordBytes}` };
  }
  const latest = arrivalMs + (options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS);
  const stolen = options.stolen;
  // First, as most records are canonical payments (an output record fails its first words).
  if (scan.read(data)) {
    decodePathCounts.scanner++;
    const eventTimeMs = scan.eventTimeMs;
    const ref = scan.cardMayBeIn(stolen) ? scan.cardRefIn(stolen) : undefined;
    if (eventTimeMs > latest) return clockAhead(ref === undefined ? undefined : scrubbed(scan.payment(ref)), eventTimeMs, arrivalMs);
    if (key !== undefined && !scan.cardIs(key)) return { kind: 'misrouted', card: scan.card() };
    if (options.recent) scan.copyTo(options.recent);
    if (ref === undefined) return notStolen(eventTimeMs);
    return { kind: 'payment', event: scrubbed(scan.payment(ref)), eventTimeMs };
  }
  const outputType = outputTypeOf(data);
  if (outputType !== undefined) {
    decodePathCounts.skipped++;
    return { kind: 'skip', eventType: outputType };
  }
  const decoded = decodeRecordTraced(data);
  decodePathCounts[decoded.decidedBy]++;
  if (!decoded.ok) {
    const reason = decoded.reason === 'bad_envelope' || decoded.reason === 'bad_data' ? refine(decoded.reason, decoded.detail) : decoded.reason;
    return { kind: 'reject', reason, detail: decoded.detail };
  }
  const event = decoded.event;
  if (event.event_type === 'CARD_STATUS_CHANGED') return cardStatus(event as CardStatusEvent, stolen, key);
  if (event.event_type !== 'PAYMENT_EVENT') return { kind: 'skip', eventType: event.event_type };
  const payment = event as PaymentEvent;
  const card = payment.data.card_number;
  const eventTimeMs = Date.parse(event.event_date_origin);
  const ref = stolen.refOf(card);
  if (eventTimeMs > latest) return clockAhead(ref === undefined ? undefined : cardPayment(payment, ref), eventTimeMs, arrivalMs);
  if (key !== undefined && key !== card) return { kind: 'misrouted', card };
  const { amount, currency, merchant_id } = payment.data;
  options.recent?.add(card, payment.event_id, eventTimeMs, amount, currency, merchant_id);
  if (ref === undefined) return notStolen(eventTimeMs);
  return { kind: 'payment', event: cardPayment(payment, ref), eventTimeMs };
}

/**
 * A card's new status. Keyed by its card number like the card's payments, it is read on their
 * shard; keyed otherwise it is re-published keyed by the card, as a payment would be.
 */
function cardStatus(event: CardStatusEvent, cards: CandidateCards, key: string | undefined): Classified {
  const { card_number: card, status, effective_at } = event.data;
  if (key !== undefined && key !== card) return { kind: 'misrouted', card };
  return {
    kind: 'status',
    card: cards.cardRefOf(card),
    number: Buffer.from(card, 'latin1'),
    stolen: status === 'STOLEN',
    effectiveAtMs: Date.parse(effective_at),
  };
}

/** The payment as the engine takes it: its card named by `ref`, the card number left behind. */
function cardPayment(p: PaymentEvent, ref: string): CardPayment {
  const { amount, currency, merchant_id } = p.data;
  return scrubbed({ event_id: p.event_id, event_date_origin: p.event_date_origin, card: ref, data: { amount, currency, merchant_id } });
}

/**
 * The merchant id is the producer's free text, and the one field of a payment that alerts carry
 * as it came: a card number in it is masked before the engine keeps or emits it.
 */
function scrubbed(p: CardPayment): CardPayment {
  const merchant = scrubPans(p.data.merchant_id);
  return merchant === p.data.merchant_id ? p : { ...p, data: { ...p.data, merchant_id: merchant } };
}

/** Namespace of rejected-event ids: the same record rejected twice gets the same id. */
const REJECTED_NAMESPACE = '6f1d4b1e-3c55-5a0e-9b7e-7f4f0c2a9d31';

export function rejectedEvent(record: _Record, shardId: string, reason: ProcessorRejectReason, detail: string, nowMs: number): RejectedEvent {
  const bytes = record.Data ?? new Uint8Array();
  // Card numbers masked before the cut (masking keeps the length): no PAN leaves the input stream.
  const text = scrubPans(Buffer.from(bytes).toString('utf8'));
  const sequenceNumber = record.SequenceNumber ?? '';
  return {
    event_type: 'PAYMENT_EVENT_REJECTED',
    event_id: uuidv5(`${shardId}/${sequenceNumber}`, REJECTED_NAMESPACE),
    event_date_origin: new Date(nowMs).toISOString(),
    data: {
      reason,
      detail: scrubPans(detail).slice(0, 1024),
      raw: text.slice(0, MAX_RAW_CHARS),
      raw_bytes: bytes.byteLength,
      raw_truncated: text.length > MAX_RAW_CHARS,
      shard_id: shardId,
      sequence_number: sequenceNumber,
    },
  };
}
