/**
 * `npm run bench`: runs every scenario in its own process (so one's heap and RSS never weigh on
 * the next), prints the table, writes bench/results.json and, after a full run, docs/benchmarks.md.
 * BENCH_QUICK=1: shorter runs for development; the doc is then left alone unless BENCH_WRITE_DOC=1.
 * BENCH_ONLY=throughput,jump,...: run only those scenarios. `failover` (issue 17's fleet fail-over,
 * ~20 min) runs only when BENCH_ONLY names it.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { QUICK, RESULT_PREFIX, type Figure } from './lib/figures.js';
import { renderDoc } from './lib/doc.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SCENARIOS = [
  'throughput',
  'jump',
  'e2e',
  'memory',
  'rebuild',
  'restart',
  'cpu',
  'snapshot',
  'takeover',
  'tokenise',
  'card-status',
  'console',
  'failover',
] as const;
/** Scenarios too long for the default run (> 5 min): run only when BENCH_ONLY names them. */
const ON_REQUEST: readonly string[] = ['failover'];
const only = process.env.BENCH_ONLY?.split(',').filter(Boolean);

function runScenario(name: string): Promise<Figure[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/scenarios', `${name}.ts`)], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) return reject(new Error(`scenario ${name} failed (exit ${code}): ${out.slice(-2000)}`));
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as Figure[]);
    });
  });
}

const fmt = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v));

export function table(figures: readonly Figure[]): string {
  const rows = [['figure', 'value (median)', 'min', 'max', 'unit', 'baseline', 'ratio', 'target', 'met']];
  for (const f of figures) {
    rows.push([
      f.name,
      fmt(f.value),
      fmt(f.min),
      fmt(f.max),
      f.unit,
      fmt(f.baseline),
      fmt(f.ratio),
      f.target,
      f.target === 'reported' ? '' : f.met ? 'yes' : 'NO',
    ]);
  }
  return rows
    .map((r) => `| ${r.join(' | ')} |`)
    .join('\n')
    .replace(/\n/, `\n|${rows[0]!.map(() => '---').join('|')}|\n`);
}

const started = Date.now();
const figures: Figure[] = [];
for (const name of SCENARIOS) {
  if (only ? !only.includes(name) : ON_REQUEST.includes(name)) continue;
  const t0 = Date.now();
  process.stderr.write(`bench: ${name}…\n`);
  figures.push(...(await runScenario(name)));
  process.stderr.write(`bench: ${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}
const elapsedS = (Date.now() - started) / 1000;
const results = figures.map(({ note: _note, ...f }) => f);
await writeFile(join(ROOT, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');
console.log(table(figures));
console.log(
  `\n${figures.filter((f) => f.target !== 'reported' && !f.met).length} target(s) missed; ${elapsedS.toFixed(0)} s${QUICK ? ' (quick mode)' : ''}; wrote bench/results.json`,
);
if ((!QUICK || process.env.BENCH_WRITE_DOC === '1') && !only) {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    date: new Date().toISOString(),
    elapsedS: Math.round(elapsedS),
    quick: QUICK,
  };
  await writeFile(join(ROOT, 'docs/benchmarks.md'), renderDoc(figures, machine, table(figures)));
  console.log('wrote docs/benchmarks.md');
}
