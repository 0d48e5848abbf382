import t from 'tap';
import { randomUUID } from 'node:crypto';
import {
  handler,
  transform,
  type Classify,
  type FirehoseKinesisRecord,
  type FirehoseTransformEvent,
  type FirehoseTransformRecordResult,
} from '../warehouse/firehose-transform.js';
import { EVENT_COLUMNS, REJECT_COLUMNS, toWarehouseRow } from '../warehouse/rows.js';
import { CardTokenizer } from '../../common/src/card-token.js';
import { withTempDir } from '../../common/test/helpers.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const CARD = '4111111111111111';
const KEY = new CardTokenizer('test-1', 'k'.repeat(32));
const withKey: Classify = (bytes, position) => toWarehouseRow(bytes, position, KEY);
const payment = () => ({
  event_type: 'PAYMENT_EVENT',
  event_id: randomUUID(),
  event_date_origin: '2026-11-27T04:31:34.123Z',
  data: { card_number: CARD, amount: 12.5, currency: 'EUR', merchant_id: 'm-1', country: 'DE' },
});
const bytesOf = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8'));

function record(value: unknown, i: number): FirehoseKinesisRecord {
  return {
    recordId: `49546986683135544286507457936321625675700192471156785154000000${String(i).padStart(6, '0')}`,
    approximateArrivalTimestamp: 1_764_218_000_000 + i,
    data: bytesOf(value).toString('base64'),
    kinesisRecordMetadata: {
      shardId: `shardId-00000000000${i % 3}`,
      partitionKey: CARD,
      approximateArrivalTimestamp: 1_764_218_000_000 + i,
      sequenceNumber: `4959033827149025660855969253836157109592157598913658${String(i).padStart(4, '0')}`,
      subsequenceNumber: 0,
    },
  };
}

function invocation(values: unknown[]): FirehoseTransformEvent {
  return {
    invocationId: randomUUID(),
    deliveryStreamArn: 'arn:aws:firehose:eu-west-1:123456789012:deliverystream/payments-to-warehouse',
    sourceKinesisStreamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/payments',
    region: 'eu-west-1',
    records: values.map(record),
  };
}

const decoded = (r: FirehoseTransformRecordResult) => Buffer.from(r.data, 'base64').toString('utf8');

const mixed = [
  payment(),
  'not json\nat all',
  new Uint8Array([0xff, 0x00, 0x41]),
  { ...payment(), event_type: 'PAYMENT_ALERT' },
  { ...payment(), event_type: 'SOMETHING_NEW', data: { big: '€'.repeat(30_000) } },
  payment(),
];

t.test('one Ok result per record: same recordId, same order, one newline-terminated JSON row, partition key by table', async (t) => {
  const event = invocation(mixed);
  const out = transform(event, withKey);
  t.equal(out.records.length, event.records.length);
  t.same(
    out.records.map((r) => r.recordId),
    event.records.map((r) => r.recordId),
    'recordIds in input order',
  );
  t.same(
    out.records.map((r) => (r.result === 'Ok' ? r.metadata.partitionKeys.table : r.result)),
    ['events', 'rejects', 'rejects', 'rejects', 'rejects', 'events'],
  );
  out.records.forEach((r, i) => {
    const input = event.records[i]!;
    const text = decoded(r);
    t.ok(text.endsWith('\n') && text.indexOf('\n') === text.length - 1, `record ${i}: exactly one newline, at the end`);
    const row = JSON.parse(text) as Record<string, unknown>;
    const meta = input.kinesisRecordMetadata;
    const expected = toWarehouseRow(Buffer.from(input.data, 'base64'), { shardId: meta.shardId, sequenceNumber: meta.sequenceNumber }, KEY);
    t.same(row, expected.row, `record ${i}: the row toWarehouseRow gives (the stand-in's row)`);
    t.same(Object.keys(row), expected.table === 'events' ? EVENT_COLUMNS : REJECT_COLUMNS, `record ${i}: keys are the column names`);
  });
  const reject = JSON.parse(decoded(out.records[2]!));
  t.equal(reject.raw_bytes, 3);
  t.equal(reject.shard_id, 'shardId-000000000002');
  t.equal(reject.sequence_number, event.records[2]!.kinesisRecordMetadata.sequenceNumber);
  const { card_number, ...rest } = (mixed[0] as ReturnType<typeof payment>).data;
  t.same(
    JSON.parse(JSON.parse(decoded(out.records[0]!)).event_json_data),
    { ...KEY.reference(card_number), ...rest },
    'the payment, its card number tokenised',
  );
  t.notOk(
    out.records.some((r) => decoded(r).includes(CARD)),
    'no row holds the card number (payment, alert, reject alike)',
  );
});

t.test('the async handler reads the key once, and returns what transform does with it', async (t) => {
  const dir = await withTempDir(t);
  const keyFile = join(dir, 'key.json');
  process.env.CARD_TOKEN_KEY_FILE = keyFile;
  t.teardown(() => void delete process.env.CARD_TOKEN_KEY_FILE);
  const event = invocation(mixed);
  await t.rejects(handler(event), { code: 'CARD_KEY' }, 'no key: the invocation fails (Firehose retries it), no row is made without tokens');
  await writeFile(keyFile, JSON.stringify({ keyId: 'test-1', key: 'k'.repeat(32) }));
  t.same(await handler(event), transform(event, withKey), 'a later invocation reads the key again');
  t.same(await handler(invocation([])), { records: [] });
});

t.test('only a record whose classification throws is ProcessingFailed; the error is logged without record contents', async (t) => {
  const event = invocation([payment(), { ...payment(), data: { card_number: '4000056655665556' } }, 'junk', payment()]);
  const failing: Classify = (bytes, position) => {
    if (bytes.toString().includes('4000056655665556')) throw new Error(`bug while reading card 4000056655665556\nsecond line ${bytes.toString()}`);
    return toWarehouseRow(bytes, position, KEY);
  };
  const logged = t.capture(console, 'error', () => undefined);
  const out = transform(event, failing);
  t.same(
    out.records.map((r) => r.result),
    ['Ok', 'ProcessingFailed', 'Ok', 'Ok'],
  );
  t.same(
    out.records.map((r) => r.recordId),
    event.records.map((r) => r.recordId),
  );
  t.equal(out.records[1]!.data, event.records[1]!.data, 'the failed record is returned as it came');
  t.notOk('metadata' in out.records[1]!, 'no partition key: it goes to the error prefix');
  const calls = logged();
  t.equal(calls.length, 1, 'one log line');
  const line = String(calls[0]?.args[0]);
  const entry = JSON.parse(line);
  t.match(entry, {
    level: 'error',
    invocationId: event.invocationId,
    recordId: event.records[1]!.recordId,
    shardId: 'shardId-000000000001',
    errorType: 'Error',
  });
  t.ok(Array.isArray(entry.stack) && entry.stack.length > 0, 'stack frames for the bug');
  t.notMatch(line, /4000056655665556|bug while|second line/, 'no card, no record contents, no error message');
});

t.test('a non-Error throw and a malformed input record are also contained to their record', async (t) => {
  t.capture(console, 'error', () => undefined);
  const event = invocation([payment(), payment()]);
  const out = transform(event, () => {
    throw 'a string';
  });
  t.same(
    out.records.map((r) => r.result),
    ['ProcessingFailed', 'ProcessingFailed'],
  );
  const broken = invocation([payment(), payment()]);
  delete (broken.records[0] as Partial<FirehoseKinesisRecord>).kinesisRecordMetadata;
  t.same(
    transform(broken, withKey).records.map((r) => r.result),
    ['ProcessingFailed', 'Ok'],
  );
});

t.test('response size: every row is bounded by the columns, and our records stay far under 6 MB per MiB', async (t) => {
  const nulAndControl = Buffer.alloc(16_000, 1).fill(0, 0, 9_907);
  const quotes = `{"event_type":"X","event_id":"${randomUUID()}","event_date_origin":"2026-11-27T04:31:34.123Z","data":{"a":"${'\\"'.repeat(32_760)}"}}`;
  const worst = invocation([Buffer.alloc(16_000, 1), nulAndControl, quotes, '😀'.repeat(40_000), 'x']);
  const rows = transform(worst, withKey).records;
  t.same(
    rows.map((r) => r.result),
    ['Ok', 'Ok', 'Ok', 'Ok', 'Ok'],
  );
  for (const [i, r] of rows.entries()) t.ok(r.data.length <= 176_000, `row ${i}: ${r.data.length} base64 characters`);

  const payments = Array.from({ length: 4_000 }, payment);
  const dataBytes = payments.reduce((n, p) => n + bytesOf(p).length, 0);
  const response = JSON.stringify(transform(invocation(payments), withKey)).length;
  const perMiB = (response / dataBytes) * 1024 * 1024;
  t.ok(perMiB < 3_000_000, `${(perMiB / 1e6).toFixed(2)} MB of response per MiB of payments`);
});
