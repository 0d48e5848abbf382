/**
 * Snapshots against a real S3 API (s3rver): the writer's pace and export, the fence that decides
 * which snapshot a new owner may use, falling back past damaged ones, clean-up, and S3 failing.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { withS3 } from '../../../common/test/helpers.js';
import { createMetrics } from '../../src/metrics.js';
import { openStateStore, type ShardCheckpoint } from '../../src/state/index.js';
import { S3Snapshots } from '../../src/snapshot/s3-snapshots.js';
import { encodeSnapshot, snapshotHeader } from '../../src/snapshot/format.js';
import { ShardSnapshotWriter, loadValidSnapshot, type SnapshotFence } from '../../src/snapshot/shard-snapshots.js';
import { createS3Client } from '../../../common/src/s3.js';

const SHARD = 'shardId-000000000000';
const log = pino({ level: 'silent' });
const cp = (sequenceNumber: string, stateId = 'line-a'): ShardCheckpoint => ({
  sequenceNumber,
  watermarkMs: Number(sequenceNumber) * 1000,
  shardEnd: false,
  stateId,
});
async function* raw(entries: Array<[string, unknown]>): AsyncGenerator<[string, string]> {
  for (const [k, v] of entries) yield [k, JSON.stringify(v)];
}

async function setup(t: Test) {
  const s3 = await withS3(t, ['snaps']);
  const snapshots = await S3Snapshots.create({ client: s3.client, bucket: 'snaps', prefix: 'snapshots/', stream: 'payments' });
  const metrics = createMetrics(new Registry());
  /** Puts a snapshot of `entries` at `c` straight into the bucket. */
  const put = async (c: ShardCheckpoint, entries: Array<[string, unknown]> = [['meta', { at: c.sequenceNumber, line: c.stateId }]]) =>
    snapshots.put(snapshotHeader('payments', SHARD, c, 0), (await encodeSnapshot(snapshotHeader('payments', SHARD, c, 0), raw(entries))).body);
  const count = (name: string, result: string) =>
    metrics.registry
      .getSingleMetric(name)!
      .get()
      .then((m) => m.values.find((v) => v.labels.result === result)?.value ?? 0);
  return { s3, snapshots, metrics, put, count };
}

t.test('the newest snapshot valid for the lease: same line, at or before its checkpoint; damaged ones skipped', async (t) => {
  const { s3, snapshots, metrics, put, count } = await setup(t);
  for (const seq of ['10', '20', '30', '100']) await put(cp(seq));
  await put(cp('25', 'line-b'));
  const at = async (checkpoint: string, checkpointStateId?: string) =>
    (await loadValidSnapshot({ snapshots, log, metrics }, SHARD, { checkpoint, checkpointStateId }))?.header.checkpoint;
  t.equal((await at('25', 'line-a'))?.sequenceNumber, '20', 'the newest of the line at or before the checkpoint (25)');
  t.equal((await at('99', 'line-a'))?.sequenceNumber, '30', 'numeric order, not text order (100 > 99 > 30)');
  t.equal((await at('30', 'line-a'))?.sequenceNumber, '30', 'one exactly at the checkpoint');
  t.equal((await at('SHARD_END', 'line-a'))?.sequenceNumber, '100', "a finished shard: the line's newest");
  t.same(await at('30', 'line-b'), cp('25', 'line-b'), 'the line the lease names, not the newest overall');
  t.equal(await at('9', 'line-a'), undefined, 'none at or before the checkpoint: replay instead');
  t.equal(await at('30'), undefined, 'a lease that names no line');
  t.equal(await at('30', 'line-c'), undefined, 'a line with no snapshot');
  t.same((await loadValidSnapshot({ snapshots, log, metrics }, SHARD, { checkpoint: '25', checkpointStateId: 'line-a' }))?.entries, [
    ['meta', { at: '20', line: 'line-a' }],
  ]);

  // The newest valid one damaged (cut short), and one whose bytes belong to another checkpoint.
  const ref20 = (await snapshots.list(SHARD, 'line-a')).find((r) => r.sequenceNumber === '20')!;
  const ref30 = (await snapshots.list(SHARD, 'line-a')).find((r) => r.sequenceNumber === '30')!;
  const good10 = (await encodeSnapshot(snapshotHeader('payments', SHARD, cp('10'), 0), raw([]))).body;
  await s3.client.send(new PutObjectCommand({ Bucket: 'snaps', Key: ref30.key, Body: good10 }));
  const full20 = (await encodeSnapshot(snapshotHeader('payments', SHARD, cp('20'), 0), raw([['meta', 1]]))).body;
  await s3.client.send(new PutObjectCommand({ Bucket: 'snaps', Key: ref20.key, Body: full20.subarray(0, full20.length - 12) }));
  const invalidBefore = await count('payments_snapshot_restores_total', 'invalid');
  t.equal((await at('30', 'line-a'))?.sequenceNumber, '10', 'two refused (another checkpoint inside, cut short): the next older one');
  t.equal((await count('payments_snapshot_restores_total', 'invalid')) - invalidBefore, 2, 'each refusal counted');
});

t.test('a snapshot refused after it was read (a pane group restored later) is passed over from then on', async (t) => {
  const { snapshots, metrics, put } = await setup(t);
  for (const seq of ['10', '20']) await put(cp(seq));
  const at = async () => (await loadValidSnapshot({ snapshots, log, metrics }, SHARD, { checkpoint: '30', checkpointStateId: 'line-a' }))?.header.checkpoint;
  t.equal((await at())?.sequenceNumber, '20');
  snapshots.refuse((await snapshots.list(SHARD, 'line-a')).find((r) => r.sequenceNumber === '20')!.key);
  t.equal((await at())?.sequenceNumber, '10', 'the next older one');
});

t.test('the writer: exports the state as committed, at most once per interval, one at a time; clean-up follows the fence', async (t) => {
  const { snapshots, metrics, put, count } = await setup(t);
  const store = await openStateStore({ kind: 'memory' });
  t.teardown(() => store.close());
  let mono = 0;
  let shared: string | undefined;
  let safe = true;
  const fence: SnapshotFence = { isSafe: () => safe, sharedCheckpoint: () => shared };
  const writer = new ShardSnapshotWriter(
    SHARD,
    { snapshots, store, stream: 'payments', intervalMs: 10_000, now: () => 5, monotonic: () => mono, log, metrics },
    fence,
  );
  await put(cp('3', 'old-line'));

  await store.commitShard(
    SHARD,
    {
      puts: [
        ['meta', { v: 1 }],
        ['panes/1', { c: 1 }],
      ],
      dels: [],
    },
    cp('10'),
  );
  writer.afterCommit(cp('10'));
  // Committed in the same tick as the snapshot started: must not be in it.
  await store.commitShard(SHARD, { puts: [['panes/1', { c: 2 }]], dels: [] }, cp('11'));
  writer.afterCommit(cp('11'));
  await writer.final(undefined);
  t.equal(writer.newest?.sequenceNumber, '10', 'one snapshot: the second commit came within the interval');
  const first = await loadValidSnapshot({ snapshots, log, metrics }, SHARD, { checkpoint: '10', checkpointStateId: 'line-a' });
  t.same(first?.entries, [
    ['meta', { v: 1 }],
    ['panes/1', { c: 1 }],
  ]);
  t.same(first?.header.checkpoint, cp('10'));
  t.equal((await snapshots.list(SHARD, 'old-line')).length, 1, "nothing deleted before the lease names this task's line");

  mono = 10_000;
  shared = '10';
  safe = false;
  await store.commitShard(SHARD, { puts: [], dels: [] }, cp('20'));
  writer.afterCommit(cp('20'));
  await writer.final(undefined);
  t.same(
    (await snapshots.list(SHARD)).map((r) => `${r.stateId}@${r.sequenceNumber}`),
    ['line-a@10', 'line-a@20', 'old-line@3'],
    'the one the lease may use (10) and newer kept; other lines kept while the lease is not safe',
  );

  mono = 20_000;
  shared = '20';
  safe = true;
  await store.commitShard(SHARD, { puts: [], dels: [] }, cp('30'));
  writer.afterCommit(cp('30'));
  await writer.final(undefined);
  t.same(
    (await snapshots.list(SHARD)).map((r) => `${r.stateId}@${r.sequenceNumber}`),
    ['line-a@20', 'line-a@30'],
    'older than the usable one deleted, and every other line once the lease names this one',
  );

  // The task ends: a last snapshot at its last checkpoint, unless it has one there already.
  await store.commitShard(SHARD, { puts: [['meta', { v: 9 }]], dels: [] }, cp('31'));
  await writer.final(cp('31'));
  t.equal(writer.newest?.sequenceNumber, '31', 'the final snapshot, inside the interval');
  const written = await count('payments_snapshots_total', 'written');
  await writer.final(cp('31'));
  t.equal(await count('payments_snapshots_total', 'written'), written, 'none again at the same checkpoint');
});

t.test('an idle shard is not snapshotted again: only commits that changed state make one due (the first always)', async (t) => {
  const { snapshots, metrics } = await setup(t);
  const store = await openStateStore({ kind: 'memory' });
  t.teardown(() => store.close());
  let mono = 0;
  const writer = new ShardSnapshotWriter(
    SHARD,
    { snapshots, store, stream: 'payments', intervalMs: 1_000, now: () => 5, monotonic: () => mono, log, metrics },
    { isSafe: () => true, sharedCheckpoint: () => undefined },
  );
  const commit = async (seq: string, changed: boolean) => {
    await store.commitShard(SHARD, { puts: changed ? [['meta', { seq }]] : [], dels: [] }, cp(seq));
    mono += 5_000;
    writer.afterCommit(cp(seq), changed);
    await writer.final(undefined);
    return writer.newest?.sequenceNumber;
  };
  t.equal(await commit('1', false), '1', "the task's first commit: its line needs a snapshot, changed or not");
  t.equal(await commit('2', false), '1', 'nothing changed: none');
  t.equal(await commit('3', false), '1', 'still nothing');
  t.equal(await commit('4', true), '4', 'a change: the next one is due');
  t.equal(await commit('5', false), '4');
});

t.test('S3 failing: the snapshot is counted as failed, logged, and the task is never thrown at', async (t) => {
  const metrics = createMetrics(new Registry());
  const store = await openStateStore({ kind: 'memory' });
  t.teardown(() => store.close());
  const client = await createS3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  t.teardown(() => client.destroy());
  const snapshots = await S3Snapshots.create({ client, bucket: 'snaps', prefix: 'snapshots/', stream: 'payments' });
  const warnings: string[] = [];
  const capture = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
  const writer = new ShardSnapshotWriter(
    SHARD,
    { snapshots, store, stream: 'payments', intervalMs: 1, now: Date.now, monotonic: () => 0, log: capture, metrics },
    { isSafe: () => true, sharedCheckpoint: () => '1' },
  );
  await store.commitShard(SHARD, { puts: [['meta', 1]], dels: [] }, cp('1'));
  writer.afterCommit(cp('1'));
  await writer.final(undefined);
  const failed = (await metrics.registry.getSingleMetric('payments_snapshots_total')!.get()).values.find((v) => v.labels.result === 'failed')?.value;
  t.equal(failed, 1, 'counted');
  t.match(warnings.join(''), /state snapshot not written/, 'logged');
  t.equal(writer.newest, undefined);
  const listed = await loadValidSnapshot({ snapshots, log, metrics }, SHARD, { checkpoint: '1', checkpointStateId: 'line-a' });
  t.equal(listed, undefined, 'a new owner that cannot list snapshots replays instead');
});
