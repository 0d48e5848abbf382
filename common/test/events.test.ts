import t from 'tap';
import { randomUUID } from 'node:crypto';
import { decodeRecord, encodeEvent, hasAtMostTwoDecimals } from '../src/events.js';

const good = () => ({
  event_type: 'PAYMENT_EVENT',
  event_id: randomUUID(),
  event_date_origin: '2026-11-27T04:31:34.123Z',
  data: {
    card_number: '4111111111111111',
    amount: 19.99,
    currency: 'EUR',
    merchant_id: 'm-42',
    mcc: '5411',
    country: 'FR',
    merchant_name: 'Épicerie',
  },
});
const bytes = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

t.test('a valid payment decodes', async (t) => {
  const e = good();
  const r = decodeRecord(encodeEvent(e));
  t.ok(r.ok);
  if (r.ok) t.same(r.event, e);
});

t.test('each kind of bad record gets its reason', async (t) => {
  const cases: [string, unknown, string][] = [
    ['not UTF-8', new Uint8Array([0xc3, 0x28]), 'not_utf8'],
    ['not JSON', '{"event_type":', 'not_json'],
    ['array', '[]', 'bad_envelope'],
    ['uuid', { ...good(), event_id: '123' }, 'bad_envelope'],
    ['time without ms', { ...good(), event_date_origin: '2026-11-27T04:31:34Z' }, 'bad_envelope'],
    ['impossible date', { ...good(), event_date_origin: '2026-02-30T04:31:34.123Z' }, 'bad_envelope'],
    ['extra envelope field', { ...good(), extra: 1 }, 'bad_envelope'],
    ['lowercase type', { ...good(), event_type: 'payment' }, 'bad_envelope'],
    ['Luhn', { ...good(), data: { ...good().data, card_number: '4111111111111112' } }, 'bad_data'],
    ['too short card', { ...good(), data: { ...good().data, card_number: '42424242424' } }, 'bad_data'],
    ['negative amount', { ...good(), data: { ...good().data, amount: -1 } }, 'bad_data'],
    ['zero amount', { ...good(), data: { ...good().data, amount: 0 } }, 'bad_data'],
    ['three decimals', { ...good(), data: { ...good().data, amount: 1.234 } }, 'bad_data'],
    ['amount as string', { ...good(), data: { ...good().data, amount: '1.00' } }, 'bad_data'],
    ['currency', { ...good(), data: { ...good().data, currency: 'EURO' } }, 'bad_data'],
    ['unknown currency', { ...good(), data: { ...good().data, currency: 'ABC' } }, 'bad_data'],
    ['country', { ...good(), data: { ...good().data, country: 'XX' } }, 'bad_data'],
    ['missing merchant', { ...good(), data: { card_number: '4111111111111111', amount: 1, currency: 'EUR' } }, 'bad_data'],
  ];
  for (const [name, value, reason] of cases) {
    const r = decodeRecord(value instanceof Uint8Array ? value : bytes(value));
    t.notOk(r.ok, name);
    if (!r.ok) t.equal(r.reason, reason, `${name}: ${r.detail}`);
  }
});

t.test('unknown types pass with a valid envelope; known types are checked', async (t) => {
  t.ok(decodeRecord(bytes({ ...good(), event_type: 'SOMETHING_ELSE', data: { anything: true } })).ok);
  t.notOk(decodeRecord(bytes({ ...good(), event_type: 'PAYMENT_ALERT' })).ok, 'a payment body is not an alert');
});

t.test('two decimals', async (t) => {
  for (const n of [1, 0.01, 19.99, 123456.78, 0.1 + 0.7]) t.ok(hasAtMostTwoDecimals(Number(n.toFixed(2))), String(n));
  for (const n of [0.001, 1.005, 0.1 + 0.2, Infinity, NaN]) t.notOk(hasAtMostTwoDecimals(n), String(n));
});

t.test('regression: a malformed country is rejected as bad_data, not thrown (zod ran the name lookup after the format check failed)', async (t) => {
  for (const country of ['x', 'xyz', 'de', '']) {
    let r;
    t.doesNotThrow(() => (r = decodeRecord(bytes({ ...good(), data: { ...good().data, country } }))), JSON.stringify(country));
    t.match(r, { ok: false, reason: 'bad_data' });
  }
});

t.test('regression: a record nested 100 000 deep is a not_json reject, never an exception (the key scan recursed past the stack)', async (t) => {
  const enc = new TextEncoder();
  const arrays = '['.repeat(100_000) + ']'.repeat(100_000);
  const objects = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
  const inData = `{"event_type":"PAYMENT_EVENT","event_id":"e","event_date_origin":"2026-01-01T00:00:00.000Z","data":${arrays}}`;
  for (const [what, text] of [
    ['arrays', arrays],
    ['objects', objects],
    ['inside data', inData],
  ] as const) {
    let decoded;
    t.doesNotThrow(() => (decoded = decodeRecord(enc.encode(text))), what);
    t.match(decoded, { ok: false, reason: 'not_json', detail: /nested too deeply/ }, what);
  }
});
