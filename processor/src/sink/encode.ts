/**
 * Output records as bytes. Alerts and summaries are the bulk of what the processor writes (a
 * catch-up emits millions of summaries), and `Buffer.from(JSON.stringify(event))` was a large share
 * of their cost. Their shapes are fixed and every string in them but an alert's merchant id is one
 * the engine built or the decoder validated (card digits, UUIDs, ISO instants, ISO 4217 codes), so
 * they are written field by field straight into one buffer per drain chunk, with no intermediate
 * string (docs/benchmarks.md). The merchant id goes through JSON.stringify. The result is byte for
 * byte JSON.stringify's (processor/test/sink/encode.test.ts checks exactly that).
 */
import type { AlertEvent, SummaryEvent } from '../../../common/src/events.js';
import type { OutputEvent } from './kinesis-sink.js';

/**
 * Writes ASCII text and bytes into one growing buffer. Output records are written here piece by
 * piece: building each as a JS string and then Buffer.from-ing it cost ~2.6 µs a summary (the
 * template's cons-string is flattened, then copied), about a fifth of a stolen payment's cost.
 */
class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(capacity, 1024));
  }

  #room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // Earlier records keep their views of the old buffer, which still holds their bytes.
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /**
   * A string that should be ASCII (every one passed here was built by the engine or validated by
   * the decoder), copied char by char; were one not, it is written again as UTF-8, so the bytes
   * never depend on that.
   */
  ascii(s: string): void {
    this.#room(s.length);
    const buf = this.buf;
    let pos = this.pos;
    let bits = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      bits |= c;
      buf[pos++] = c;
    }
    if (bits > 0x7f) this.utf8(s);
    else this.pos = pos;
  }

  /** Any string, as UTF-8. */
  utf8(s: string): void {
    this.#room(Buffer.byteLength(s, 'utf8'));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** JSON's (and String's) form of a finite number. */
  number(n: number): void {
    this.ascii(String(n));
  }
}

/** The fixed text between values, as bytes. */
const lit = (s: string): Buffer => Buffer.from(s, 'latin1');
const S_HEAD = lit('{"event_type":"PAYMENT_ALERT_SUMMARY","event_id":"');
const S_CREATED = lit('","event_date_origin":"');
const S_CARD = lit('","data":{"card_number":"');
const S_WSTART = lit('","window_start":"');
const S_WEND = lit('","window_end":"');
const S_COUNT = lit('","payment_count":');
const S_AMOUNTS = lit(',"amounts":{');
const S_FIRST = lit('},"first_payment_at":"');
const S_LAST = lit('","last_payment_at":"');
const S_MERCHANTS = lit('","merchant_count":');
const S_IDS = lit(',"payment_event_ids":[');
const S_END = lit(']}}');
const A_HEAD = lit('{"event_type":"PAYMENT_ALERT","event_id":"');
const A_PAYMENT = lit('","data":{"payment_event_id":"');
const A_CARD = lit('","card_number":"');
const A_ORIGIN = lit('","payment_date_origin":"');
const A_AMOUNT = lit('","amount":');
const A_CURRENCY = lit(',"currency":"');
const A_MERCHANT = lit('","merchant_id":');
const A_WSTART = lit(',"window_start":"');
const A_LATE = lit('","late":');
const A_END = lit('}}');

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

function writeSummary(w: ByteWriter, e: SummaryEvent, s: Segments): void {
  const d = e.data;
  w.bytes(S_HEAD);
  w.ascii(e.event_id);
  w.bytes(s.summaryCreated.of(e.event_date_origin));
  w.ascii(d.card_number);
  w.bytes(s.summaryBounds.of(d.window_start, d.window_end));
  w.number(d.payment_count);
  w.bytes(S_AMOUNTS);
  let first = true;
  for (const code in d.amounts) {
    const a = d.amounts[code]!;
    w.ascii(`${first ? '' : ','}"${code}":{"count":${a.count},"total":${a.total},"min":${a.min},"max":${a.max}}`);
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
    w.ascii(i === 0 ? '"' : ',"');
    w.ascii(ids[i] as string);
    w.ascii('"');
  }
  w.bytes(S_END);
}

function writeAlert(w: ByteWriter, e: AlertEvent, s: Segments): void {
  const d = e.data;
  w.bytes(A_HEAD);
  w.ascii(e.event_id);
  w.bytes(s.alertCreated.of(e.event_date_origin));
  w.ascii(d.payment_event_id);
  w.bytes(A_ORIGIN);
  w.ascii(d.payment_date_origin);
  w.bytes(A_CARD);
  w.ascii(d.card_number);
  w.bytes(A_AMOUNT);
  w.number(d.amount);
  w.bytes(A_CURRENCY);
  w.ascii(d.currency);
  w.bytes(A_MERCHANT);
  // The one field that may need escaping or be non-ASCII.
  w.utf8(JSON.stringify(d.merchant_id));
  w.bytes(s.alertBounds.of(d.window_start, d.window_end));
  w.ascii(d.late ? 'true' : 'false');
  w.bytes(A_END);
}

/** The event's JSON as UTF-8 bytes, exactly JSON.stringify's. */
export function encodeOutput(e: OutputEvent): Buffer {
  return encodeOutputs([e])[0] as Buffer;
}

/** encodeOutput of each event, written into one buffer: each result is a view of its bytes. */
export function encodeOutputs(events: readonly OutputEvent[]): Buffer[] {
  const w = new ByteWriter(events.length * 640);
  const segments = new Segments();
  const out = new Array<Buffer>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as OutputEvent;
    const start = w.pos;
    if (e.event_type === 'PAYMENT_ALERT_SUMMARY') writeSummary(w, e, segments);
    else if (e.event_type === 'PAYMENT_ALERT') writeAlert(w, e, segments);
    else w.utf8(JSON.stringify(e));
    out[i] = w.buf.subarray(start, w.pos);
  }
  return out;
}
