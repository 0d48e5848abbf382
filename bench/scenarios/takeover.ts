/**
 * 10. Take-over after kill -9 under Kinesis's read caps (issue 17): one shard, its owner killed
 * while a second processor waits; timed from the kill to the first alert the new owner emits for a
 * payment published after the kill.
 *
 * In this process: kinesalite (one shard), ReadCapProxy in front of it (5 GetRecords calls/s and
 * 2 MiB/s per shard, shared by every reader, as on AWS) and dynalite (the lease table); s3rver (the
 * snapshot bucket) in its own. As child processes, started as `npm run` starts them: the simulator at 1 000
 * payments/s straight into kinesalite, and two processors (each its own empty state directory,
 * as a new Fargate task has) reading through the proxy, with leases, SNAPSHOT_BUCKET and the
 * defaults otherwise (FAILOVER_TIME_MS 10 s, SNAPSHOT_INTERVAL_MS 10 s, lease checkpoint every
 * 1 s). The bench reads the stream behind the proxy (never charged to the shard's budget).
 *
 * A repetition: a fresh stream and lease table; processor A takes the shard, the simulator
 * starts, processor B starts and waits; after RUN_BEFORE_KILL_MS A gets SIGKILL. Timed: kill →
 * the arrival in the stream of the first alert for a payment stamped after the kill. Target:
 * ≤ FAILOVER_TIME_MS + 5 s. B's own log says when it took the shard (RESTORING), when it was
 * running again, whether it started from a snapshot and how many records it replayed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { startChild, stopChild, type Child } from '../lib/child.js';
import { absolute, emit, info, QUICK } from '../lib/figures.js';
import { S3RVER_CREDENTIALS } from '../lib/s3.js';
import { firstAlertAfter, scrape, sleep, takeoverLog, startTakeoverRig, until } from '../lib/takeover-kit.js';
import { startKinesisEmulator, ensureStream } from '../../deploy/local/kinesis-emulator.js';
import { freePort } from '../../deploy/local/loopback.js';
import { writeCardsCsv } from '../../common/src/cards-file.js';
import { generateCards } from '../../cardgen/src/generate.js';
import { processorCardEnv } from '../lib/workload.js';

const REPS = 3;
const FAILOVER_TIME_MS = 10_000;
const TARGET_S = FAILOVER_TIME_MS / 1000 + 5;
/** A runs this long with traffic before the kill: at least two snapshots (every 10 s) are written. */
const RUN_BEFORE_KILL_MS = QUICK ? 15_000 : 25_000;
const GIVE_UP_MS = 120_000;
const RATE = 1_000;
const BUCKET = 'bench-snapshots';

const debug = (line: string) => {
  if (process.env.BENCH_DEBUG) process.stderr.write(`[takeover] ${line}\n`);
};

const start = startChild;
const stop = stopChild;

const dir = await mkdtemp(join(tmpdir(), 'sca-bench-takeover-'));
const kinesis = await startKinesisEmulator();
const rig = await startTakeoverRig(kinesis, BUCKET);
const { proxy, proxyEndpoint, dynamo, s3, client } = rig;
const children: Child[] = [];
const runs = {
  firstAlert: [] as number[],
  created: [] as number[],
  taken: [] as number[],
  running: [] as number[],
  replayed: [] as number[],
  entries: [] as number[],
  throttles: [] as number[],
};
try {
  const cardsFile = join(dir, 'cards.csv');
  const rows = generateCards({ count: 1_000_000, seed: 1 });
  await writeCardsCsv(cardsFile, rows);
  const baseEnv = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    ...(await processorCardEnv(dir, rows)),
  };
  for (let rep = 0; rep < REPS; rep++) {
    const stream = `takeover-${rep}`;
    await ensureStream(client, stream, 1);
    const processorEnv = async (id: string) => {
      const port = await freePort();
      return {
        port,
        env: {
          ...baseEnv,
          KINESIS_ENDPOINT: proxyEndpoint,
          KINESIS_STREAM: stream,
          LEASE_TABLE: `leases-${rep}`,
          DYNAMODB_ENDPOINT: dynamo.endpoint,
          WORKER_ID: id,
          FAILOVER_TIME_MS: String(FAILOVER_TIME_MS),
          SNAPSHOT_BUCKET: BUCKET,
          S3_ENDPOINT: s3.endpoint,
          STATE_DIR: join(dir, `state-${rep}-${id}`),
          HTTP_PORT: String(port),
          HTTP_HOST: '127.0.0.1',
          LOG_LEVEL: 'info',
        },
      };
    };
    const a = await processorEnv('a');
    const procA = start('processor/src/main.ts', [], a.env);
    children.push(procA);
    await until('A to run the shard', async () => ((await scrape(a.port))?.running ?? 0) >= 1, 90_000, [procA]);
    const sim = start('simulator/src/main.ts', ['--cards', cardsFile, '--rate', String(RATE), '--seed', String(30 + rep), '--disorder-ms', '300'], {
      ...baseEnv,
      KINESIS_ENDPOINT: kinesis.endpoint,
      KINESIS_STREAM: stream,
    });
    children.push(sim);
    await until('A to read payments', async () => ((await scrape(a.port))?.payments ?? 0) > 0, 60_000, [procA, sim]);
    const b = await processorEnv('b');
    const procB = start('processor/src/main.ts', [], b.env);
    children.push(procB);
    await until('B to serve', async () => (await scrape(b.port)) !== undefined, 90_000, [procA, procB, sim]);
    if (((await scrape(b.port))?.running ?? 0) !== 0) throw new Error('B runs the shard before the kill');
    await sleep(RUN_BEFORE_KILL_MS);

    const throttlesBefore = proxy.stats().reduce((s, c) => s + c.throttles, 0);
    const killAt = Date.now();
    procA.proc.kill('SIGKILL');
    await procA.exit;
    debug(`rep ${rep}: A killed`);
    const giveUp = AbortSignal.timeout(GIVE_UP_MS);
    const alert = await firstAlertAfter(client, stream, killAt - 5_000, killAt, giveUp);
    if (!alert) throw new Error(`no alert from B within ${GIVE_UP_MS / 1000} s of the kill: ${procB.stderr().slice(-2000)}`);
    const log = takeoverLog(procB.stdout());
    debug(`rep ${rep}: ${JSON.stringify({ ...alert, killAt, ...log })}`);
    runs.firstAlert.push((alert.arrivalMs - killAt) / 1000);
    runs.created.push((alert.createdMs - killAt) / 1000);
    if (log.restoringMs !== undefined) runs.taken.push((log.restoringMs - killAt) / 1000);
    if (log.runningMs !== undefined) runs.running.push((log.runningMs - killAt) / 1000);
    if (!log.fromSnapshot) throw new Error('B did not start from a snapshot');
    runs.replayed.push(log.replayed ?? NaN);
    runs.entries.push(log.entries ?? NaN);
    runs.throttles.push(proxy.stats().reduce((s, c) => s + c.throttles, 0) - throttlesBefore);

    await stop(sim);
    await stop(procB);
    await client.send(new DeleteStreamCommand({ StreamName: stream }));
  }
} finally {
  for (const c of children) await stop(c, 'SIGKILL');
  await rig.close();
  await rm(dir, { recursive: true, force: true });
}

const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
emit([
  absolute(
    'take-over after kill -9 under the read caps: kill → first alert of the new owner',
    's',
    runs.firstAlert,
    `<= FAILOVER_TIME_MS + 5 s (${TARGET_S} s)`,
    (v) => v <= TARGET_S,
    `1 shard, ${RATE} payments/s (1 M cards, 10 % stolen), A killed after ${RUN_BEFORE_KILL_MS / 1000} s of traffic while B waited; first PAYMENT_ALERT for a payment stamped after the kill, by its arrival in the stream; reads through ReadCapProxy (5 calls/s, 2 MiB/s per shard); ${REPS} runs: ${list(runs.firstAlert)} s`,
  ),
  info('take-over: kill → that alert created (its event_date_origin)', 's', runs.created),
  info('take-over: kill → B takes the shard (RESTORING)', 's', runs.taken, `FAILOVER_TIME_MS = ${FAILOVER_TIME_MS / 1000} s`),
  info('take-over: kill → B running (restored from the snapshot, replayed to the lease checkpoint)', 's', runs.running),
  info('take-over: records B replayed from the snapshot', 'records', runs.replayed, `snapshot entries ${runs.entries.join(', ')}`),
  info('take-over: GetRecords calls throttled after the kill', 'calls', runs.throttles, 'ProvisionedThroughputExceeded from the proxy, every reader'),
]);
