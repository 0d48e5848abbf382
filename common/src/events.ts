/**
 * The event contract: every Kinesis record of this product is one UTF-8 JSON object with this
 * envelope. These zod schemas are its one definition, used by the simulator (to build), the
 * processor (to validate) and the delivery stand-in (to land or reject). Documented in
 * docs/events.md. decodeRecord asks them through checks compiled from them (compiled-check.ts),
 * and runs zod itself only to explain a reject.
 */
import { z } from 'zod';
import { visit } from 'jsonc-parser';
import { isLuhnValid } from './luhn.js';
import { compileCheck } from './compiled-check.js';
import { CARD_KEY_ID, CARD_MASKED, CARD_TOKEN } from './card-token.js';

export const EVENT_TYPES = ['PAYMENT_EVENT', 'CARD_STATUS_CHANGED', 'PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY', 'PAYMENT_EVENT_REJECTED'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Largest accepted amount: keeps every total in minor units a safe integer. */
export const MAX_AMOUNT = 1_000_000_000;

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

/**
 * True when `s` names a real instant in the form Date#toISOString writes: the calendar rule of this
 * product (a real day, a time of day up to 23:59:59.999), left to Date rather than written out.
 */
export function isRealInstant(s: string): boolean {
  const t = Date.parse(s);
  return Number.isFinite(t) && new Date(t).toISOString() === s;
}

/** ISO-8601 UTC with milliseconds, e.g. 2026-11-27T04:31:34.123Z, and a real calendar instant. */
export const isoInstant = z
  .string()
  .regex(ISO_UTC_MS, 'must be ISO-8601 UTC with milliseconds, e.g. 2026-11-27T04:31:34.123Z')
  .refine(isRealInstant, 'is not a real instant');

export const cardNumber = z
  .string()
  .regex(/^\d{12,19}$/, 'must be 12 to 19 digits')
  .refine(isLuhnValid, 'fails the Luhn check');

/** True for a finite number with at most two decimals (its shortest form round-trips at 2 places). */
export function hasAtMostTwoDecimals(n: number): boolean {
  return Number.isFinite(n) && Number(n.toFixed(2)) === n;
}

export const amount = z
  .number()
  .refine(Number.isFinite, 'must be finite')
  .refine((n) => n > 0, 'must be greater than 0')
  .refine((n) => n <= MAX_AMOUNT, `must be at most ${MAX_AMOUNT}`)
  .refine(hasAtMostTwoDecimals, 'must have at most 2 decimals');

export function isKnownCurrency(c: string): boolean {
  return CURRENCIES.has(c);
}

export const currency = z.string().refine(isKnownCurrency, 'must be an ISO 4217 currency code');

const COUNTRY_CODE = /^[A-Z]{2}$/;

/**
 * Intl.DisplayNames#of is slow and the domain is 26 × 26 codes: memoised, and only ever asked
 * about two capital letters (zod runs this refine even after the regex failed, and `of` throws a
 * RangeError on e.g. "x", which used to escape decodeRecord instead of rejecting the record).
 */
const regionKnown = new Map<string, boolean>();
export function isKnownRegion(c: string): boolean {
  if (!COUNTRY_CODE.test(c)) return false;
  let known = regionKnown.get(c);
  if (known === undefined) {
    known = regionNames.of(c) !== c;
    regionKnown.set(c, known);
  }
  return known;
}

export const country = z.string().regex(COUNTRY_CODE, 'must be an ISO 3166-1 alpha-2 code').refine(isKnownRegion, 'is not an ISO 3166-1 alpha-2 country');

export const paymentData = z.strictObject({
  card_number: cardNumber,
  amount,
  currency,
  merchant_id: z.string().min(1).max(64),
  merchant_name: z.string().max(256).optional(),
  mcc: z
    .string()
    .regex(/^\d{4}$/, 'must be 4 digits')
    .optional(),
  country: country.optional(),
});
export type PaymentData = z.infer<typeof paymentData>;

/** What a card's status can be: STOLEN (its payments are alerted and summarised) or ACTIVE. */
export const CARD_STATUSES = ['STOLEN', 'ACTIVE'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

/**
 * A card reported stolen, or found again: it holds from `effective_at` (which may be in the past)
 * until a later status of the card. Producers key it by the card number, like the card's payments,
 * so it lands on their shard. docs/events.md, docs/semantics.md ("Card status").
 */
export const cardStatusData = z.strictObject({
  card_number: cardNumber,
  status: z.enum(CARD_STATUSES),
  effective_at: isoInstant,
  reason: z.string().max(256).optional(),
  reported_by: z.string().max(128).optional(),
});
export type CardStatusData = z.infer<typeof cardStatusData>;

/**
 * The version of the alert and summary contract, in each one's `data.schema_version`. Version 2
 * names the card by token, key id and masked form; version 1 (up to 0.1.0, no field) carried the
 * card number. docs/events.md.
 */
export const OUTPUT_SCHEMA_VERSION = 2;

/** How alerts and summaries name a card: never by its number (docs/events.md, "Card references"). */
const cardReference = {
  card_token: z.string().regex(CARD_TOKEN, 'must be a card token (43 characters of base64url)'),
  card_key_id: z.string().regex(CARD_KEY_ID, 'must be a card token key id'),
  card_masked: z.string().regex(CARD_MASKED, 'must be a masked card number (first 6 and last 4 digits)'),
};

export const alertData = z.strictObject({
  schema_version: z.literal(OUTPUT_SCHEMA_VERSION),
  payment_event_id: z.uuid(),
  payment_date_origin: isoInstant,
  ...cardReference,
  amount,
  currency,
  merchant_id: z.string().min(1).max(64),
  window_start: isoInstant,
  window_end: isoInstant,
  late: z.boolean(),
  /**
   * Present (true) when the alert comes from a STOLEN report read after the payment's window had
   * fired: the card was reported stolen from a time before this payment (docs/semantics.md).
   */
  retro: z.literal(true).optional(),
  /**
   * Present when the payment's clock could not be trusted: its event time was this many ms ahead
   * of its arrival in Kinesis (more than the processor's MAX_CLOCK_SKEW_MS). Such a payment is
   * alerted at once and counted in no summary; see docs/semantics.md.
   */
  clock_ahead_ms: z.number().int().positive().optional(),
});
export type AlertData = z.infer<typeof alertData>;

export const currencyTotals = z.strictObject({
  count: z.number().int().positive(),
  total: z.number(),
  min: z.number(),
  max: z.number(),
});

export const summaryData = z.strictObject({
  schema_version: z.literal(OUTPUT_SCHEMA_VERSION),
  ...cardReference,
  window_start: isoInstant,
  window_end: isoInstant,
  payment_count: z.number().int().positive(),
  amounts: z.record(currency, currencyTotals),
  first_payment_at: isoInstant,
  last_payment_at: isoInstant,
  merchant_count: z.number().int().positive(),
  payment_event_ids: z.array(z.uuid()).max(100),
});
export type SummaryData = z.infer<typeof summaryData>;

export const rejectedData = z.strictObject({
  reason: z.string().min(1).max(64),
  detail: z.string().max(1024),
  /** The record as received, decoded as UTF-8, cut to MAX_RAW_CHARS. */
  raw: z.string(),
  raw_bytes: z.number().int().nonnegative(),
  raw_truncated: z.boolean(),
  shard_id: z.string(),
  sequence_number: z.string(),
});
export type RejectedData = z.infer<typeof rejectedData>;

/** Keeps a rejected record's JSON under the warehouse's VARCHAR(65535). */
export const MAX_RAW_CHARS = 16_000;

export const DATA_SCHEMAS = {
  PAYMENT_EVENT: paymentData,
  CARD_STATUS_CHANGED: cardStatusData,
  PAYMENT_ALERT: alertData,
  PAYMENT_ALERT_SUMMARY: summaryData,
  PAYMENT_EVENT_REJECTED: rejectedData,
} as const satisfies Record<EventType, z.ZodType>;

/** The envelope every record shares; `data` is checked by type with DATA_SCHEMAS. */
export const envelope = z.strictObject({
  event_type: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/, 'must be UPPER_SNAKE_CASE, at most 32 characters'),
  event_id: z.uuid(),
  event_date_origin: isoInstant,
  data: z.record(z.string(), z.unknown()),
});
export type Envelope = z.infer<typeof envelope>;

export interface TypedEvent<T extends EventType, D> {
  event_type: T;
  event_id: string;
  event_date_origin: string;
  data: D;
}
export type PaymentEvent = TypedEvent<'PAYMENT_EVENT', PaymentData>;
export type CardStatusEvent = TypedEvent<'CARD_STATUS_CHANGED', CardStatusData>;
export type AlertEvent = TypedEvent<'PAYMENT_ALERT', AlertData>;
export type SummaryEvent = TypedEvent<'PAYMENT_ALERT_SUMMARY', SummaryData>;
export type RejectedEvent = TypedEvent<'PAYMENT_EVENT_REJECTED', RejectedData>;

export function isKnownType(t: string): t is EventType {
  return (EVENT_TYPES as readonly string[]).includes(t);
}

/**
 * What decided a record: `parse` (not UTF-8, not JSON, a repeated key, nested too deep: no schema
 * was asked), `compiled` (the checks compiled from the schemas accepted it), `zod` (they did not,
 * and zod gave the verdict and its detail).
 */
export type DecidedBy = 'parse' | 'compiled' | 'zod';

/** A valid event, or why a record is not one: a stable reason code plus a human detail. */
export type DecodeResult = { ok: true; event: Envelope } | { ok: false; reason: RejectReason; detail: string };

/** decodeRecord's result with what decided it (the processor counts it, see classify.ts). */
export type TracedDecodeResult = DecodeResult & { decidedBy: DecidedBy };

export const REJECT_REASONS = ['not_utf8', 'not_json', 'bad_envelope', 'bad_data'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * The `reason` of a PAYMENT_EVENT_REJECTED: the decoding reasons, refined by the field at fault,
 * plus the processor's own checks (size, event time too far ahead).
 */
export const PAYMENT_REJECT_REASONS = [
  'oversized',
  'not_utf8',
  'not_json',
  'bad_envelope',
  'bad_event_time',
  'future_event_time',
  'bad_card_number',
  'bad_amount',
  'bad_data',
] as const;
export type PaymentRejectReason = (typeof PAYMENT_REJECT_REASONS)[number];

const utf8 = new TextDecoder('utf-8', { fatal: true });

function describe(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ')
    .slice(0, 1024);
}

/**
 * The first key that appears twice in one object of `text` (valid JSON), or undefined. JSON.parse
 * keeps the last of two equal keys, other readers (a warehouse's JSON functions, another
 * consumer's parser) may keep the first, so `{"event_type":"PAYMENT_ALERT","event_type":
 * "PAYMENT_EVENT",…}` or two card numbers would mean different things to different readers. Such a
 * record is refused as a whole (bad_envelope), never guessed at.
 */
export function repeatedKey(text: string): string | undefined {
  const objects: Set<string>[] = [];
  let found: string | undefined;
  visit(text, {
    onObjectBegin: () => void objects.push(new Set()),
    onObjectEnd: () => void objects.pop(),
    onObjectProperty: (key) => {
      const keys = objects[objects.length - 1]!;
      if (keys.has(key)) found ??= key;
      keys.add(key);
    },
  });
  return found;
}

const checkEnvelope = compileCheck(envelope);
const checkData: Record<EventType, (data: unknown) => boolean> = {
  PAYMENT_EVENT: compileCheck(paymentData),
  CARD_STATUS_CHANGED: compileCheck(cardStatusData),
  PAYMENT_ALERT: compileCheck(alertData),
  PAYMENT_ALERT_SUMMARY: compileCheck(summaryData),
  PAYMENT_EVENT_REJECTED: compileCheck(rejectedData),
};

/**
 * Decodes and validates one record: UTF-8, JSON, no repeated key (see repeatedKey), the envelope,
 * then `data` against its type's schema when the type is known. Unknown types with a valid
 * envelope pass (the stream may carry them). Each schema is asked through its compiled check;
 * only when that says no does zod run, to give the verdict and its detail.
 */
export function decodeRecord(bytes: Uint8Array): DecodeResult {
  return decodeRecordTraced(bytes);
}

/** decodeRecord, saying what decided the record. */
export function decodeRecordTraced(bytes: Uint8Array): TracedDecodeResult {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'not_utf8', detail: 'record is not valid UTF-8', decidedBy: 'parse' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: 'not_json', detail: (e as Error).message.slice(0, 1024), decidedBy: 'parse' };
  }
  let repeated: string | undefined;
  try {
    repeated = repeatedKey(text);
  } catch (e) {
    // JSON.parse takes any depth, the key scan recurses: a record nested some thousands deep
    // (a Kinesis record may be 1 MiB of brackets) must be a reject, never an exception that stops
    // the shard on the same record again and again.
    if (e instanceof RangeError) return { ok: false, reason: 'not_json', detail: 'nested too deeply to be decoded safely', decidedBy: 'parse' };
    throw e;
  }
  if (repeated !== undefined) {
    return {
      ok: false,
      reason: 'bad_envelope',
      detail: `ambiguous: the key "${repeated.slice(0, 64)}" appears twice in one object`,
      decidedBy: 'parse',
    };
  }
  if (checkEnvelope(json)) {
    const type = json.event_type;
    if (!isKnownType(type) || checkData[type](json.data)) return { ok: true, event: json, decidedBy: 'compiled' };
  }
  return decodeWithZod(json);
}

/** The zod verdict on a parsed record, with the detail of what it breaks. */
function decodeWithZod(json: unknown): TracedDecodeResult {
  const env = envelope.safeParse(json);
  if (!env.success) return { ok: false, reason: 'bad_envelope', detail: describe(env.error), decidedBy: 'zod' };
  const type = env.data.event_type;
  if (isKnownType(type)) {
    const data = DATA_SCHEMAS[type].safeParse(env.data.data);
    if (!data.success) return { ok: false, reason: 'bad_data', detail: describe(data.error), decidedBy: 'zod' };
  }
  return { ok: true, event: env.data, decidedBy: 'zod' };
}

export function encodeEvent(event: { event_type: string; event_id: string; event_date_origin: string; data: unknown }): Uint8Array {
  return Buffer.from(JSON.stringify(event), 'utf8');
}
