import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatCardsCsv, readCardsFile } from '../../common/src/cards-file.js';
import { withTempDir } from '../../common/test/helpers.js';
import { generateCards } from '../src/generate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The CLI as a user runs it (what `npm run cardgen` does), in the repository root. */
function cardgen(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cardgen/src/main.ts', ...args], { cwd: ROOT }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('--help prints usage and exits 0', async (t) => {
  const r = await cardgen(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^Usage: npm run cardgen -- --count N/);
  t.match(r.stdout, /--stolen-ratio R/);
  t.equal(r.stderr, '');
});

t.test('bad arguments: one line on stderr, exit 2, nothing written', async (t) => {
  const dir = await withTempDir(t);
  const out = join(dir, 'cards.csv');
  const cases: [string[], RegExp][] = [
    [['--out', out], /^cardgen: --count is required/],
    [['--count', '-3', '--out', out], /^cardgen: --count must not be negative/],
    [['--count', 'ten', '--out', out], /^cardgen: --count must be an integer/],
    [['--count', '5', '--stolen-ratio', '2', '--out', out], /^cardgen: --stolen-ratio must be a number from 0 to 1/],
    [['--count', '5', '--frobnicate', '--out', out], /^cardgen: unknown option '--frobnicate'/],
  ];
  const results = await Promise.all(cases.map(([args]) => cardgen(args)));
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i]!;
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
    t.equal(r.stderr.split('\n').length, 2, 'exactly one line');
    t.equal(r.stdout, '');
  }
  t.same(await readdir(dir), [], 'no file, no temp file');
});

t.test('writes the file the library generates, atomically, into a new directory', async (t) => {
  const dir = await withTempDir(t);
  const out = join(dir, 'nested', 'cards.csv');
  const r = await cardgen(['--count', '500', '--stolen-ratio', '0.2', '--seed', '7', '--out', out]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '', 'no progress lines below 100 000 cards');
  t.match(r.stdout, new RegExp(`^cardgen: wrote 500 cards \\(100 stolen, seed 7\\) to ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} in \\d+\\.\\d\\d s\\n$`));
  const text = await readFile(out, 'utf8');
  t.equal(text, formatCardsCsv(generateCards({ count: 500, stolenRatio: 0.2, seed: 7 })), 'byte-identical to generateCards');
  t.notMatch(text, /\r/, 'LF only');
  const { cards, stolen } = await readCardsFile(out);
  t.equal(cards.length, 500);
  t.equal(stolen.size, 100);
  t.same(await readdir(join(dir, 'nested')), ['cards.csv'], 'no temp file left');

  // A second run over an existing file replaces it whole.
  await writeFile(out, 'old content that is longer than nothing\n'.repeat(1000));
  const again = await cardgen(['--count', '500', '--stolen-ratio', '0.2', '--seed', '7', '--out', out]);
  t.equal(again.code, 0);
  t.equal(await readFile(out, 'utf8'), text, 'same seed, same bytes');
});

t.test('large counts report progress on stderr', async (t) => {
  const dir = await withTempDir(t);
  const out = join(dir, 'cards.csv');
  const r = await cardgen(['--count', '100000', '--out', out]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.ok(lines.length >= 2 && lines.length <= 10, `${lines.length} progress lines`);
  for (const line of lines) t.match(line, /^cardgen: \d+% \(\d+\/100000 cards\)$/);
  t.match(lines.at(-1), /^cardgen: 100% \(100000\/100000 cards\)$/);
  t.match(r.stdout, /wrote 100000 cards \(10000 stolen, seed 1\)/);
});

t.test('an unwritable target exits 1 with one line and leaves no temp file', async (t) => {
  const dir = await withTempDir(t);
  // The target is an existing directory: the final rename fails.
  const r = await cardgen(['--count', '5', '--out', dir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^cardgen: cannot write .*\n$/);
  t.same(await readdir(dir), []);
});

t.test('an interrupted run exits 130 and leaves neither the target nor a temp file', async (t) => {
  const dir = await withTempDir(t);
  const out = join(dir, 'cards.csv');
  const child = spawn(process.execPath, ['--import', 'tsx', 'cardgen/src/main.ts', '--count', '2000000', '--out', out], { cwd: ROOT });
  let stderr = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Interrupt after the first progress line: the temp file exists and is half written.
      if (stderr.includes('%')) child.kill('SIGINT');
    });
    child.on('exit', (c) => resolve(c));
  });
  t.equal(code, 130, stderr);
  t.match(stderr, /cardgen: interrupted; .* was not written\n$/);
  t.same(await readdir(dir), []);
});
