/**
 * 12. The tokenisers (issue 18). The warehouse's transform: what it costs per record to turn a
 * payment into its warehouse row with its card number tokenised (toWarehouseRow: decode,
 * HMAC-SHA-256 of the card, the row's JSON, any other PAN masked), against the same classification
 * without tokens in the same run (decode + the row's JSON, what the transform did before). The
 * Lambda and the local stand-in run this function once per record. The processor's: its stolen-card
 * lookup per payment (truncated form first, HMAC only for a possible match; StolenCards), against a
 * Set of the stolen card numbers (what it held before) in the same run; its effect on the whole
 * processor is in the cpu scenario's ratio.
 */
import { randomBytes } from 'node:crypto';
import { emit, info, relative, QUICK } from '../lib/figures.js';
import { encodePayments, makeCards } from '../lib/workload.js';
import { PaymentScan } from '../../common/src/payment-fast-path.js';
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
// The processor's lookup, on the scanned records as classify asks it.
const scan = new PaymentScan();
const scanned = records.filter((r) => scan.read(r));
const stolenNumbers = new Set(cards.stolen);
function lookups(f: (r: Uint8Array) => boolean): { us: number; hits: number } {
  let hits = 0;
  const t0 = performance.now();
  for (const r of scanned) if (scan.read(r) && f(r)) hits++;
  return { us: ((performance.now() - t0) * 1000) / scanned.length, hits };
}
const byTokens = (): { us: number; hits: number } => lookups(() => scan.cardMayBeIn(cards.stolenCards) && scan.cardRefIn(cards.stolenCards) !== undefined);
const byNumbers = (): { us: number; hits: number } => lookups(() => stolenNumbers.has(scan.card()));
byTokens();
byNumbers();
const tokenLookup: number[] = [];
const numberLookup: number[] = [];
for (let r = 0; r < REPS; r++) {
  const a = byTokens();
  const b = byNumbers();
  if (a.hits !== b.hits) throw new Error(`the token set found ${a.hits} stolen payments, the number set ${b.hits}`);
  tokenLookup.push(a.us);
  numberLookup.push(b.us);
}
let passed = 0;
for (const r of scanned) if (scan.read(r) && scan.cardMayBeIn(cards.stolenCards)) passed++;

emit([
  relative(
    "processor's stolen-card lookup by token (scan + truncated-form filter + HMAC of possible matches)",
    'µs/payment',
    tokenLookup,
    numberLookup,
    'informational: the processor-wide cost is the cpu ratio (<= 2)',
    () => true,
    `${scanned.length} payments of 100 000 cards (10 % stolen); ${passed} passed the truncated-form filter (${(((passed - byTokens().hits) / scanned.length) * 100).toFixed(2)} % of payments HMAC'd without being stolen); baseline: scan + Set of the stolen card numbers (what the processor held before)`,
  ),
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
