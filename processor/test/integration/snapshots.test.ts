/**
 * Issue 17: state snapshots in S3 (s3rver here). Every worker starts with an empty state
 * directory, as a new Fargate task does. kill -9 of the owner: the new owner restores the newest
 * snapshot valid for the lease and replays only from it to the lease checkpoint (not the last
 * ~65 minutes); SIGTERM: the last snapshot is at the lease checkpoint, so nothing is replayed.
 * Alerts and summaries stay exact throughout.
 */
import t from 'tap';
import { withS3, S3RVER_CREDENTIALS } from '../../../common/test/helpers.js';
import { startStack } from './harness.js';
import { fleet, sleep } from './fleet.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

const INTERVAL_MS = 2_000;
const RATE = 800;
const SHARDS = 2;

interface Restore {
  shardId: string;
  replayed: number;
  fromSnapshot: boolean;
}

/** Per shard: whether it started from a snapshot, and how many records it replayed. */
function restoresIn(stdout: string): Restore[] {
  const fromSnapshot = new Set<string>();
  const out: Restore[] = [];
  for (const line of stdout.split('\n')) {
    if (line.includes('restoring shard state from a snapshot')) fromSnapshot.add((JSON.parse(line) as { shardId: string }).shardId);
    if (line.includes('"shard state rebuilt"')) {
      const e = JSON.parse(line) as { shardId: string; replayed: number };
      out.push({ shardId: e.shardId, replayed: e.replayed, fromSnapshot: fromSnapshot.has(e.shardId) });
    }
  }
  return out;
}

t.test('new owners with empty disks start from snapshots: kill -9 replays seconds, SIGTERM nothing; nothing lost', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: SHARDS });
  const s3 = await withS3(t, ['snapshots']);
  const f = await fleet(t, stack);
  const env = {
    SNAPSHOT_BUCKET: 'snapshots',
    SNAPSHOT_INTERVAL_MS: String(INTERVAL_MS),
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    LOG_LEVEL: 'info',
  };
  await f.start('w1', env);
  await stack.waitFor('w1 owns both shards', () => f.settled(['w1'], SHARDS), 60_000, 250);
  const sim = await stack.startSimulator(['--count', String(RATE * 36), '--rate', String(RATE), '--disorder-ms', '300', '--seed', '17']);
  await sleep(14_000);

  await f.kill9('w1');
  const w2 = await f.start('w2', env);
  await stack.waitFor('w2 restored both shards', () => restoresIn(w2.output.stdout).length === SHARDS, 60_000, 200);
  const afterKill = restoresIn(w2.output.stdout);
  t.comment(
    `after kill -9: ${afterKill.map((r) => `${r.shardId} replayed ${r.replayed} records${r.fromSnapshot ? ' from a snapshot' : ' from scratch'}`).join(', ')}`,
  );
  // About 14 s of each shard (~5 600 records) were read before the kill; a snapshot at most one
  // interval (+ the 1 s lease checkpoint interval) behind the lease leaves ~1 200 to replay.
  const perShardPerS = RATE / SHARDS;
  const bound = (INTERVAL_MS / 1000 + 1 + 2) * perShardPerS;
  for (const r of afterKill) {
    t.ok(r.fromSnapshot, `${r.shardId}: started from a snapshot`);
    t.ok(r.replayed <= bound, `${r.shardId}: replayed ${r.replayed} records, at most ${bound} (interval + lease checkpoint interval + 2 s)`);
  }

  // Alerts first: each shard read with its panes still restoring, then made whole and committed.
  const logged = (msg: string) =>
    new Set(
      w2.output.stdout
        .split('\n')
        .filter((l) => l.includes(msg))
        .map((l) => (JSON.parse(l) as { shardId: string }).shardId),
    );
  await stack.waitFor('w2 has both states whole', () => logged('"panes restored').size === SHARDS, 30_000, 200);
  t.equal(logged('"alert state restored').size, SHARDS, 'each shard alerting while its panes restored');

  await sleep(4_000);
  w2.child.kill('SIGTERM');
  t.equal((await w2.exit).code, 0, 'w2 stopped with SIGTERM');
  const w3 = await f.start('w3', env);
  await stack.waitFor('w3 restored both shards', () => restoresIn(w3.output.stdout).length === SHARDS, 60_000, 200);
  const afterTerm = restoresIn(w3.output.stdout);
  t.comment(`after SIGTERM: ${afterTerm.map((r) => `${r.shardId} replayed ${r.replayed}`).join(', ')}`);
  for (const r of afterTerm) {
    t.ok(r.fromSnapshot, `${r.shardId}: started from a snapshot`);
    t.equal(r.replayed, 0, `${r.shardId}: the snapshot written at release is at the lease checkpoint: nothing replayed`);
  }

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack);
  verifySummaries(t, out, published, stack, cutoff);
  t.notMatch(w3.output.stdout + w2.output.stdout, /state snapshot not written/, 'every snapshot written');
  w3.child.kill('SIGTERM');
  t.equal((await w3.exit).code, 0);
});
