/**
 * 12. The warehouse's tokenising transform (issue 18): what it costs per record to turn a payment
 * into its warehouse row with its card number tokenised (toWarehouseRow: decode, HMAC-SHA-256 of
 * the card, the row's JSON, any other PAN masked), against the same classification without
 * tokens in the same run (decode + the row's JSON, what the transform did before). The Lambda and
 * the local stand-in run this function once per record.
 */
import { randomBytes } from 'node:crypto';
import { emit, info, relative, QUICK } from '../lib/figures.js';
import { encodePayments, makeCards } from '../lib/workload.js';
import { toWarehouseRow } from '../../deploy/warehouse/rows.js';
import { CardTokenizer } from '../../common/src/card-token.js';
import { decodeRecord } from '../../common/src/events.js';

const REPS = 5;
const COUNT = QUICK ? 20_000 : 100_000;
const cards = makeCards(100_000);
const records = encodePayments(cards, { count: COUNT, startMs: Date.UTC(2026, 11, 5, 12), stepMs: 1 });
const tokenizer = new CardTokenizer('bench', randomBytes(32).toString('base64url'));
const position = { shardId: 'shardId-000000000000', sequenceNumber: '1' };

/** The classification without tokens: decode, then the row's data as JSON. */
function plainRow(bytes: Uint8Array): number {
  const d = decodeRecord(bytes);
  return d.ok ? JSON.stringify(d.event.data).length : 0;
}

function tokenisedRow(bytes: Uint8Array): number {
  const r = toWarehouseRow(bytes, position, tokenizer);
  return r.table === 'events' ? r.row.event_json_data.length : 0;
}

function usPerRecord(f: (b: Uint8Array) => number): number {
  let sink = 0;
  const t0 = performance.now();
  for (const r of records) sink += f(r);
  const us = ((performance.now() - t0) * 1000) / records.length;
  if (sink === 0) throw new Error('nothing classified');
  return us;
}

// Warm both paths (JIT) before timing; then alternate them, so machine noise hits both alike.
usPerRecord(plainRow);
usPerRecord(tokenisedRow);
const plain: number[] = [];
const tokenised: number[] = [];
const hmac: number[] = [];
for (let r = 0; r < REPS; r++) {
  plain.push(usPerRecord(plainRow));
  tokenised.push(usPerRecord(tokenisedRow));
  const t0 = performance.now();
  for (let i = 0; i < COUNT; i++) tokenizer.token(cards.all[i % cards.all.length]!);
  hmac.push(((performance.now() - t0) * 1000) / COUNT);
}
emit([
  relative(
    'warehouse transform with card tokens',
    'µs/record',
    tokenised,
    plain,
    'ratio <= 2 (against the same classification without tokens)',
    (ratio) => ratio <= 2,
    `${COUNT} simulator payments; baseline: decode + the row's JSON, no token; ${REPS} alternating repetitions`,
  ),
  info('card token alone (HMAC-SHA-256, base64url)', 'µs/card', hmac, 'node:crypto createHmac per card'),
]);
