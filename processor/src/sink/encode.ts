/**
 * Output records as bytes. Alerts and summaries are the bulk of what the processor writes (a
 * catch-up emits millions of summaries), and `Buffer.from(JSON.stringify(event))` was a large share
 * of their cost. Their shapes are fixed and every string in them but an alert's merchant id is one
 * the engine built or the decoder validated (card tokens and masked forms, UUIDs, ISO instants, ISO 4217 codes), so
 * they are written field by field straight into one buffer per drain chunk (JsonWriter), with no
 * intermediate string (docs/benchmarks.md). The merchant id is escaped as JSON.stringify would. The
 * result is byte for byte JSON.stringify's (processor/test/sink/encode.test.ts checks exactly that).
 */
import type { CardReference } from '../../../common/src/card-token.js';
import { OUTPUT_SCHEMA_VERSION, type AlertEvent, type SummaryEvent } from '../../../common/src/events.js';
import type { OutputEvent } from './output.js';
import { JsonWriter } from '../../../common/src/json-writer.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const CLOSE_BRACE = 0x7d;

/** The fixed text between values, as bytes. */
const lit = (s: string): Buffer => Buffer.from(s, 'latin1');
const S_HEAD = lit('{"event_type":"PAYMENT_ALERT_SUMMARY","event_id":"');
const S_CREATED = lit('","event_date_origin":"');
const S_CARD = lit(`","data":{"schema_version":${OUTPUT_SCHEMA_VERSION},"card_token":"`);
const KEY_ID = lit('","card_key_id":"');
const MASKED = lit('","card_masked":"');
const S_WSTART = lit('","window_start":"');
const S_WEND = lit('","window_end":"');
const S_COUNT = lit('","payment_count":');
const S_AMOUNTS = lit(',"amounts":{');
const S_A_COUNT = lit('":{"count":');
const S_A_TOTAL = lit(',"total":');
const S_A_MIN = lit(',"min":');
const S_A_MAX = lit(',"max":');
const S_FIRST = lit('},"first_payment_at":"');
const S_LAST = lit('","last_payment_at":"');
const S_MERCHANTS = lit('","merchant_count":');
const S_IDS = lit(',"payment_event_ids":[');
const S_END = lit(']}}');
const A_HEAD = lit('{"event_type":"PAYMENT_ALERT","event_id":"');
const A_PAYMENT = lit(`","data":{"schema_version":${OUTPUT_SCHEMA_VERSION},"payment_event_id":"`);
const A_CARD = lit('","card_token":"');
const A_ORIGIN = lit('","payment_date_origin":"');
const A_AMOUNT = lit('","amount":');
const A_CURRENCY = lit(',"currency":"');
const A_MERCHANT = lit('","merchant_id":');
const A_WSTART = lit(',"window_start":"');
const A_LATE = lit('","late":');
const A_CLOCK_AHEAD = lit(',"clock_ahead_ms":');
const A_RETRO = lit(',"retro":true');
const A_END = lit('}}');
const TRUE = lit('true');
const FALSE = lit('false');

/**
 * The text around two values as one piece of bytes, kept while they stay the same: a drain
 * chunk's records share their creation time, and a boundary's summaries (a window's alerts) their
 * window bounds, so those pieces are written once per chunk or boundary and copied after that.
 */
class Segment {
  #a: string | undefined;
  #b: string | undefined;
  #bytes = Buffer.alloc(0);

  constructor(readonly parts: readonly [Buffer, Buffer, Buffer]) {}

  of(a: string, b = ''): Buffer {
    if (a !== this.#a || b !== this.#b) {
      const [p0, p1, p2] = this.parts;
      this.#bytes = Buffer.concat([p0, Buffer.from(a, 'utf8'), p1, Buffer.from(b, 'utf8'), p2]);
      this.#a = a;
      this.#b = b;
    }
    return this.#bytes;
  }
}

/** Segments of one encodeOutputs call. */
class Segments {
  readonly summaryCreated = new Segment([S_CREATED, Buffer.alloc(0), S_CARD]);
  readonly alertCreated = new Segment([S_CREATED, Buffer.alloc(0), A_PAYMENT]);
  readonly summaryBounds = new Segment([S_WSTART, S_WEND, S_COUNT]);
  readonly alertBounds = new Segment([A_WSTART, S_WEND, A_LATE]);
}

/** Token, key id and masked form (the token's opening quote is written by the caller's literal). */
function writeCard(w: JsonWriter, d: CardReference): void {
  w.ascii(d.card_token);
  w.bytes(KEY_ID);
  w.ascii(d.card_key_id);
  w.bytes(MASKED);
  w.ascii(d.card_masked);
}

function writeSummary(w: JsonWriter, e: SummaryEvent, s: Segments): void {
  const d = e.data;
  w.bytes(S_HEAD);
  w.ascii(e.event_id);
  w.bytes(s.summaryCreated.of(e.event_date_origin));
  writeCard(w, d);
  w.bytes(s.summaryBounds.of(d.window_start, d.window_end));
  w.number(d.payment_count);
  w.bytes(S_AMOUNTS);
  let first = true;
  for (const code in d.amounts) {
    const a = d.amounts[code]!;
    if (!first) w.byte(COMMA);
    w.byte(QUOTE);
    w.ascii(code);
    w.bytes(S_A_COUNT);
    w.number(a.count);
    w.bytes(S_A_TOTAL);
    w.number(a.total);
    w.bytes(S_A_MIN);
    w.number(a.min);
    w.bytes(S_A_MAX);
    w.number(a.max);
    w.byte(CLOSE_BRACE);
    first = false;
  }
  w.bytes(S_FIRST);
  w.ascii(d.first_payment_at);
  w.bytes(S_LAST);
  w.ascii(d.last_payment_at);
  w.bytes(S_MERCHANTS);
  w.number(d.merchant_count);
  w.bytes(S_IDS);
  const ids = d.payment_event_ids;
  for (let i = 0; i < ids.length; i++) {
    if (i > 0) w.byte(COMMA);
    w.byte(QUOTE);
    w.ascii(ids[i] as string);
    w.byte(QUOTE);
  }
  w.bytes(S_END);
}

function writeAlert(w: JsonWriter, e: AlertEvent, s: Segments): void {
  const d = e.data;
  w.bytes(A_HEAD);
  w.ascii(e.event_id);
  w.bytes(s.alertCreated.of(e.event_date_origin));
  w.ascii(d.payment_event_id);
  w.bytes(A_ORIGIN);
  w.ascii(d.payment_date_origin);
  w.bytes(A_CARD);
  writeCard(w, d);
  w.bytes(A_AMOUNT);
  w.number(d.amount);
  w.bytes(A_CURRENCY);
  w.ascii(d.currency);
  w.bytes(A_MERCHANT);
  // The one field that may need escaping or be non-ASCII.
  w.string(d.merchant_id);
  w.bytes(s.alertBounds.of(d.window_start, d.window_end));
  w.bytes(d.late ? TRUE : FALSE);
  if (d.clock_ahead_ms !== undefined) {
    w.bytes(A_CLOCK_AHEAD);
    w.number(d.clock_ahead_ms);
  }
  if (d.retro) w.bytes(A_RETRO);
  w.bytes(A_END);
}

/** The event's JSON as UTF-8 bytes, exactly JSON.stringify's. */
export function encodeOutput(e: OutputEvent): Buffer {
  return encodeOutputs([e])[0] as Buffer;
}

/** encodeOutput of each event, written into one buffer: each result is a view of its bytes. */
export function encodeOutputs(events: readonly OutputEvent[]): Buffer[] {
  const w = new JsonWriter(events.length * 640);
  const segments = new Segments();
  const out = new Array<Buffer>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as OutputEvent;
    const start = w.pos;
    if (e.event_type === 'PAYMENT_ALERT_SUMMARY') writeSummary(w, e, segments);
    else if (e.event_type === 'PAYMENT_ALERT') writeAlert(w, e, segments);
    else w.utf8(JSON.stringify(e));
    out[i] = w.since(start);
  }
  return out;
}
