/**
 * 2. Summary cost under a watermark jump: 100 000 stolen cards with data over the last 60 minutes,
 * restored into a ShardEngine, then the watermark jumps 1 h or 6 h; the due summaries are drained
 * in chunks of 5 000 and discarded, as the shard task does.
 */
import { absolute, emit, info, QUICK } from '../lib/figures.js';
import { makeCards } from '../lib/workload.js';
import { buildActiveState } from '../lib/state-builder.js';
import { ShardEngine } from '../../processor/src/engine/index.js';

const REPS = 3;
/** Summaries timed per repetition (the jump makes ~18 M due; see docs/benchmarks.md). */
const CAP = QUICK ? 100_000 : 300_000;
const CHUNK = 5_000;

const cards = makeCards(1_000_000);
const endMs = Date.UTC(2026, 10, 27, 12, 0, 0);
const state = buildActiveState(cards.stolenRefs, 3, endMs);

function jump(hours: number): { usPerSummary: number; summaries: number } {
  const engine = ShardEngine.restore(state.entries, {}, cards.stolenCards);
  engine.onIdle({ nowMs: state.watermarkMs + hours * 3_600_000 + 3_000, caughtUp: true, lastProgressAtMs: 0 });
  let n = 0;
  const t0 = performance.now();
  for (;;) {
    const out = engine.drain(CHUNK, endMs);
    engine.takeChanges();
    n += out.length;
    if (out.length < CHUNK || n >= CAP) break;
  }
  const us = ((performance.now() - t0) * 1000) / n;
  return { usPerSummary: us, summaries: n };
}

const oneHour: number[] = [];
const sixHours: number[] = [];
let counted = 0;
for (let r = 0; r < REPS; r++) {
  const a = jump(1);
  oneHour.push(a.usPerSummary);
  const b = jump(6);
  sixHours.push(b.usPerSummary);
  counted = a.summaries;
}
emit([
  absolute(
    'summary cost, 1 h jump',
    'µs/summary',
    oneHour,
    '<= 20 µs per summary',
    (v) => v <= 20,
    `${cards.stolen.length} stolen cards, ${state.payments} payments over 60 min; first ${counted} due summaries timed`,
  ),
  absolute('summary cost, 6 h jump', 'µs/summary', sixHours, '<= 20 µs per summary', (v) => v <= 20),
  info(
    'summary cost: 6 h ÷ 1 h',
    'ratio',
    sixHours.map((v, i) => v / (oneHour[i] as number)),
    'independent of the jump size when ≈ 1',
  ),
]);
