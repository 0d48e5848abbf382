/**
 * 5. Memory and state: a fresh process, running compiled JavaScript as the image does (tsc, as
 * scripts/build-dist.sh; under tsx its loader thread and transpiler add ~40 MB of RSS that no
 * production task has, reported beside it), loads the stolen list of 1 M cards the way the processor
 * does (the list read, written to the store, its lookup (StolenCards) kept), restores a shard engine with
 * 100 000 stolen cards active in the 60-minute window (3.6 payments per card: 1 000 events/s,
 * 10 % stolen, for 60 min) from a real classic-level store the way a restart does, and reports RSS
 * after a full GC and the store's size. The cards file, stolen list and stored state are written beforehand
 * by this (parent) process; each repetition is its own child process, so RSS is never inherited.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { absolute, emit, info, QUICK } from '../lib/figures.js';

const REPS = 3;

if (process.argv[2] === '--child') {
  const { openStateStore } = await import('../../processor/src/state/index.js');
  const { dirBytes } = await import('../lib/temp-store.js');
  const { readStolenList } = await import('../../common/src/stolen-list.js');
  const { restoreLocalState } = await import('../../processor/src/source/local-state.js');
  const [stolenListFile, stateDir, payments] = process.argv.slice(3) as [string, string, string];
  const store = await openStateStore({ kind: 'leveldb', dir: stateDir });
  const { StolenCards } = await import('../../processor/src/source/stolen-cards.js');
  const { benchTokenizer } = await import('../lib/workload.js');
  // As main.ts: read the stolen list, mirror it into the store, keep only its lookup.
  const stolen = await (async () => {
    const refs = await readStolenList(stolenListFile);
    await store.replaceStolenCards(refs);
    return new StolenCards(benchTokenizer, refs);
  })();
  // As a restart: the shard's engine restored from its committed state.
  const { engine } = await restoreLocalState(store, 'shardId-000000000000', {}, stolen);
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 200));
  (globalThis as { gc?: () => void }).gc?.();
  const rss = process.memoryUsage().rss;
  const heap = process.memoryUsage().heapUsed;
  const stats = await store.stats();
  await store.close();
  const disk = await dirBytes(stateDir);
  process.stdout.write(
    JSON.stringify({
      rss,
      heap,
      panes: engine.stats().panes,
      stolen: stolen.size,
      payments: Number(payments),
      keys: stats.keys,
      approximateBytes: stats.approximateBytes,
      disk,
    }) + '\n',
  );
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
// The cards file is cardgen's job, done before the processor starts: written here, outside the measured process.
const { mkdtemp, rm } = await import('node:fs/promises');
const { tmpdir } = await import('node:os');
const { writeCardsCsv } = await import('../../common/src/cards-file.js');
const { generateCards } = await import('../../cardgen/src/generate.js');
const cardsDir = await mkdtemp(join(tmpdir(), 'sca-bench-cards-'));
const cardsFile = join(cardsDir, 'cards.csv');
await writeCardsCsv(cardsFile, generateCards({ count: 1_000_000, seed: 1 }));
// So is the shard's state: a processor reaches it by an hour of traffic, not in the measured
// process (building it here would leave the builder's garbage in the RSS being measured).
const { buildActiveState } = await import('../lib/state-builder.js');
const { readCardsFile } = await import('../../common/src/cards-file.js');
const { openStateStore } = await import('../../processor/src/state/index.js');
const stateDir = join(cardsDir, 'state');
// The stolen list, as `npm run stolen-list` writes it from the cards file.
const { benchTokenizer } = await import('../lib/workload.js');
const { writeStolenList } = await import('../../common/src/stolen-list.js');
const stolenRefs = [...(await readCardsFile(cardsFile)).stolen].map((c) => benchTokenizer.cardRef(c));
const stolenListFile = join(cardsDir, 'stolen-cards.csv');
await writeStolenList(stolenListFile, stolenRefs);
const state = buildActiveState(stolenRefs, QUICK ? 1 : 3.6, Date.now());
const builder = await openStateStore({ kind: 'leveldb', dir: stateDir });
await builder.commitShard('shardId-000000000000', { puts: state.entries, dels: [] }, { sequenceNumber: '1', watermarkMs: state.watermarkMs, shardEnd: false });
await builder.close();
// One giant batch sits in LevelDB's write-ahead log until the next open turns it into a table; a
// processor's log never holds more than a write buffer (4 MB). Settle it here, not in the child.
await (await openStateStore({ kind: 'leveldb', dir: stateDir })).close();
// Compiled as the image's build does (scripts/build-dist.sh), bench code included, into dist/ (git
// ignores it); packages resolve from the repository's node_modules.
const ROOT = join(fileURLToPath(import.meta.url), '../../..');
const compiled = join(ROOT, 'dist/bench-memory');
const tsc = spawnSync(
  join(ROOT, 'node_modules/.bin/tsc'),
  ['-p', join(ROOT, 'tsconfig.json'), '--noEmit', 'false', '--sourceMap', 'false', '--outDir', compiled],
  {
    encoding: 'utf8',
  },
);
if (tsc.status !== 0) throw new Error(`compiling for the memory child failed: ${tsc.stdout}${tsc.stderr}`);
const compiledSelf = join(compiled, 'bench/scenarios/memory.js');

type Run = {
  rss: number;
  heap: number;
  panes: number;
  stolen: number;
  payments: number;
  keys: number;
  approximateBytes: number;
  disk: number;
};
function child(nodeArgs: string[], script: string): Run {
  const c = spawnSync(process.execPath, ['--expose-gc', ...nodeArgs, script, '--child', stolenListFile, stateDir, String(state.payments)], {
    encoding: 'utf8',
    env: process.env,
    maxBuffer: 1 << 24,
  });
  if (c.status !== 0) throw new Error(`memory child failed: ${c.stderr}`);
  return JSON.parse(c.stdout.trim().split('\n').pop() as string) as Run;
}
const runs: Run[] = [];
for (let r = 0; r < REPS; r++) runs.push(child([], compiledSelf));
const underTsx = child(['--import', 'tsx'], self);
await rm(cardsDir, { recursive: true, force: true });
await rm(compiled, { recursive: true, force: true });
const mb = (b: number) => b / 1024 / 1024;
const r0 = runs[0]!;
emit([
  absolute(
    'RSS, 1 M cards + 100 000 active stolen cards',
    'MB',
    runs.map((r) => mb(r.rss)),
    'RSS <= 300 MB',
    (v) => v <= 300,
    `${r0.stolen} stolen cards; ${r0.panes} panes from ${r0.payments} stolen payments in the 60-min window; heap used ${mb(r0.heap).toFixed(0)} MB; compiled JavaScript, as the image runs it`,
  ),
  info(
    'RSS, the same under tsx',
    'MB',
    [mb(underTsx.rss)],
    'what this figure measured up to stop 20: the same process run from TypeScript through tsx (its loader thread and transpiler included), 1 run',
  ),
  info(
    'state on disk (LevelDB directory)',
    'MB',
    runs.map((r) => mb(r.disk)),
    `${r0.keys} keys (incl. 100 000 stolen cards); approximateSize ${mb(r0.approximateBytes).toFixed(1)} MB`,
  ),
]);
