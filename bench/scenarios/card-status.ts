/**
 * Issue 19: what card status on the stream costs the hot path, in one run against its own
 * baselines (the throughput scenario's ShardTask path, same records):
 * - the record of recent payments (every payment written into it as a line, each commit's part a
 *   file beside LevelDB): the default RETRO_ALERT_MS against retroAlertMs 0 (no record);
 * - the status lookup: 1 000 cards reported stolen at the start of the shard (the hot path then
 *   tests every payment against their truncated forms, and their payments become candidates)
 *   against none;
 * - the record's size: bytes per payment held, and what the default 5 min holds at 1 000
 *   payments/s.
 */
import { emit, QUICK, info, relative } from '../lib/figures.js';
import { batches, encodePayments, makeCards } from '../lib/workload.js';
import { fakeKinesis, runShardTask } from '../lib/fake-kinesis.js';
import { tempLevelStore } from '../lib/temp-store.js';
import { encodeEvent } from '../../common/src/events.js';
import { ShardEngine } from '../../processor/src/engine/index.js';
import { classifyRecord } from '../../processor/src/source/classify.js';
import { ShardCards } from '../../processor/src/source/shard-cards.js';

const REPS = 7;
const COUNT = QUICK ? 100_000 : 300_000;
/** Event-time density: 10 000 events/s, as the throughput scenario. */
const STEP_MS = 0.1;
const REPORTED = 1_000;

const cards = makeCards(1_000_000);
const startMs = Math.floor((Date.now() - COUNT * STEP_MS - 5_000) / 10_000) * 10_000;
const records = encodePayments(cards, { count: COUNT, startMs, stepMs: STEP_MS });
const listed = new Set(cards.stolen);
const reportedCards = cards.all.filter((c) => !listed.has(c)).slice(0, REPORTED);
const reports = reportedCards.map((card, i) =>
  encodeEvent({
    event_type: 'CARD_STATUS_CHANGED',
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    event_date_origin: new Date(startMs).toISOString(),
    data: { card_number: card, status: 'STOLEN', effective_at: new Date(startMs - 60_000).toISOString() },
  }),
);
const plain = fakeKinesis(batches(records, 10_000));
const withReports = fakeKinesis(batches([...reports, ...records], 10_000));

async function throughput(shard: typeof plain, engineConfig: { retroAlertMs?: number }): Promise<number> {
  const { store, dispose } = await tempLevelStore();
  const run = await runShardTask(store, cards.stolenCards, shard, Date.now, engineConfig);
  await dispose();
  return records.length / run.seconds;
}

// Warm-up, untimed: every path reaches optimised code first.
await throughput(plain, { retroAlertMs: 0 });
await throughput(withReports, {});
const noRecord: number[] = [];
const record: number[] = [];
const reported: number[] = [];
for (let r = 0; r < REPS; r++) {
  noRecord.push(await throughput(plain, { retroAlertMs: 0 }));
  record.push(await throughput(plain, {}));
  reported.push(await throughput(withReports, {}));
}

// The record's size: every payment of the workload through classify into one engine's record.
const engine = new ShardEngine({}, undefined, cards.stolenCards);
const options = { maxRecordBytes: 65_536, nowMs: startMs + COUNT * STEP_MS, stolen: new ShardCards(cards.stolenCards, engine.reported), recent: engine.recent };
for (const b of records) classifyRecord(b, options);
const perPayment = engine.stats().recentBytes / records.length;

emit([
  relative(
    'record of recent payments: throughput with it',
    'records/s',
    record,
    noRecord,
    'ratio >= 0.8',
    (x) => x >= 0.8,
    `ShardTask path, ${COUNT} records, 1 M cards (10 % stolen); RETRO_ALERT_MS 5 min against 0 (no record); each payment written as a line of the record, each commit's part a file beside LevelDB`,
  ),
  relative(
    'status lookup: throughput with 1 000 cards reported',
    'records/s',
    reported,
    record,
    'ratio >= 0.9',
    (x) => x >= 0.9,
    `the same records after ${REPORTED} CARD_STATUS_CHANGED (STOLEN, cards off the list) against none: every payment also tested against the reported cards' truncated forms, theirs named by token and judged by status`,
  ),
  info(
    'record of recent payments: bytes per payment',
    'B',
    [Math.round(perPayment)],
    `${COUNT} payments of the workload (card, time, id, amount, currency, merchant id)`,
  ),
  info(
    'record of recent payments: 5 min at 1 000 payments/s',
    'MB',
    [Math.round((perPayment * 300_000) / 1e5) / 10],
    'per shard, in memory, in files beside LevelDB and in snapshots: the default RETRO_ALERT_MS at a full shard',
  ),
]);
