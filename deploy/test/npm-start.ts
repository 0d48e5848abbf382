/** `npm start` as a terminal runs it, for the tests of the local stack. */
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import { ROOT, waitFor } from '../../common/test/helpers.js';
import { freePort } from '../local/loopback.js';

/** Long enough for start.ts to stop every component in order (its own limit is 35 s per component, rarely reached). */
const ORDERLY_STOP_MS = 20_000;

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Whether `pid` still runs (or is yet to be reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process below `pid`, from the parent pids in /proc. */
export async function descendantsOf(pid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'latin1').catch(() => '');
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid > 0) parentOf.set(Number(entry), ppid);
  }
  const found: number[] = [];
  for (let frontier = [pid]; frontier.length > 0;) {
    const next = [...parentOf].filter(([, ppid]) => frontier.includes(ppid)).map(([p]) => p);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/** Starts `npm start -- <args>` (default: 200 payments/s over 500 cards) in its own process group. */
export async function npmStart(t: Test, env: Record<string, string>, args = ['--rate', '200', '--cards', '500']) {
  // The console's default port (8090) is not free when another stack runs on the machine.
  const consolePort = env.CONSOLE_PORT ?? String(await freePort());
  const child = spawn('npm', ['start', '--', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', CONSOLE_PORT: consolePort, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, like a terminal's foreground job, so Ctrl-C can be sent to the group.
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // A test that failed half-way leaves the stack running: it is stopped as a user would stop it,
  // then killed. The components run in process groups of their own (start.ts), so a kill of npm's
  // group alone left them running; they are found by parentage first, before the supervisor dies.
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const stack = [child.pid!, ...(await descendantsOf(child.pid!))];
    signal(-child.pid!, 'SIGINT');
    // npm itself ends at once on SIGINT; the supervisor goes on stopping its components.
    for (const until = Date.now() + ORDERLY_STOP_MS; stack.some(alive) && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    for (const pid of stack) signal(pid, 'SIGKILL');
    signal(-child.pid!, 'SIGKILL');
  });
  /** What a terminal does on Ctrl-C: SIGINT to every process of the foreground group. */
  const ctrlC = () => process.kill(-child.pid!, 'SIGINT');
  return { child, exit, output: () => output, ctrlC };
}

/**
 * Until `npm start` prints that it is running. Fails at once if it exits first, and either way the
 * failure carries what it printed (a bare timeout said nothing about why a start was slow).
 */
export async function untilRunning(run: Awaited<ReturnType<typeof npmStart>>, what: string) {
  let exited: { code: number | null; signal: string | null } | undefined;
  void run.exit.then((e) => (exited = e));
  try {
    await waitFor(
      what,
      () => {
        if (exited) throw new Error(`npm start exited (code ${exited.code}, signal ${exited.signal}) before it was running`);
        return run.output().includes('running; Ctrl-C to stop');
      },
      60_000,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- npm start printed ---\n${run.output().slice(-6000)}`);
  }
}

/**
 * After Ctrl-C: the supervisor stopped every component in order and exited; npm then ends as
 * shells expect of an interrupted job (re-raising SIGINT); nothing listens on the ports any more.
 */
export async function stoppedCleanly(t: Test, run: Awaited<ReturnType<typeof npmStart>>, ...ports: number[]) {
  const { code, signal } = await run.exit;
  t.ok(code === 0 || signal === 'SIGINT', `npm ended as an interrupted job (code ${code}, signal ${signal})`);
  t.match(run.output(), /\[start\] stopped\n/, 'the supervisor stopped everything in order');
  t.notMatch(run.output(), /did not stop within|exited \(code [1-9]/, 'no component was killed or failed');
  for (const port of ports) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    t.notOk(open, `nothing listens on ${port} any more`);
  }
}
