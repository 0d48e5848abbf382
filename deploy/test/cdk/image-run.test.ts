/**
 * The image's start command, outside Docker: build as the Dockerfile's build stage does
 * (scripts/build-dist.sh), lay the result out as its runtime stage's COPY lines do, run the exact
 * CMD with the image's ENV against a Kinesis emulator, and check the exact HEALTHCHECK command
 * reports healthy and that SIGTERM ends the process with 0 within 30 s. The risk console's ECS
 * command runs from the same layout: its page and the chart library it serves from node_modules.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, waitFor, withCardTokenKey, withKinesis, withTempDir } from '../../../common/test/helpers.js';
import { stolenRefsOfCardsFile, writeStolenList } from '../../../common/src/stolen-list.js';
import { freePort } from '../../../processor/test/integration/harness.js';
import { CONSOLE_CONTAINER } from '../../../ecs/console-service.js';
import { envOf, execForm, healthcheck, last, readDockerfile } from './dockerfile.js';

const { runtime, build } = readDockerfile();

const tmp = await withTempDir(t, 'sca-image-');
const app = join(tmp, 'app');

t.test('build and lay out as the Dockerfile does', async (t) => {
  // Build stage: `RUN sh scripts/build-dist.sh /out`; /out is a temp dir here.
  const buildRun = build.instructions.find((i) => i.op === 'RUN' && i.args.includes('build-dist.sh'))!.args;
  const outInImage = /build-dist\.sh\s+(\S+)/.exec(buildRun)![1]!;
  const out = join(tmp, 'out');
  const built = spawnSync('sh', [join(ROOT, 'scripts/build-dist.sh'), out], { cwd: ROOT, encoding: 'utf8' });
  t.equal(built.status, 0, `build-dist.sh: ${built.stderr}`);

  // Runtime stage: WORKDIR, then each COPY; `npm ci --omit=dev` becomes a link to node_modules.
  const workdir = last(runtime, 'WORKDIR')!;
  t.equal(workdir, '/app');
  mkdirSync(app, { recursive: true });
  for (const i of runtime.instructions.filter((x) => x.op === 'COPY')) {
    const fromBuild = /^--from=build\s+/.test(i.args);
    const parts = i.args.replace(/^--\S+\s+/, '').split(/\s+/);
    const dest = join(app, parts.pop()!);
    for (const src of parts) {
      const from = fromBuild ? join(out, src.slice(outInImage.length)) : join(ROOT, src);
      const target = dest.endsWith('/') || parts.length > 1 ? join(dest, src.split('/').pop()!) : dest;
      mkdirSync(join(target, '..'), { recursive: true });
      cpSync(from, target, { recursive: true });
    }
  }
  t.ok(runtime.instructions.some((i) => i.op === 'RUN' && i.args.includes('npm ci --omit=dev')));
  symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
});

/** The image's ENV, its paths under WORKDIR mapped to the temp layout, plus `docker run -e` values. */
function imageEnv(extra: Record<string, string>): Record<string, string> {
  const workdir = last(runtime, 'WORKDIR')!;
  const mapped = Object.entries(envOf(runtime)).map(([name, value]) => [
    name,
    value.startsWith(`${workdir}/`) ? join(app, value.slice(workdir.length + 1)) : value,
  ]);
  return { PATH: process.env.PATH ?? '', ...Object.fromEntries(mapped), ...extra };
}

async function runImageCmd(t: Test) {
  // The state volume on a temp dir; the local stack's endpoints; no leases (one processor).
  const k = await withKinesis(t, { shards: 2, stream: 'payments' });
  const port = await freePort();
  // The cards file (the simulator's), and the stolen list and key the processor is given instead
  // (mounted in a container at the image's STOLEN_LIST and CARD_TOKEN_KEY_FILE; paths here).
  const cardsFile = join(tmp, 'cards.csv');
  const gen = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cardgen/src/main.ts'), '--count', '2000', '--seed', '7', '--out', cardsFile], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.equal(gen.status, 0, `cardgen: ${gen.stderr}`);
  const key = await withCardTokenKey(t, tmp);
  const stolenList = join(tmp, 'stolen-cards.csv');
  await writeStolenList(stolenList, await stolenRefsOfCardsFile(cardsFile, key.tokenizer));
  const env = imageEnv({
    STOLEN_LIST: stolenList,
    CARD_TOKEN_KEY_FILE: key.path,
    STATE_DIR: join(tmp, 'state-volume'),
    HTTP_PORT: String(port),
    KINESIS_ENDPOINT: k.endpoint,
    KINESIS_STREAM: k.stream,
    LEASE_TABLE: '',
    LOG_LEVEL: 'warn',
  });
  mkdirSync(env.STATE_DIR!, { recursive: true });

  // Payments first, with the image's simulator command (the ECS simulator task runs the same file;
  // asynchronously, as the emulator runs in this process). Known issue: a processor started on a
  // never-written kinesalite stream reads nothing afterwards and then needs SHUTDOWN_TIMEOUT_MS to stop.
  {
    const sim = spawn(process.execPath, ['dist/simulator/src/main.js', '--count', '200', '--rate', '200'], {
      cwd: app,
      env: { ...env, CARDS_FILE: cardsFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let simErr = '';
    sim.stderr.on('data', (d) => (simErr += d));
    t.teardown(() => void (sim.exitCode === null && sim.kill('SIGKILL')));
    const simCode = await new Promise((resolve) => sim.once('exit', resolve));
    t.equal(simCode, 0, `compiled simulator: ${simErr.slice(-500)}`);
  }

  const [cmd, ...args] = execForm(last(runtime, 'CMD')!);
  t.equal(cmd, 'node');
  const child = spawn(process.execPath, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const [hcCmd, ...hcArgs] = healthcheck(last(runtime, 'HEALTHCHECK')!).command;
  t.equal(hcCmd, 'node');
  const healthy = () =>
    new Promise<boolean>((resolve) => spawn(process.execPath, hcArgs, { cwd: app, env, stdio: 'ignore' }).once('exit', (code) => resolve(code === 0)));
  await waitFor(`the HEALTHCHECK command to pass (output: ${output})`, async () => child.exitCode === null && (await healthy()), 30_000, 250).catch((e) => {
    throw new Error(`${e.message}\n${output}`);
  });
  t.pass('HEALTHCHECK command exits 0');
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  t.equal(res.status, 200, 'GET /health');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.match(metrics, /payments_records_read_total/, '/metrics answers');

  {
    const read = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(/payments_records_read_total\{event_type="PAYMENT_EVENT"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    await waitFor('the processor to read the payments', async () => (await read()) >= 200, 30_000, 250);
    t.pass('the processor read every payment');
  }

  const stopAt = Date.now();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  const tookMs = Date.now() - stopAt;
  t.equal(signal, null, `not killed (output: ${output})`);
  t.equal(code, 0, 'exit 0 after SIGTERM');
  t.ok(tookMs < 30_000, `stopped in ${tookMs} ms`);
  t.notOk(await healthy(), 'HEALTHCHECK fails once the process is gone');
}

t.test('the image CMD runs the compiled processor: healthy, reads, stops with 0 within 30 s of SIGTERM', (t) => runImageCmd(t));

t.test('the console task command runs the compiled console from the image layout: healthy, serves its page and uPlot, stops with 0', async (t) => {
  const k = await withKinesis(t, { shards: 1, stream: 'payments' });
  const port = await freePort();
  // The task's own settings, but the loopback and a free port here (the task: 0.0.0.0, 8090).
  const env = imageEnv({ KINESIS_ENDPOINT: k.endpoint, KINESIS_STREAM: k.stream, CONSOLE_PORT: String(port), CONSOLE_HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  const [cmd, ...args] = CONSOLE_CONTAINER.command;
  t.equal(cmd, 'node');
  const child = spawn(process.execPath, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  // The task definition's health check command, told this port instead of the task's.
  const [hcCmd, ...hcArgs] = CONSOLE_CONTAINER.healthCheckCommand;
  t.equal(hcCmd, 'node');
  t.equal(hcArgs.at(-1), String(CONSOLE_CONTAINER.port), 'the health check names the console port');
  const healthy = () =>
    new Promise<boolean>((resolve) =>
      spawn(process.execPath, [...hcArgs.slice(0, -1), String(port)], { cwd: app, env, stdio: 'ignore' }).once('exit', (code) => resolve(code === 0)),
    );
  await waitFor('the console health check to pass', async () => child.exitCode === null && (await healthy()), 30_000, 250).catch((e) => {
    throw new Error(`${e.message}\n${output}`);
  });
  const page = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(page.status, 200, 'GET /');
  const uplot = await fetch(`http://127.0.0.1:${port}/vendor/uplot.js`);
  t.equal(uplot.status, 200, 'uPlot is found from dist/ in node_modules');
  t.ok((await uplot.text()).length > 10_000, 'and served whole');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  t.equal(await exited, 0, `exit 0 after SIGTERM (output: ${output})`);
  clearTimeout(timer);
});
