/**
 * What one Kinesis record becomes in the warehouse: a row of staging.payment_events, or a row of
 * staging.payment_events_rejects. The one definition, used by the Firehose transformation Lambda
 * in AWS (firehose-transform.ts) and by the local Firehose stand-in, so both land a record alike.
 *
 * In AWS the row is loaded by `COPY … FORMAT AS JSON 'auto'` without TRUNCATECOLUMNS: one value
 * that does not fit its column fails the whole file. So every row this module returns fits
 * staging.sql as it stands:
 * - every string fits its VARCHAR(n), counted in UTF-8 bytes (Redshift's unit, not characters);
 *   detail and raw_data are cut on a character boundary, never inside a surrogate pair;
 * - no string holds U+0000, which VARCHAR cannot store: in detail and raw_data it is written as
 *   the 6-character text `\u0000` (as literal() in schema.ts does), and an event whose data holds
 *   one is rejected (contains_nul) rather than altered;
 * - no string holds a lone surrogate (it could not be written as UTF-8): it becomes U+FFFD;
 * - event_date_origin is a TIMESTAMP both Redshift (default format and 'auto') and PostgreSQL
 *   parse, in a year both accept.
 * event_type (≤ 32 ASCII characters) and event_id (a UUID) are bounded by the envelope schema in
 * common/src/events.ts, so they always fit; event_json_data is never cut: an event whose data does
 * not fit is rejected whole (too_large), with its raw record.
 */
import { decodeRecord, MAX_RAW_CHARS, REJECT_REASONS } from '../../common/src/events.js';
import { scrubPans } from '../../common/src/pan-scrub.js';
import type { CardTokenizer } from '../../common/src/card-token.js';

/** Where the record was read: its shard and sequence number (kept with a reject). */
export interface RecordPosition {
  shardId: string;
  sequenceNumber: string;
}

/** A row of staging.payment_events; the keys are its column names (event_dw_regdate is the default). */
export interface EventRow {
  event_type: string;
  event_id: string;
  event_date_origin: string;
  event_json_data: string;
}

/** A row of staging.payment_events_rejects; the keys are its column names (rejected_at is the default). */
export interface RejectRow {
  reason: string;
  detail: string;
  raw_data: string;
  raw_bytes: number;
  shard_id: string;
  sequence_number: string;
}

export type WarehouseRow = { table: 'events'; row: EventRow } | { table: 'rejects'; row: RejectRow };

/** The columns each row writes, in this order (the stand-in's INSERT lists are built from them). */
export const EVENT_COLUMNS = ['event_type', 'event_id', 'event_date_origin', 'event_json_data'] as const satisfies readonly (keyof EventRow)[];
export const REJECT_COLUMNS = ['reason', 'detail', 'raw_data', 'raw_bytes', 'shard_id', 'sequence_number'] as const satisfies readonly (keyof RejectRow)[];

/** Each VARCHAR(n) of deploy/warehouse/staging.sql: n is in UTF-8 bytes on Redshift. */
export const COLUMN_BYTES = Object.freeze({
  event_type: 32,
  event_id: 64,
  event_json_data: 65_535,
  reason: 64,
  detail: 1024,
  raw_data: 65_535,
  shard_id: 128,
  sequence_number: 129,
});

/**
 * Deepest nesting of objects and arrays accepted. Deeper JSON is rejected (too_deep) before it is
 * parsed: the decoder's duplicate-key check and JSON.stringify recurse, and overflow the stack at
 * a few thousand levels (measured: ~5 000 for JSON.stringify), which would turn a bad record into
 * a thrown error. Our own events nest 4 levels deep.
 */
export const MAX_JSON_DEPTH = 512;

/** Every `reason` of a reject row: the decoder's, then the warehouse's own. */
export const WAREHOUSE_REJECT_REASONS = [...REJECT_REASONS, 'too_deep', 'too_large', 'contains_nul', 'bad_event_time'] as const;
export type WarehouseRejectReason = (typeof WAREHOUSE_REJECT_REASONS)[number];

const lenientUtf8 = new TextDecoder('utf-8');

/**
 * An event's data as the warehouse holds it, as JSON: a `card_number` (a payment's, or any other
 * event's) is replaced in its place by the card's token, key id and masked form, and any other
 * card number in it is masked (scrubPans): no PAN lands, whatever the producer wrote.
 */
export function warehouseData(data: Record<string, unknown>, tokenizer: CardTokenizer): string {
  const pan = data.card_number;
  if (typeof pan !== 'string') return scrubPans(JSON.stringify(data));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (k === 'card_number') Object.assign(out, tokenizer.reference(pan));
    else out[k] = v;
  }
  return scrubPans(JSON.stringify(out));
}

/** Classifies one record. Never throws for any input bytes; a throw is a bug. */
export function toWarehouseRow(bytes: Uint8Array, position: RecordPosition, tokenizer: CardTokenizer): WarehouseRow {
  if (nestsDeeperThan(bytes, MAX_JSON_DEPTH)) {
    return reject(bytes, position, 'too_deep', `objects and arrays nest deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const decoded = decodeRecord(bytes);
  if (!decoded.ok) return reject(bytes, position, decoded.reason, decoded.detail);
  const event = decoded.event;
  const json = warehouseData(event.data, tokenizer);
  // JSON.stringify writes U+0000 as the escape \u0000 and a backslash as \\: no escape, no NUL.
  if (json.includes('\\u0000') && holdsNul(event.data)) {
    return reject(bytes, position, 'contains_nul', 'data holds U+0000, which warehouse text cannot store; the record is kept here (card numbers masked)');
  }
  const size = Buffer.byteLength(json, 'utf8');
  if (size > COLUMN_BYTES.event_json_data) {
    return reject(bytes, position, 'too_large', `data is ${size} bytes of JSON; event_json_data holds ${COLUMN_BYTES.event_json_data}`);
  }
  const origin = event.event_date_origin;
  // The envelope admits any instant of a 4-digit year; PostgreSQL refuses year 0000 ("out of range").
  if (origin.startsWith('0000-')) {
    return reject(bytes, position, 'bad_event_time', 'event_date_origin: year 0000 is outside the warehouse TIMESTAMP range');
  }
  return {
    table: 'events',
    row: {
      event_type: event.event_type,
      event_id: event.event_id,
      event_date_origin: warehouseTimestamp(origin),
      event_json_data: json,
    },
  };
}

/**
 * 2026-11-27T04:31:34.123Z → 2026-11-27 04:31:34.123: Redshift's default TIMESTAMP format (COPY
 * reads the ISO form only with TIMEFORMAT 'auto'), also read by 'auto' and by PostgreSQL. The
 * column has no time zone; every event time is UTC. The envelope schema guarantees the ISO form.
 */
function warehouseTimestamp(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

function reject(bytes: Uint8Array, position: RecordPosition, reason: WarehouseRejectReason, detail: string): WarehouseRow {
  return {
    table: 'rejects',
    row: {
      reason: fitColumn(reason, COLUMN_BYTES.reason),
      detail: fitColumn(scrubPans(detail), COLUMN_BYTES.detail),
      // Invalid UTF-8 is decoded with U+FFFD, so a not_utf8 record is still readable. Card numbers
      // are masked before the cut (masking keeps the length), so a cut never leaves a PAN's head.
      raw_data: fitColumn(scrubPans(lenientUtf8.decode(bytes)), COLUMN_BYTES.raw_data, MAX_RAW_CHARS),
      raw_bytes: bytes.byteLength,
      shard_id: fitColumn(position.shardId, COLUMN_BYTES.shard_id),
      sequence_number: fitColumn(position.sequenceNumber, COLUMN_BYTES.sequence_number),
    },
  };
}

/**
 * `s` made storable in a VARCHAR of `maxBytes` bytes: U+0000 becomes the text `\u0000` (one unit,
 * never split), a lone surrogate U+FFFD; then it is cut after the last whole character that keeps
 * it within `maxBytes` UTF-8 bytes and within the first `maxUnits` UTF-16 units of `s`.
 */
export function fitColumn(s: string, maxBytes: number, maxUnits = Infinity): string {
  const limit = Math.min(s.length, maxUnits);
  let out = '';
  let copyFrom = 0;
  let bytes = 0;
  let i = 0;
  while (i < limit) {
    const c = s.charCodeAt(i);
    let units = 1;
    let size: number;
    let replacement: string | undefined;
    if (c === 0) {
      size = 6;
      replacement = '\\u0000';
    } else if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(s.charCodeAt(i + 1))) {
      units = 2;
      size = 4;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      size = 3;
      replacement = '\ufffd';
    } else size = 3;
    if (i + units > limit || bytes + size > maxBytes) break;
    if (replacement !== undefined) {
      out += s.slice(copyFrom, i) + replacement;
      copyFrom = i + units;
    }
    bytes += size;
    i += units;
  }
  return out + s.slice(copyFrom, i);
}

const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** True when a key or string anywhere in the parsed JSON value holds U+0000. */
function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (Array.isArray(value)) return value.some(holdsNul);
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).some(([key, v]) => key.includes('\0') || holdsNul(v));
  }
  return false;
}

/**
 * Whether objects and arrays in `bytes`, read as JSON text, nest deeper than `limit` (brackets
 * inside strings do not count). Bytes, not characters: `"`, `\`, brackets are ASCII, and no byte
 * of a multi-byte UTF-8 character is ASCII. Input too short to nest that deep is not scanned.
 */
function nestsDeeperThan(bytes: Uint8Array, limit: number): boolean {
  if (bytes.length <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c)
        i++; // skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > limit) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}
