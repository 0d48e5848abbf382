/**
 * A component (processor, simulator, …) run as its own process the way `npm run` runs it, for the
 * scenarios that measure whole processes: its output kept (stderr's tail), its exit awaited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** `script` from the repository root, with LOG_LEVEL=warn unless `env` says otherwise; BENCH_DEBUG echoes its stderr. */
export function startChild(script: string, args: string[], env: Record<string, string>, nodeArgs: string[] = []): Child {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => {
    err = (err + d).slice(-20_000);
    if (process.env.BENCH_DEBUG) process.stderr.write(`[${script.split('/')[0]}] ${d}`);
  });
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, stdout: () => out, stderr: () => err, exit };
}

/** Stops it with `signal`, and with SIGKILL if it has not exited 30 s later. */
export async function stopChild(c: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill(signal);
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 30_000);
  await c.exit;
  clearTimeout(t);
}
