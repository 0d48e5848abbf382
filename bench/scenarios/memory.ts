/**
 * 5. Memory and state: a fresh process loads 1 M cards the way the processor does (the cards
 * file, the stolen set kept, the stolen cards written to the store), restores a shard engine with
 * 100 000 stolen cards active in the 60-minute window (3.6 payments per card: 1 000 events/s,
 * 10 % stolen, for 60 min) from a real classic-level store, and reports RSS after a full GC and the
 * store's size. Each repetition is its own child process, so RSS is never inherited.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { absolute, emit, info, QUICK } from '../lib/figures.js';

const REPS = 3;

if (process.argv[2] === '--child') {
  const { buildActiveState } = await import('../lib/state-builder.js');
  const { tempLevelStore, dirBytes } = await import('../lib/temp-store.js');
  const { readCardsFile } = await import('../../common/src/cards-file.js');
  const { ShardEngine } = await import('../../processor/src/engine/index.js');
  const { store, dir, dispose } = await tempLevelStore();
  const cardsFile = process.argv[3] as string;
  // As main.ts: read the file, keep only the stolen set, mirror it into the store.
  const stolen = (await readCardsFile(cardsFile)).stolen;
  await store.replaceStolenCards(stolen);
  const perCard = QUICK ? 1 : 3.6;
  const cards = [...stolen];
  const endMs = Date.now();
  let built: ReturnType<typeof buildActiveState> | undefined = buildActiveState(cards, perCard, endMs);
  const payments = built.payments;
  await store.commitShard('shardId-000000000000', { puts: built.entries, dels: [] }, { sequenceNumber: '1', watermarkMs: built.watermarkMs, shardEnd: false });
  built = undefined;
  // The restart path: load the shard, restore the engine.
  let loaded: Awaited<ReturnType<typeof store.loadShard>> | undefined = await store.loadShard('shardId-000000000000');
  const engine = ShardEngine.restore(loaded.entries);
  loaded = undefined;
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 200));
  (globalThis as { gc?: () => void }).gc?.();
  const rss = process.memoryUsage().rss;
  const heap = process.memoryUsage().heapUsed;
  const stats = await store.stats();
  await store.close();
  const disk = await dirBytes(dir);
  process.stdout.write(JSON.stringify({ rss, heap, panes: engine.stats().panes, payments, keys: stats.keys, approximateBytes: stats.approximateBytes, disk }) + '\n');
  await dispose().catch(() => undefined);
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
const runs: { rss: number; heap: number; panes: number; payments: number; keys: number; approximateBytes: number; disk: number }[] = [];
for (let r = 0; r < REPS; r++) {
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--child', cardsFile], { encoding: 'utf8', env: process.env, maxBuffer: 1 << 24 });
  if (child.status !== 0) throw new Error(`memory child failed: ${child.stderr}`);
  runs.push(JSON.parse(child.stdout.trim().split('\n').pop() as string));
}
await rm(cardsDir, { recursive: true, force: true });
const mb = (b: number) => b / 1024 / 1024;
const r0 = runs[0]!;
emit([
  absolute('RSS, 1 M cards + 100 000 active stolen cards', 'MB', runs.map((r) => mb(r.rss)), 'RSS <= 300 MB', (v) => v <= 300,
    `${r0.panes} panes from ${r0.payments} stolen payments in the 60-min window; heap used ${mb(r0.heap).toFixed(0)} MB`),
  info('state on disk (LevelDB directory)', 'MB', runs.map((r) => mb(r.disk)), `${r0.keys} keys (incl. 100 000 stolen cards); approximateSize ${mb(r0.approximateBytes).toFixed(1)} MB`),
]);
