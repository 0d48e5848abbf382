import t, { type Test } from 'tap';
import { scrubPans } from '../../common/src/pan-scrub.js';
import { CardTokenizer } from '../../common/src/card-token.js';
import { randomUUID } from 'node:crypto';
import { MAX_RAW_CHARS, REJECT_REASONS } from '../../common/src/events.js';
import {
  COLUMN_BYTES,
  EVENT_COLUMNS,
  MAX_JSON_DEPTH,
  REJECT_COLUMNS,
  WAREHOUSE_REJECT_REASONS,
  fitColumn,
  toWarehouseRow,
  type EventRow,
  type RecordPosition,
  type RejectRow,
  type WarehouseRow,
} from '../warehouse/rows.js';

const position: RecordPosition = {
  shardId: 'shardId-000000000007',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
};
const KEY = new CardTokenizer('test-1', 'k'.repeat(32));
const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const bytesOf = (v: unknown) => (v instanceof Uint8Array ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8'));
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const envelope = (event_type: string, data: unknown, event_date_origin = '2026-11-27T04:31:34.123Z') => ({
  event_type,
  event_id: randomUUID(),
  event_date_origin,
  data,
});
const paymentData = () => ({
  card_number: '4111111111111111',
  amount: 19.99,
  currency: 'EUR',
  merchant_id: 'm-42',
  merchant_name: 'Épicerie',
  mcc: '5411',
  country: 'FR',
});
const payment = () => envelope('PAYMENT_EVENT', paymentData());
const alert = () =>
  envelope('PAYMENT_ALERT', {
    schema_version: 2,
    payment_event_id: randomUUID(),
    payment_date_origin: '2026-11-27T04:31:33.000Z',
    ...KEY.reference('4111111111111111'),
    amount: 19.99,
    currency: 'EUR',
    merchant_id: 'm-42',
    window_start: '2026-11-27T04:31:30.000Z',
    window_end: '2026-11-27T04:31:35.000Z',
    late: false,
  });
const summary = () =>
  envelope('PAYMENT_ALERT_SUMMARY', {
    schema_version: 2,
    ...KEY.reference('4111111111111111'),
    window_start: '2026-11-27T03:31:40.000Z',
    window_end: '2026-11-27T04:31:40.000Z',
    payment_count: 2,
    amounts: { EUR: { count: 2, total: 30, min: 10, max: 20 } },
    first_payment_at: '2026-11-27T04:00:00.000Z',
    last_payment_at: '2026-11-27T04:31:34.123Z',
    merchant_count: 1,
    payment_event_ids: [randomUUID(), randomUUID()],
  });

/** What every row must satisfy to load with COPY … JSON 'auto' and no TRUNCATECOLUMNS. */
function assertLoadable(t: Test, result: WarehouseRow, name: string): void {
  const row: Record<string, unknown> = result.row as unknown as Record<string, unknown>;
  t.same(Object.keys(row), result.table === 'events' ? EVENT_COLUMNS : REJECT_COLUMNS, `${name}: the keys are the columns, in order`);
  for (const [column, value] of Object.entries(row)) {
    if (typeof value !== 'string') continue;
    const limit = (COLUMN_BYTES as Record<string, number>)[column];
    if (limit !== undefined) t.ok(utf8Bytes(value) <= limit, `${name}: ${column} is ${utf8Bytes(value)} bytes, holds ${limit}`);
    t.notOk(value.includes('\0'), `${name}: ${column} holds no U+0000`);
    t.notOk(LONE_SURROGATE.test(value), `${name}: ${column} is well-formed UTF-16`);
  }
}

function classify(t: Test, value: unknown, name: string): WarehouseRow {
  const result = toWarehouseRow(bytesOf(value), position, KEY);
  assertLoadable(t, result, name);
  return result;
}

function asReject(t: Test, result: WarehouseRow, reason: string, name: string): RejectRow {
  t.equal(result.table, 'rejects', `${name}: rejected`);
  if (result.table !== 'rejects') return undefined as never;
  t.equal(result.row.reason, reason, `${name}: ${result.row.detail}`);
  return result.row;
}

function asEvent(t: Test, result: WarehouseRow, name: string): EventRow {
  t.equal(result.table, 'events', `${name}: lands as an event${result.table === 'rejects' ? ` (${result.row.reason}: ${result.row.detail})` : ''}`);
  return result.row as EventRow;
}

/** The data as it must land: a card number replaced in its place by its token, key id and masked form. */
function landed(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (k === 'card_number') Object.assign(out, KEY.reference(v as string));
    else out[k] = v;
  }
  return out;
}

t.test("a valid payment, alert and summary land with their data unchanged but for a payment's card number, tokenised in its place", async (t) => {
  // The payment as our producers write it (the decoder's fast path), and re-ordered (the general path).
  const p = payment();
  const reordered = { data: p.data, event_date_origin: p.event_date_origin, event_id: p.event_id, event_type: p.event_type };
  for (const [name, event, bytes] of [
    ['payment', p, bytesOf(p)],
    ['payment, keys reordered', p, bytesOf(reordered)],
    ['alert', alert(), undefined],
    ['summary', summary(), undefined],
    ['unknown type', envelope('SOMETHING_NEW', { x: [1, { y: 'ü' }] }), undefined],
  ] as const) {
    const row = asEvent(t, classify(t, bytes ?? event, name), name);
    t.equal(row.event_type, event.event_type, name);
    t.equal(row.event_id, event.event_id, name);
    t.equal(row.event_date_origin, '2026-11-27 04:31:34.123', `${name}: a TIMESTAMP in Redshift's default format`);
    t.same(JSON.parse(row.event_json_data), landed(event.data as Record<string, unknown>), `${name}: event_json_data is the data's JSON, tokenised`);
    t.equal(row.event_json_data, JSON.stringify(landed(event.data as Record<string, unknown>)), `${name}: the card's fields where card_number was`);
    t.notOk(/\d{12}/.test(row.event_json_data), `${name}: no card number`);
  }
});

t.test('a card number anywhere else in an event lands masked', async (t) => {
  const pan = '4111111111111111';
  const e = envelope('SOMETHING_NEW', { note: `card ${pan}`, nested: { list: [pan] }, card_number: 42 });
  const row = asEvent(t, classify(t, e, 'elsewhere'), 'elsewhere');
  t.notOk(row.event_json_data.includes(pan), row.event_json_data);
  t.same(
    JSON.parse(row.event_json_data),
    { note: 'card 411111******1111', nested: { list: ['411111******1111'] }, card_number: 42 },
    'masked, nothing else changed',
  );
});

t.test('the envelope bounds event_type and event_id within their columns', async (t) => {
  const longest = 'A'.repeat(COLUMN_BYTES.event_type);
  t.equal(asEvent(t, classify(t, envelope(longest, {}), '32 characters'), '32 characters').event_type, longest);
  asReject(t, classify(t, envelope(`${longest}B`, {}), '33 characters'), 'bad_envelope', '33 characters');
  t.ok(36 <= COLUMN_BYTES.event_id, 'a UUID (36 ASCII characters) fits event_id');
});

t.test('every reject reason the decoder can produce becomes a reject row with the raw record, card numbers masked', async (t) => {
  const cases: [string, unknown, string][] = [
    ['not UTF-8', new Uint8Array([0x7b, 0xc3, 0x28, 0x7d]), 'not_utf8'],
    ['not JSON', '{"event_type":', 'not_json'],
    ['empty record', new Uint8Array(), 'not_json'],
    ['JSON, not an object', '[1,2]', 'bad_envelope'],
    ['bad UUID', { ...payment(), event_id: '123' }, 'bad_envelope'],
    ['repeated key', `{"event_type":"PAYMENT_ALERT","event_type":"PAYMENT_EVENT"}`, 'bad_envelope'],
    ['bad Luhn', { ...payment(), data: { ...paymentData(), card_number: '4111111111111112' } }, 'bad_data'],
    ['bad amount', { ...payment(), data: { ...paymentData(), amount: -5 } }, 'bad_data'],
  ];
  t.same(new Set(cases.map(([, , reason]) => reason)), new Set(REJECT_REASONS), 'each decoder reason is covered');
  for (const [name, value, reason] of cases) {
    const bytes = bytesOf(value);
    const row = asReject(t, classify(t, value, name), reason, name);
    t.equal(row.raw_bytes, bytes.byteLength, `${name}: raw_bytes`);
    // The record as received, but for its card numbers: masked (first 6 and last 4 kept).
    t.equal(row.raw_data, scrubPans(new TextDecoder().decode(bytes)), `${name}: raw_data`);
    t.notOk(row.raw_data.includes('4111111111111111'), `${name}: no card number in raw_data`);
    t.equal(row.shard_id, position.shardId);
    t.equal(row.sequence_number, position.sequenceNumber);
    t.ok(row.detail.length > 0, `${name}: a detail`);
  }
});

t.test("the warehouse's own reasons are each produced (each has its test below)", async (t) => {
  const own = WAREHOUSE_REJECT_REASONS.filter((r) => !(REJECT_REASONS as readonly string[]).includes(r));
  t.same(own, ['too_deep', 'too_large', 'contains_nul', 'bad_event_time']);
  for (const reason of WAREHOUSE_REJECT_REASONS) t.ok(utf8Bytes(reason) <= COLUMN_BYTES.reason, `${reason} fits reason`);
});

t.test('invalid UTF-8 is kept with replacement characters, and raw_bytes is the original length', async (t) => {
  const bytes = new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x82, 0x63, 0xf0, 0x9f, 0x98]);
  const row = asReject(t, classify(t, bytes, 'invalid UTF-8'), 'not_utf8', 'invalid UTF-8');
  t.equal(row.raw_data, 'a\ufffdb\ufffdc\ufffd');
  t.equal(row.raw_bytes, 9);
});

t.test('data of exactly 65 535 UTF-8 bytes lands; one byte more is too_large (bytes, not characters)', async (t) => {
  // {"s":"…"} is 8 bytes around the string.
  for (const [char, bytes] of [
    ['€', 3],
    ['😀', 4],
    ['é', 2],
  ] as const) {
    const whole = Math.floor((COLUMN_BYTES.event_json_data - 8) / bytes);
    const fill = 'a'.repeat(COLUMN_BYTES.event_json_data - 8 - whole * bytes);
    const fits = { s: char.repeat(whole) + fill };
    t.equal(utf8Bytes(JSON.stringify(fits)), 65_535);
    const row = asEvent(t, classify(t, envelope('SOMETHING_NEW', fits), `${char} at the limit`), `${char} at the limit`);
    t.same(JSON.parse(row.event_json_data), fits);
    const over = { s: `${fits.s}a` };
    const reject = asReject(t, classify(t, envelope('SOMETHING_NEW', over), `${char} one byte over`), 'too_large', `${char} one byte over`);
    t.match(reject.detail, /65536 bytes/);
    t.ok(reject.raw_data.length <= MAX_RAW_CHARS, 'its raw record is cut to MAX_RAW_CHARS');
  }
});

t.test('detail is cut to 1 024 UTF-8 bytes on a character boundary', async (t) => {
  // zod names the unrecognised key in its detail, so the detail is mostly the key.
  for (const [char, bytes] of [
    ['😀', 4],
    ['€', 3],
    ['é', 2],
  ] as const) {
    for (let pad = 0; pad < 4; pad++) {
      const name = `${char} after ${pad} ASCII`;
      const key = 'k'.repeat(pad) + char.repeat(1200);
      const row = asReject(t, classify(t, { ...payment(), data: { ...paymentData(), [key]: 1 } }, name), 'bad_data', name);
      const size = utf8Bytes(row.detail);
      t.ok(size > COLUMN_BYTES.detail - bytes && size <= COLUMN_BYTES.detail, `${name}: ${size} bytes, cut after the last whole character`);
      t.ok(row.detail.endsWith(char), `${name}: ends with a whole ${char}`);
    }
  }
});

t.test('raw_data keeps at most MAX_RAW_CHARS characters, never half a surrogate pair', async (t) => {
  for (const pad of [0, 1]) {
    const text = 'x'.repeat(pad) + '😀'.repeat(MAX_RAW_CHARS);
    const row = asReject(t, classify(t, text, `emoji after ${pad}`), 'not_json', `emoji after ${pad}`);
    t.equal(row.raw_data.length, MAX_RAW_CHARS - pad, `emoji after ${pad}: whole pairs only`);
    t.equal(row.raw_bytes, utf8Bytes(text));
  }
});

t.test('raw_data is cut to 65 535 UTF-8 bytes on a character boundary once U+0000 is written as \\u0000', async (t) => {
  const nuls = Math.floor(COLUMN_BYTES.raw_data / 6); // 10 922 escapes: 65 532 bytes
  const cases: [string, string, string][] = [
    ['a 3-byte character fits exactly', '\0'.repeat(nuls) + '€x', '\\u0000'.repeat(nuls) + '€'],
    ['a 4-byte character does not fit', '\0'.repeat(nuls) + '😀', '\\u0000'.repeat(nuls)],
    ['an escape is never cut', '\0'.repeat(nuls + 1), '\\u0000'.repeat(nuls)],
    ['ASCII fills to the last byte', '\0'.repeat(nuls) + 'abcdef', '\\u0000'.repeat(nuls) + 'abc'],
  ];
  for (const [name, text, expected] of cases) {
    const row = asReject(t, classify(t, text, name), 'not_json', name);
    t.equal(row.raw_data, expected, `${name}: ${utf8Bytes(row.raw_data)} bytes`);
    t.equal(row.raw_bytes, utf8Bytes(text), `${name}: raw_bytes counts the record`);
  }
});

t.test('U+0000: an event whose data holds one is rejected as sent; in detail and raw_data it becomes \\u0000', async (t) => {
  for (const [name, event] of [
    ['in a value', envelope('SOMETHING_NEW', { note: 'a\0b' })],
    ['in a key', envelope('SOMETHING_NEW', { 'a\0': 1 })],
    ['deep in an array', envelope('SOMETHING_NEW', { a: [1, [{ b: '\0' }]] })],
    ['in a payment', { ...payment(), data: { ...paymentData(), merchant_name: 'Shop\0' } }],
  ] as const) {
    const text = JSON.stringify(event);
    const row = asReject(t, classify(t, event, name), 'contains_nul', name);
    t.equal(row.raw_data, scrubPans(text), `${name}: raw_data is the record as sent, card numbers masked (JSON writes U+0000 as an escape)`);
  }
  const escapedText = envelope('SOMETHING_NEW', { note: 'the six characters \\u0000, no NUL' });
  const row = asEvent(t, classify(t, escapedText, 'the text \\u0000'), 'the text \\u0000');
  t.same(JSON.parse(row.event_json_data), escapedText.data, 'the text \\u0000 is not U+0000');

  const raw = asReject(t, classify(t, new Uint8Array([0x00, 0x41, 0x00]), 'NUL bytes'), 'not_json', 'NUL bytes');
  t.equal(raw.raw_data, '\\u0000A\\u0000');
  t.match(raw.detail, /\\u0000/, 'the decoder quotes the NUL in its detail; it is escaped there too');
});

t.test('a lone surrogate in a detail becomes U+FFFD', async (t) => {
  // V8's JSON.parse message quotes the offending UTF-16 unit: half an emoji.
  const row = asReject(t, classify(t, '😀😀', 'emoji'), 'not_json', 'emoji');
  t.match(row.detail, /\ufffd/);
});

t.test(`nesting deeper than MAX_JSON_DEPTH (${MAX_JSON_DEPTH}) is too_deep, and never throws`, async (t) => {
  const nested = (depth: number) => {
    const head = `{"event_type":"SOMETHING_NEW","event_id":"${randomUUID()}","event_date_origin":"2026-11-27T04:31:34.123Z","data":{"a":`;
    return `${head}${'['.repeat(depth - 2)}${']'.repeat(depth - 2)}}}`; // envelope and data are 2 levels
  };
  asEvent(t, classify(t, nested(MAX_JSON_DEPTH), 'at the limit'), 'at the limit');
  asReject(t, classify(t, nested(MAX_JSON_DEPTH + 1), 'one deeper'), 'too_deep', 'one deeper');
  for (const depth of [10_000, 200_000]) {
    let result: WarehouseRow | undefined;
    t.doesNotThrow(() => (result = toWarehouseRow(bytesOf(nested(depth)), position, KEY)), `${depth} levels`);
    if (result) asReject(t, result, 'too_deep', `${depth} levels`);
    const unclosed = `[${'{"a":['.repeat(depth)}`;
    t.doesNotThrow(() => (result = toWarehouseRow(bytesOf(unclosed), position, KEY)), `${depth} unclosed levels`);
    if (result) asReject(t, result, 'too_deep', `${depth} unclosed levels`);
  }
  const brackets = envelope('SOMETHING_NEW', { s: '[{'.repeat(5_000), t: 'a \\" ]' });
  asEvent(t, classify(t, brackets, 'brackets inside strings'), 'brackets inside strings');
});

t.test('year 0000 (an instant JavaScript accepts, a TIMESTAMP does not) is bad_event_time; year 0001 lands', async (t) => {
  asReject(t, classify(t, envelope('SOMETHING_NEW', {}, '0000-06-01T00:00:00.000Z'), 'year 0'), 'bad_event_time', 'year 0');
  const row = asEvent(t, classify(t, envelope('SOMETHING_NEW', {}, '0001-01-01T00:00:00.000Z'), 'year 1'), 'year 1');
  t.equal(row.event_date_origin, '0001-01-01 00:00:00.000');
});

t.test('positions longer than their columns are cut to fit', async (t) => {
  const long = { shardId: 's'.repeat(200), sequenceNumber: '9'.repeat(200) };
  const result = toWarehouseRow(bytesOf('nope'), long, KEY);
  assertLoadable(t, result, 'long positions');
  const row = result.row as RejectRow;
  t.equal(row.shard_id, 's'.repeat(COLUMN_BYTES.shard_id));
  t.equal(row.sequence_number, '9'.repeat(COLUMN_BYTES.sequence_number));
});

t.test('fitColumn', async (t) => {
  t.equal(fitColumn('abc', 10), 'abc', 'short text unchanged');
  t.equal(fitColumn('a\ud800b\udc00c', 100), 'a\ufffdb\ufffdc', 'lone surrogates replaced');
  t.equal(fitColumn('ab😀', 100, 3), 'ab', 'a pair across maxUnits is left out whole');
  t.equal(fitColumn('ab😀', 5), 'ab', 'a pair across maxBytes is left out whole');
  t.equal(fitColumn('ab😀', 6), 'ab😀');
  t.equal(fitColumn('a\0b', 7), 'a\\u0000', 'an escape counts 6 bytes');
  t.equal(fitColumn('a\0b', 6), 'a', 'and is never split');
});
