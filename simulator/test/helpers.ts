/** Helpers for the simulator's tests; each cleans up after itself through tap's teardown. */
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatCardsCsv } from '../../common/src/cards-file.js';
import { luhnCheckDigit } from '../../common/src/luhn.js';

/** `n` distinct Luhn-valid 16-digit card numbers. */
export function makeCards(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const payload = '4' + String(100_000_000_000_00 + i).padStart(14, '0');
    return payload + luhnCheckDigit(payload);
  });
}

export async function writeCardsFile(dir: string, n: number): Promise<{ path: string; cards: string[] }> {
  const cards = makeCards(n);
  const path = join(dir, 'cards.csv');
  await writeFile(path, formatCardsCsv(cards.map((cardNumber, i) => ({ cardNumber, network: 'visa', stolen: i % 10 === 0 }))));
  return { path, cards };
}

export { readAllRecords as readStream } from '../../common/test/helpers.js';

export interface CliRun {
  child: ChildProcess;
  /** Resolves when the process exits. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Everything written to stderr so far. */
  stderr(): string;
}

/** Runs `node --import tsx simulator/src/main.ts ...args` (or another entry point) from the repository root; killed at teardown. */
export function runCli(t: Test, args: string[], env: Record<string, string> = {}, entry = 'simulator/src/main.ts'): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, done, stderr: () => stderr };
}
