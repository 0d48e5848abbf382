/**
 * Issue 17, acceptance 2: a rolling replacement of all three workers, one at a time, each new one
 * on an empty state directory (a new Fargate task), with snapshots in S3 (s3rver): no stolen-card
 * payment is alerted more than 20 s after its window end, and every summary is exact.
 */
import t from 'tap';
import { withS3, S3RVER_CREDENTIALS } from '../../../common/test/helpers.js';
import { startStack } from './harness.js';
import { fleet, sleep } from './fleet.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

const SHARDS = 4;
const RATE = 800;
const WORKERS = ['w1', 'w2', 'w3'];

t.test('a rolling replacement of three workers on empty disks: every alert within 20 s of its window end, summaries exact', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: SHARDS });
  const s3 = await withS3(t, ['snapshots']);
  const f = await fleet(t, stack);
  const env = {
    SNAPSHOT_BUCKET: 'snapshots',
    SNAPSHOT_INTERVAL_MS: '5000',
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    LOG_LEVEL: 'info',
  };
  for (const id of WORKERS) await f.start(id, env);
  await stack.waitFor('3 workers even on 4 shards', () => f.settled(WORKERS, SHARDS), 90_000, 250);
  const sim = await stack.startSimulator(['--count', String(RATE * 70), '--rate', String(RATE), '--disorder-ms', '300', '--seed', '21']);
  await sleep(10_000);

  // Replace each worker by a new one with an empty state directory, the way ECS rolls a deployment:
  // the new task starts, then the old one is stopped (SIGTERM) once the new one is up.
  const running = [...WORKERS];
  for (const old of WORKERS) {
    const fresh = `${old}-new`;
    await f.start(fresh, env);
    const proc = f.procs.get(old)!;
    proc.child.kill('SIGTERM');
    t.equal((await proc.exit).code, 0, `${old} stopped with SIGTERM`);
    running.splice(running.indexOf(old), 1, fresh);
    await stack.waitFor(`${running.join(', ')} own every shard`, () => f.settled(running, SHARDS), 60_000, 250);
    t.comment(`${old} replaced by ${fresh}`);
    await sleep(8_000);
  }

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack);
  verifySummaries(t, out, published, stack, cutoff);
  const delays = out.alerts.map((a) => (Date.parse(a.event_date_origin) - Date.parse(a.data.window_end)) / 1000).sort((a, b) => a - b);
  const worst = delays.at(-1) ?? 0;
  t.comment(`${delays.length} alerts; alert time − window end: p50 ${delays[Math.floor(delays.length / 2)]?.toFixed(2)} s, max ${worst.toFixed(2)} s`);
  t.ok(worst <= 20, `no stolen-card payment alerted more than 20 s after its window end (max ${worst.toFixed(2)} s)`);
  const replayed = [...f.procs.entries()]
    .filter(([id]) => id.endsWith('-new'))
    .flatMap(([, p]) => p.output.stdout.split('\n').filter((l) => l.includes('"shard state rebuilt"')))
    .map((l) => (JSON.parse(l) as { replayed: number }).replayed);
  t.comment(`shards restored by the new workers: ${replayed.length}, records replayed: ${replayed.join(', ')}`);
  const overlap = f.overlaps();
  t.same(overlap.found, [], `no shard ever RUNNING on two workers at once (${overlap.intervals} intervals)`);
  for (const id of running) f.procs.get(id)!.child.kill('SIGTERM');
  for (const id of running) t.equal((await f.procs.get(id)!.exit).code, 0, `${id} exits 0`);
});
