/**
 * The process guard: an unhandled rejection is logged and counted, and the process goes on; an
 * uncaught exception is logged and the process exits 1. Run in a child process, as for real.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const GUARDS = fileURLToPath(new URL('../src/process-guards.ts', import.meta.url));

function run(body: string): Promise<{ code: number | null; stdout: string }> {
  const script = `
    import { pino } from 'pino';
    import { guardProcess } from ${JSON.stringify(GUARDS)};
    let counted = 0;
    guardProcess(process, pino(), () => counted++);
    ${body}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout })));
}

t.test('an unhandled rejection is logged and counted, and the process goes on', async (t) => {
  const r = await run(`
    Promise.reject(new Error('nobody awaited me'));
    setTimeout(() => { console.log(JSON.stringify({ alive: true, counted })); process.exit(0); }, 300);
  `);
  t.equal(r.code, 0, 'exit 0: not fatal');
  t.match(r.stdout, /"level":50.*nobody awaited me.*unhandled promise rejection/s, 'logged at error with the reason');
  t.match(r.stdout, /\{"alive":true,"counted":1\}/, 'still alive afterwards, and counted once');
});

t.test('an uncaught exception is logged and the process exits 1', async (t) => {
  const r = await run(`
    setTimeout(() => { throw new Error('broken invariant'); }, 10);
    setTimeout(() => console.log('still here'), 500);
  `);
  t.equal(r.code, 1);
  t.match(r.stdout, /"level":60.*broken invariant.*uncaught exception/s);
  t.notMatch(r.stdout, /still here/);
});
