/**
 * Issue 14: the processor image, built for real from the repository's Dockerfile (buildah, on a
 * base assembled from Debian's archive and the npm registry: deploy/image/) and run against the
 * local stack. Not part of `npm test` (it needs root, buildah and debootstrap, and takes minutes):
 * `.ci/run` runs it after npm test, and so can anyone as root:
 *
 *   npx tap --timeout=1800 deploy/image/test/image.check.ts
 *
 * A Dockerfile that does not build fails the first test, and everything after it.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, spawnComponent, waitFor, withCardTokenKey, withKinesis, withTempDir } from '../../../common/test/helpers.js';
import { readCardsFile } from '../../../common/src/cards-file.js';
import { stolenRefsOfCardsFile, writeStolenList } from '../../../common/src/stolen-list.js';
import { withDynamo } from '../../../processor/test/lease/helpers.js';
import { freePort } from '../../local/loopback.js';
import { payment, put, sleep } from '../../../processor/test/faults/helpers.js';

const IMAGE = process.env.IMAGE ?? 'localhost/stolen-card-processor:ci';
const buildah = (args: string[], input?: string) =>
  spawnSync('buildah', ['--storage-driver', 'vfs', ...args], { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** A working container of the image, removed when the test ends. */
function container(tt: Test): string {
  const from = buildah(['from', '--pull-never', IMAGE]);
  if (from.status !== 0) throw new Error(`buildah from ${IMAGE}: ${from.stderr}`);
  const name = from.stdout.trim();
  tt.teardown(() => void buildah(['rm', name]));
  return name;
}

/** A command in a container, as the image's user and in its working directory. */
function run(name: string, command: string[]): { status: number | null; stdout: string; stderr: string } {
  return buildah(['run', '--isolation', 'chroot', name, '--', ...command]);
}

t.test('the image builds from the Dockerfile (base-image argument aside)', async (t) => {
  const started = Date.now();
  const built = spawnSync('bash', [join(ROOT, 'deploy/image/build.sh'), IMAGE], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const log = `${built.stdout}\n${built.stderr}`;
  t.comment(
    log
      .split('\n')
      .filter((l) => /^(base|build):/.test(l))
      .join('\n'),
  );
  t.equal(built.status, 0, `deploy/image/build.sh exits 0${built.status === 0 ? '' : `:\n${log.slice(-3000)}`}`);
  t.comment(`base + image: ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

t.test('the runtime image: production dependencies only, no card data, compiled JavaScript, uid 1000', async (t) => {
  const name = container(t);
  const size = buildah(['images', '--format', '{{.Size}}', IMAGE]).stdout.trim();
  t.comment(`image size: ${size}`);

  const installed = run(name, [
    'sh',
    '-c',
    'cd /app/node_modules && for d in *; do case "$d" in @*) for s in "$d"/*; do echo "$s"; done;; *) echo "$d";; esac; done',
  ]);
  t.equal(installed.status, 0, installed.stderr);
  const packages = installed.stdout.trim().split('\n');
  t.comment(`node_modules: ${packages.length} packages, ${run(name, ['du', '-sh', '/app/node_modules']).stdout.trim()}`);
  const dev = packages.filter((p) => p in manifest.devDependencies);
  t.same(dev, [], 'no development dependency (emulators, tsx, patch-package, CDK, eslint, tap, typescript)');
  for (const p of Object.keys(manifest.dependencies)) t.ok(packages.includes(p), `production dependency ${p} is there`);
  // pg is not on this list: the console reads a card's history from the warehouse with it.
  t.same(
    packages.filter((p) => /^(kinesalite|dynalite|tsx|patch-package|aws-cdk|aws-cdk-lib|typescript|@electric-sql\/.*|s3rver)$/.test(p)),
    [],
    'nothing of the local stack or the build',
  );

  const files = run(name, [
    'sh',
    '-c',
    'find / -xdev \\( -name "*.csv" -o -name "*.ts" ! -name "*.d.ts" \\) -not -path "/proc/*" -not -path "/usr/*" 2>/dev/null | grep -v /node_modules/ || true',
  ]);
  t.equal(files.stdout.trim(), '', 'no card data (no .csv) and no TypeScript sources in the image');
  t.same(
    run(name, ['ls', '/app']).stdout.trim().split('\n').sort(),
    ['dist', 'node_modules', 'package-lock.json', 'package.json', 'scripts'],
    '/app holds dist, node_modules, the manifests and the health-check script',
  );

  const help = run(name, ['node', 'dist/processor/src/main.js', '--help']);
  t.equal(help.status, 0, '`node dist/processor/src/main.js --help` works');
  t.match(help.stdout, /The stolen-card processor/);
  t.match(
    run(name, ['node', 'dist/simulator/src/main.js', '--help']).stdout,
    /Publishes PAYMENT_EVENT records/,
    'and the simulator (its ECS task) runs from it too',
  );
  // Every static import of the console resolves among the production dependencies (uPlot's files
  // are read at import): its module graph loads before --help is read.
  const consoleHelp = run(name, ['node', 'dist/console/src/main.js', '--help']);
  t.equal(consoleHelp.status, 0, `and the risk console (its ECS task): ${consoleHelp.stderr.slice(0, 500)}`);
  t.match(consoleHelp.stdout, /The risk console/);
  t.equal(run(name, ['id', '-u']).stdout.trim(), '1000', 'commands run as uid 1000 (USER node)');
  t.match(run(name, ['node', '--version']).stdout, /^v22\./, 'Node 22');
  const config = JSON.parse(buildah(['inspect', '--type', 'image', IMAGE]).stdout) as {
    Docker?: { config?: { Env?: string[]; Healthcheck?: { Test?: string[] } } };
  };
  const env = Object.fromEntries((config.Docker?.config?.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  t.equal(env.KINESIS_ENDPOINT, '', 'KINESIS_ENDPOINT empty: AWS by default');
  t.equal(env.DYNAMODB_ENDPOINT, '', 'DYNAMODB_ENDPOINT empty: AWS by default');
  t.same(config.Docker?.config?.Healthcheck?.Test, ['CMD', 'node', 'scripts/healthcheck.mjs'], 'the HEALTHCHECK is kept (docker format)');
});

t.test('run against the local stack: /health, payments in and alerts out, the state written, SIGTERM exits 0', async (t) => {
  const dir = await withTempDir(t, 'sca-image-run-');
  const k = await withKinesis(t, { shards: 2, stream: 'payments' });
  const dynamo = await withDynamo(t);
  const cardsFile = join(dir, 'cards.csv');
  const gen = await spawnComponent(t, 'cardgen/src/main.ts', ['--count', '500', '--out', cardsFile, '--seed', '3']);
  t.equal((await gen.exit).code, 0, 'cardgen');
  const { stolen, cards } = await readCardsFile(cardsFile);
  // What the container is given instead of card numbers: the stolen list (tokens) and the key.
  const key = await withCardTokenKey(t, dir);
  const stolenList = join(dir, 'stolen-cards.csv');
  await writeStolenList(stolenList, await stolenRefsOfCardsFile(cardsFile, key.tokenizer));
  // Both are written 0600 for their owner: mounted into the container, they must belong to its
  // user (uid 1000), as docs/deployment.md says (the check runs as root).
  for (const file of [key.path, stolenList]) chownSync(file, 1000, 1000);
  const port = await freePort();
  const name = container(t);

  // The README's `docker run` against npm start's emulators, as buildah runs it: the host's network,
  // the stolen list and key mounted read-only where the image expects them, the local stack's endpoints.
  const env = [
    `KINESIS_ENDPOINT=${k.endpoint}`,
    'KINESIS_STREAM=payments',
    `DYNAMODB_ENDPOINT=${dynamo.endpoint}`,
    'LEASE_TABLE=leases',
    'AWS_REGION=us-east-1',
    `HTTP_PORT=${port}`,
    'HTTP_HOST=127.0.0.1',
    'IDLE_TIMEOUT_MS=2000',
    'IDLE_LAG_MS=2000',
  ];
  const child: ChildProcess = spawn(
    'buildah',
    [
      '--storage-driver',
      'vfs',
      'run',
      '--isolation',
      'chroot',
      '--network',
      'host',
      '--volume',
      `${stolenList}:/etc/processor/stolen-cards.csv:ro`,
      '--volume',
      `${key.path}:/etc/processor/card-token-key.json:ro`,
      name,
      '--',
      'env',
      ...env,
      'node',
      'dist/processor/src/main.js',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  await waitFor(
    '/health 200 from the container',
    async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200,
    120_000,
    250,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${output.slice(-3000)}`);
  });
  t.pass('/health answers 200');
  await waitFor(
    '/ready 200 (both shards leased and RUNNING)',
    async () => (await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined))?.status === 200,
    120_000,
    250,
  );
  t.pass('/ready answers 200: the lease table and both shards');

  // The processor process itself: its user, seen from the host.
  const pid = readdirSync('/proc').find(
    (p) =>
      /^\d+$/.test(p) && safeRead(`/proc/${p}/cmdline`).includes('dist/processor/src/main.js') && safeRead(`/proc/${p}/environ`).includes(`HTTP_PORT=${port}`),
  );
  t.ok(pid, 'the processor process is found on the host');
  t.match(safeRead(`/proc/${pid}/status`), /^Uid:\s+1000\s/m, 'it runs as uid 1000');

  const events = [...stolen].slice(0, 10).map((c) => payment(c, Date.now()));
  await put(
    k.client,
    k.stream,
    events.map((e) => ({ data: e, key: e.data.card_number })),
  );
  const { readAllRecords } = await import('../../../common/test/helpers.js');
  await waitFor(
    'an alert for every stolen payment',
    async () => {
      const ids = new Set(
        (await readAllRecords(k.client, k.stream))
          .map((r) => JSON.parse(Buffer.from(r.Data!).toString('utf8')) as { event_type: string; data: { payment_event_id?: string } })
          .filter((e) => e.event_type === 'PAYMENT_ALERT')
          .map((e) => e.data.payment_event_id),
      );
      return events.every((e) => ids.has(e.event_id));
    },
    60_000,
    500,
  );
  t.pass(`payments in, alerts out: ${events.length} stolen-card payments alerted`);
  const state = run(name, ['sh', '-c', 'ls /var/lib/processor/state | head -3; stat -c %U /var/lib/processor/state']);
  t.match(state.stdout, /CURRENT|LOG|MANIFEST/, 'LevelDB state written in the state directory');
  t.match(state.stdout, /\bnode\b/, 'which the unprivileged user owns');

  await sleep(1_000);
  const termAt = Date.now();
  process.kill(Number(pid), 'SIGTERM');
  const code = await exited;
  const seconds = (Date.now() - termAt) / 1000;
  t.equal(code, 0, 'SIGTERM: exit 0');
  t.ok(seconds < 25, `within the 25 s shutdown timeout, well inside the 60 s stop timeout (${seconds.toFixed(1)} s)`);
  t.match(output, /"msg":"stopped"/, 'after a clean close');
  writeFileSync(join(dir, 'container.log'), output);

  // Issue 18: no card number anywhere in the container after the run, its LevelDB state included
  // (read through classic-level: its table files are compressed, so a raw grep alone proves little).
  const dump = run(name, [
    'node',
    '-e',
    `const { ClassicLevel } = require('classic-level');
     const db = new ClassicLevel('/var/lib/processor/state', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
     (async () => { let n = 0; for await (const [k, v] of db.iterator()) { process.stdout.write(k + '\\t' + v + '\\n'); n++; } await db.close(); process.stderr.write(n + ' entries'); })();`,
  ]);
  t.equal(dump.status, 0, `the state read back in the container (${dump.stderr.trim()})`);
  t.ok(Number.parseInt(dump.stderr, 10) > 0, 'it holds entries');
  const inFiles = run(name, [
    'sh',
    '-c',
    `grep -rlaF ${cards.map((c) => `-e ${c}`).join(' ')} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null || true`,
  ]);
  const found = (text: string) => cards.filter((c) => text.includes(c));
  t.same(found(dump.stdout), [], `no card number in the state (${dump.stdout.length} characters of keys and values searched for ${cards.length} cards)`);
  t.equal(inFiles.stdout.trim(), '', 'no card number in any file of the container');
  t.same(found(output), [], 'nor in its log');
});

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
