/**
 * Card status on the stream, on the source side (issue 19): how a CARD_STATUS_CHANGED record is
 * classified, how a reported card's payments become candidates, what the record of recent payments
 * is given, and what a batch does with a report (engine, metric, log).
 */
import t from 'tap';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { _Record } from '@aws-sdk/client-kinesis';
import { classifyRecord, type Classified } from '../../src/source/classify.js';
import { ShardCards } from '../../src/source/shard-cards.js';
import { takeRecords } from '../../src/source/intake.js';
import { ShardEngine } from '../../src/engine/index.js';
import { createMetrics } from '../../src/metrics.js';
import { card, pid, ref, stolenCards, token, toPaymentEvent, pay } from '../engine/helpers.js';
import { CardTokenizer } from '../../../common/src/card-token.js';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const LISTED = card(1);
const OTHER = card(2);
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');

function statusRecord(cardNumber: string, status: string, effectiveAt: number, extra: Record<string, unknown> = {}) {
  return {
    event_type: 'CARD_STATUS_CHANGED',
    event_id: pid(`status/${cardNumber}/${status}/${effectiveAt}`),
    event_date_origin: new Date(T0).toISOString(),
    data: { card_number: cardNumber, status, effective_at: new Date(effectiveAt).toISOString(), ...extra },
  };
}

t.test('CARD_STATUS_CHANGED: a status of the card by its ref; keyed by another card, misrouted; invalid, rejected', async (t) => {
  const e = new ShardEngine({}, undefined, stolenCards([LISTED]));
  const opts = { maxRecordBytes: 65_536, nowMs: T0, stolen: new ShardCards(stolenCards([LISTED]), e.reported) };
  const c = classifyRecord(bytes(statusRecord(OTHER, 'STOLEN', T0 - 60_000, { reason: 'phoned in', reported_by: 'ops' })), opts, T0, OTHER) as Extract<
    Classified,
    { kind: 'status' }
  >;
  t.equal(c.kind, 'status');
  t.equal(c.card, ref(OTHER), 'named by its card ref');
  t.equal(c.stolen, true);
  t.equal(c.effectiveAtMs, T0 - 60_000);
  t.equal(Buffer.from(c.number).toString('latin1'), OTHER, 'its number, for the record of recent payments only');
  t.equal((classifyRecord(bytes(statusRecord(OTHER, 'ACTIVE', T0)), opts, T0, OTHER) as { stolen: boolean }).stolen, false, 'ACTIVE');
  t.same(
    classifyRecord(bytes(statusRecord(OTHER, 'STOLEN', T0)), opts, T0, 'someone-else'),
    { kind: 'misrouted', card: OTHER },
    'keyed by another: re-published keyed by its card',
  );
  t.match(classifyRecord(bytes(statusRecord(OTHER, 'LOST', T0)), opts), { kind: 'reject', reason: 'bad_data', detail: /status/ }, 'an unknown status');
  t.match(
    classifyRecord(bytes(statusRecord('4111111111111112', 'STOLEN', T0)), opts),
    { kind: 'reject', reason: 'bad_card_number' },
    'a card number failing Luhn',
  );
  const noTime = statusRecord(OTHER, 'STOLEN', T0);
  (noTime.data as Record<string, unknown>).effective_at = 'yesterday';
  t.match(classifyRecord(bytes(noTime), opts), { kind: 'reject', reason: 'bad_data', detail: /effective_at/ }, 'an effective_at that is not an instant');
  t.match(classifyRecord(bytes(statusRecord(OTHER, 'STOLEN', T0, { extra: 1 })), opts), { kind: 'reject', reason: 'bad_data' }, 'an unknown field');
});

t.test("a reported card's payments become candidates by both decoders; other cards' stay not_stolen without a token", async (t) => {
  const e = new ShardEngine({}, undefined, stolenCards([LISTED]));
  const cards = new ShardCards(stolenCards([LISTED]), e.reported);
  const opts = { maxRecordBytes: 65_536, nowMs: T0, stolen: cards };
  const canonical = (p: ReturnType<typeof pay>) => bytes(toPaymentEvent(p));
  const spaced = (p: ReturnType<typeof pay>) => Buffer.from(JSON.stringify(toPaymentEvent(p), null, 1));
  const p = pay({ at: T0, card: OTHER });
  for (const [name, encode] of [
    ['scanner', canonical],
    ['decoder', spaced],
  ] as const) {
    t.equal(classifyRecord(encode(p), opts).kind, 'not_stolen', `${name}: before any report, not a candidate`);
  }
  e.onStatus({ card: ref(OTHER), number: Buffer.from(OTHER), stolen: true, effectiveAtMs: T0 });
  for (const [name, encode] of [
    ['scanner', canonical],
    ['decoder', spaced],
  ] as const) {
    t.match(classifyRecord(encode(p), opts), { kind: 'payment', event: { card: ref(OTHER) } }, `${name}: once reported, a candidate named by its ref`);
    t.equal(classifyRecord(encode(pay({ at: T0, card: card(3) })), opts).kind, 'not_stolen', `${name}: another card is not`);
    t.match(classifyRecord(encode(pay({ at: T0, card: LISTED })), opts), { kind: 'payment' }, `${name}: the listed card still is`);
  }
  // A card with OTHER's truncated form (same first 6, last 4, length) but another number: the token decides.
  const lookalike = '4000002' + OTHER.slice(7);
  t.ok(lookalike !== OTHER && lookalike.slice(0, 6) === OTHER.slice(0, 6) && lookalike.slice(-4) === OTHER.slice(-4));
  t.equal(cards.mayHaveAscii(Buffer.from(lookalike), 0, 16), true, 'the truncated form alone says maybe');
  t.equal(cards.refOf(lookalike), undefined, 'and the token says no');
});

t.test('the record of recent payments is given every valid payment of the shard, by both decoders, and nothing set aside', async (t) => {
  const e = new ShardEngine({}, undefined, stolenCards([LISTED]));
  const opts = { maxRecordBytes: 65_536, nowMs: T0 + 60_000, stolen: new ShardCards(stolenCards([LISTED]), e.reported), recent: e.recent };
  const canonical = pay({ at: T0 + 1, card: OTHER, merchant: 'shop-1' });
  const spaced = pay({ at: T0 + 2, card: OTHER, merchant: 'shop é' });
  const ahead = pay({ at: T0 + 3_600_000, card: OTHER });
  const misrouted = pay({ at: T0 + 3, card: OTHER });
  classifyRecord(bytes(toPaymentEvent(canonical)), opts, T0 + 60_000, OTHER);
  classifyRecord(Buffer.from(JSON.stringify(toPaymentEvent(spaced), null, 1)), opts, T0 + 60_000, OTHER);
  t.equal(classifyRecord(bytes(toPaymentEvent(ahead)), opts, T0 + 60_000, OTHER).kind, 'clock_ahead');
  t.equal(classifyRecord(bytes(toPaymentEvent(misrouted)), opts, T0 + 60_000, 'x').kind, 'misrouted');
  const found = e.recent!.find(Buffer.from(OTHER), -Infinity, Infinity);
  t.same(
    found.map((p) => [p.id, p.at, p.amount, p.currency, p.merchant]),
    [canonical, spaced].map((p) => [p.id, p.at, p.amount, p.currency, p.merchant]),
    'the two valid payments of the shard, as they were, and only they',
  );
  t.same(e.recent!.find(Buffer.from(card(3)), -Infinity, Infinity), [], "another card's search finds none of them");
});

t.test('a batch hands a report to its engine, counts it and logs it with the card by token and masked form only', async (t) => {
  const stolen = stolenCards([LISTED]);
  const engine = new ShardEngine({}, undefined, stolen);
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const records: _Record[] = [
    {
      Data: bytes(toPaymentEvent(pay({ at: T0 + 1_000, card: OTHER }))),
      PartitionKey: OTHER,
      SequenceNumber: '1',
      ApproximateArrivalTimestamp: new Date(T0 + 1_000),
    },
    { Data: bytes(statusRecord(OTHER, 'STOLEN', T0)), PartitionKey: OTHER, SequenceNumber: '2', ApproximateArrivalTimestamp: new Date(T0 + 1_100) },
  ];
  const options = { maxRecordBytes: 65_536, nowMs: T0 + 1_200, stolen: new ShardCards(stolen, engine.reported), recent: engine.recent };
  takeRecords(records, { shardId: 's1', engine, options, metrics, log });
  t.equal(engine.stats().pendingAlertWindows, 1, "the report holds the card's payment read just before it");
  const text = await registry.metrics();
  t.match(text, /payments_card_status_changes_total\{status="STOLEN"\} 1/);
  t.match(text, /payments_records_read_total\{event_type="CARD_STATUS_CHANGED"\} 1/);
  const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'card status changed');
  t.match(line, { shardId: 's1', card_token: token(OTHER), card_masked: `${OTHER.slice(0, 6)}******${OTHER.slice(-4)}`, status: 'STOLEN', held: 1, retro: 0 });
  t.notOk(lines.join('').includes(OTHER), 'no card number in any log line');
});

t.test('the record keeps a card by its keyed hash only: no number stored, a merchant id holding one masked, damage refused', async (t) => {
  const e = new ShardEngine({}, undefined, stolenCards([LISTED]));
  const withPan = pay({ at: T0, card: OTHER, merchant: `shop ${LISTED}` });
  const spaced = pay({ at: T0 + 1, card: OTHER, merchant: 'café "x"' });
  const opts = { maxRecordBytes: 65_536, nowMs: T0 + 60_000, stolen: new ShardCards(stolenCards([LISTED]), e.reported), recent: e.recent };
  classifyRecord(bytes(toPaymentEvent(withPan)), opts, T0 + 60_000, OTHER);
  classifyRecord(Buffer.from(JSON.stringify(toPaymentEvent(spaced), null, 1)), opts, T0 + 60_000, OTHER);
  const stored = new Map(e.takeChanges().puts.filter(([k]) => k.startsWith('recent/')));
  const text = [...stored.values()].map((v) => Buffer.from(v as Uint8Array).toString('latin1')).join('');
  t.ok(stored.size > 0, 'the record is stored');
  t.notOk(text.includes(OTHER) || text.includes(LISTED), 'no card number in it, as the card or in a merchant id');
  t.same(
    e.recent!.find(Buffer.from(OTHER), -Infinity, Infinity).map((p) => p.merchant),
    [`shop ${LISTED.slice(0, 6)}******${LISTED.slice(-4)}`, 'café "x"'],
    'merchant ids read back: masked, and any text as it was',
  );
  // Another key's record (another processor's card key) finds nothing of this card.
  const other = new ShardEngine({}, undefined, {
    refOfToken: () => undefined,
    recordKey: new CardTokenizer('k2', 'another-card-token-key-of-32-bytes!!').recordKey,
  });
  for (const [k, v] of stored) other.recent!.restore(k, v);
  t.same(other.recent!.find(Buffer.from(OTHER), -Infinity, Infinity), [], 'under another key the hashes match nothing');
  const restored = new ShardEngine({}, undefined, stolenCards([LISTED]));
  for (const [k, v] of stored) restored.recent!.restore(k, v);
  t.equal(restored.recent!.find(Buffer.from(OTHER), -Infinity, Infinity).length, 2, 'under its key, restored, they are found');
  const [key, value] = [...stored][0]!;
  const damaged = Buffer.from(value as Uint8Array)
    .toString('latin1')
    .slice(1, -2);
  t.throws(() => restored.recent!.restore(key, damaged), { name: 'EngineStateError', message: /recent payments/ }, 'a cut part is refused');
  t.throws(() => restored.recent!.restore(key, 'x'.repeat(90)), { name: 'EngineStateError' }, 'so is one that is not lines');
});
