/**
 * 6. Rebuild: one shard's state rebuilt by replaying its payments at 1 000 events/s of event time
 * through the real rebuild path (processor/src/source/rebuild.ts: classify → engine → skipDue, then
 * the final state committed to classic-level), fed from pre-encoded records instead of kinesalite.
 *
 * A replay builds no output (the previous owner sent it). The hour (3.6 M records, ~1 GB encoded)
 * does not fit in memory and time here, so each repetition measures:
 *   A. the hour's first minutes replayed from an empty state (small state: cheap records);
 *   B. one minute at the hour's end replayed from a state with 100 000 stolen cards active (the
 *      most expensive records): the replay alone (rebuildEngine's replayMs);
 *   F. B's fixed cost: restoring those ~350 000 entries and committing the rebuilt state;
 * and projects the hour as 3.6 M × the mean of A's and B's per-record costs + F (the final commit
 * of the hour's state, which holds as many entries as B's).
 */
import { absolute, emit, info, QUICK } from '../lib/figures.js';
import { batches, encodePayments, makeCards } from '../lib/workload.js';
import { fakeKinesis } from '../lib/fake-kinesis.js';
import { tempLevelStore } from '../lib/temp-store.js';
import { buildActiveState } from '../lib/state-builder.js';
import { BENCH_SHARD as SHARD, replayShard } from '../lib/replay.js';

const REPS = 3;
const COUNT_A = QUICK ? 60_000 : 200_000;
const COUNT_B = QUICK ? 20_000 : 60_000;
const STEP_MS = 1; // 1 000 events/s of event time
const HOUR_RECORDS = 3_600_000;

const cards = makeCards(1_000_000);
const hourStart = Math.floor((Date.now() - 2 * 3_600_000) / 10_000) * 10_000;
const inputA = batches(encodePayments(cards, { count: COUNT_A, startMs: hourStart, stepMs: STEP_MS, seed: 7 }), 10_000);
const startB = hourStart + 3_540_000;
const inputB = batches(encodePayments(cards, { count: COUNT_B, startMs: startB, stepMs: STEP_MS, seed: 8 }), 10_000);
const stateB = buildActiveState(cards.stolenRefs, 3.54, startB);

const shardA = fakeKinesis(inputA);
const shardB = fakeKinesis(inputB);

async function replay(
  kinesis: ReturnType<typeof fakeKinesis>,
  initial?: Array<[string, unknown]>,
): Promise<{ seconds: number; replaySeconds: number; entries: number }> {
  const t = await tempLevelStore();
  const started = performance.now();
  const result = await replayShard(kinesis, cards.stolenCards, initial);
  await t.store.commitShard(SHARD, { puts: result.entries, dels: [] }, { sequenceNumber: '1', watermarkMs: result.engine.watermarkMs ?? 0, shardEnd: false });
  const seconds = (performance.now() - started) / 1000;
  await t.dispose();
  return { seconds, replaySeconds: result.replayMs / 1000, entries: result.entries.length };
}

const slice = { a: [] as number[], b: [] as number[], fixed: [] as number[], hour: [] as number[], hourSeconds: [] as number[] };
let entriesB = 0;
for (let r = 0; r < REPS; r++) {
  const a = await replay(shardA);
  const b = await replay(shardB, stateB.entries);
  entriesB = b.entries;
  const perA = a.seconds / COUNT_A;
  const perB = b.replaySeconds / COUNT_B;
  const fixed = b.seconds - b.replaySeconds;
  slice.a.push(1 / perA);
  slice.b.push(1 / perB);
  slice.fixed.push(fixed);
  const hourSeconds = HOUR_RECORDS * ((perA + perB) / 2) + fixed;
  slice.hourSeconds.push(hourSeconds);
  slice.hour.push(HOUR_RECORDS / hourSeconds);
}
emit([
  absolute(
    'rebuild, 60 min at 1 000 ev/s (projected)',
    'records/s',
    slice.hour,
    '>= 50 000 records/s',
    (v) => v >= 50_000,
    'replay with nothing emitted (skipDue), final state committed to LevelDB',
  ),
  info('rebuild: time for 60 min at 1 000 ev/s (3.6 M records, projected)', 's', slice.hourSeconds),
  info('rebuild slice A: hour start, empty state', 'records/s', slice.a, `${COUNT_A} records`),
  info(
    'rebuild slice B: hour end, 100 000 cards active (replay alone)',
    'records/s',
    slice.b,
    `${COUNT_B} records from ${stateB.entries.length} entries; ${entriesB} entries committed`,
  ),
  info('rebuild fixed cost F: restore + commit of the 100 000-card state', 's', slice.fixed),
]);
