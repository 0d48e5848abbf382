/**
 * 6. Rebuild: one shard's state rebuilt by replaying its payments at 1 000 events/s of event time
 * through the real ShardTask path (classify → engine → drain → encode → commit on classic-level),
 * fed from pre-encoded records instead of kinesalite.
 *
 * A replay re-emits the summaries of every boundary it passes (one per active stolen card per
 * 10 s), and over the hour the active cards grow from 0 to ~97 000, so the cost per record is not
 * constant: a 3.6 M-record hour makes ~26 M summaries. Replaying all of it takes far longer than
 * the 10-minute budget, so each repetition replays two slices and projects the hour:
 *   A. the hour's first minutes from an empty state (few summaries);
 *   B. one minute at the hour's end, from a restored state with 100 000 stolen cards active
 *      (every boundary summarises all of them);
 * cR = tA / records of A (an upper bound), cS = (tB − records of B · cR) / emissions of B, and the
 * hour's time is 3.6 M·cR + (26.3 M summaries + 0.36 M alerts)·cS.
 */
import { absolute, emit, info, QUICK } from '../lib/figures.js';
import { batches, encodePayments, makeCards } from '../lib/workload.js';
import { runShardTask } from '../lib/fake-kinesis.js';
import { tempLevelStore } from '../lib/temp-store.js';
import { buildActiveState } from '../lib/state-builder.js';

const REPS = 3;
const COUNT_A = QUICK ? 60_000 : 120_000;
const COUNT_B = 20_000;
const STEP_MS = 1; // 1 000 events/s of event time
const HOUR_RECORDS = 3_600_000;

/** Expected summaries of the hour: at boundary k (10 s each, 1 000 stolen payments apart), the distinct cards among k·1 000 uniform picks of 100 000. */
function hourEmissions(stolenCards: number): number {
  let s = 0;
  for (let k = 1; k <= 360; k++) s += stolenCards * (1 - Math.exp(-(k * 1_000) / stolenCards));
  return s + HOUR_RECORDS * 0.1;
}

const cards = makeCards(1_000_000);
const hourStart = Math.floor((Date.now() - 2 * 3_600_000) / 10_000) * 10_000;
const inputA = batches(encodePayments(cards, { count: COUNT_A, startMs: hourStart, stepMs: STEP_MS, seed: 7 }), 10_000);
const startB = hourStart + 3_540_000;
const inputB = batches(encodePayments(cards, { count: COUNT_B, startMs: startB, stepMs: STEP_MS, seed: 8 }), 10_000);
const stateB = buildActiveState(cards.stolen, 3.54, startB);

const slice = { a: [] as number[], b: [] as number[], hour: [] as number[], cS: [] as number[], cR: [] as number[] };
let emittedA = 0;
let emittedB = 0;
for (let r = 0; r < REPS; r++) {
  let t = await tempLevelStore();
  const a = await runShardTask(t.store, cards.stolenSet, inputA);
  await t.dispose();
  t = await tempLevelStore();
  await t.store.commitShard('shardId-000000000000', { puts: stateB.entries, dels: [] }, { sequenceNumber: '1', watermarkMs: stateB.watermarkMs, shardEnd: false });
  const b = await runShardTask(t.store, cards.stolenSet, inputB);
  await t.dispose();
  emittedA = a.emitted;
  emittedB = b.emitted;
  slice.a.push(COUNT_A / a.seconds);
  slice.b.push(COUNT_B / b.seconds);
  // Per record from A (an upper bound: A's few summaries are in it), per emission from what B adds.
  const cR = a.seconds / COUNT_A;
  const cS = Math.max(0, b.seconds - COUNT_B * cR) / b.emitted;
  slice.cR.push(cR * 1e6);
  slice.cS.push(cS * 1e6);
  slice.hour.push(HOUR_RECORDS / (HOUR_RECORDS * Math.max(cR, 0) + hourEmissions(cards.stolen.length) * cS));
}
emit([
  absolute('rebuild, 60 min at 1 000 ev/s (projected from A and B)', 'records/s', slice.hour, '>= 50 000 records/s', (v) => v >= 50_000,
    `3.6 M records re-emit ~${(hourEmissions(cards.stolen.length) / 1e6).toFixed(1)} M summaries + alerts`),
  info('rebuild slice A: hour start, empty state', 'records/s', slice.a, `${COUNT_A} records, ${emittedA} alerts + summaries`),
  info('rebuild slice B: hour end, 100 000 cards active', 'records/s', slice.b, `${COUNT_B} records, ${emittedB} alerts + summaries`),
  info('rebuild: cost per record ', 'µs', slice.cR),
  info('rebuild: cost per emitted summary/alert ', 'µs', slice.cS),
]);
