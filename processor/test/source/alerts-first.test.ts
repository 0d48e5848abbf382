/**
 * Alerts first (issue 17): a shard task taking a shard over from a snapshot alerts before its
 * panes are restored, commits nothing until they are, then commits the whole state and emits the
 * summaries that waited, counting the payments taken meanwhile. A pane group refused meanwhile
 * fails the task, and its restart passes that snapshot over.
 */
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { withS3 } from '../../../common/test/helpers.js';
import type { SummaryEvent } from '../../../common/src/events.js';
import { ShardEngine } from '../../src/engine/index.js';
import { paneGroupKey } from '../../src/engine/codec.js';
import type { Lease } from '../../src/lease/index.js';
import { createMetrics } from '../../src/metrics.js';
import { SnapshotError } from '../../src/snapshot/errors.js';
import { S3Snapshots } from '../../src/snapshot/s3-snapshots.js';
import { ShardSnapshotWriter } from '../../src/snapshot/shard-snapshots.js';
import type { ShardTenure } from '../../src/source/ownership.js';
import { ShardTask } from '../../src/source/shard-task.js';
import { openStateStore, type ChangeSet, type ShardCheckpoint } from '../../src/state/index.js';
import { card, pay, stolenCards, testCards, toEvent, token } from '../engine/helpers.js';
import { T0, paymentRecords, taskDeps } from './task-kit.js';

const SHARD = 'shardId-000000000000';
const CARDS = Array.from({ length: 60 }, (_, i) => card(i + 1));
/** Pane starts of history (10 s each): 40 min, one stored group per start. */
const STARTS = 240;
const AT: ShardCheckpoint = { sequenceNumber: '5000', watermarkMs: 0, shardEnd: false, stateId: 'A' };

/**
 * The previous owner's snapshot at the lease checkpoint (AT): a payment of every card in every pane
 * start, its output all sent, one commit per start; `damaged`: plus a pane group no engine writes.
 */
async function previousOwner(t: Test, damaged = false) {
  const s3 = await withS3(t, ['snaps']);
  const snapshots = await S3Snapshots.create({ client: s3.client, bucket: 'snaps', prefix: 'snapshots/', stream: 's' });
  const metrics = createMetrics(new Registry());
  const store = await openStateStore({ kind: 'memory' });
  const old = new ShardEngine();
  for (let s = 0; s < STARTS; s++) {
    const at = T0 - (STARTS - s) * 10_000;
    for (const c of CARDS) old.onPayment(toEvent(pay({ at, card: c })), true, at);
    old.skipDue();
    await store.commitShard(SHARD, old.takeChanges(), { ...AT, sequenceNumber: String(s + 1), watermarkMs: old.watermarkMs! });
  }
  const bad = damaged ? [[paneGroupKey(T0 - 10_000, 999_999), { [token(card(1))]: { count: 'many' } }] as const] : [];
  const at = { ...AT, watermarkMs: old.watermarkMs! };
  await store.commitShard(SHARD, { puts: bad, dels: [] }, at);
  const writer = new ShardSnapshotWriter(
    SHARD,
    { snapshots, store, stream: 's', intervalMs: 1, now: () => T0, monotonic: () => 0, log: pino({ level: 'silent' }), metrics },
    { isSafe: () => true, sharedCheckpoint: () => undefined },
  );
  await writer.final(at);
  return { snapshots, metrics, at, snapshotKey: writer.newest!.key };
}

/** A new owner's task for the lease the previous owner left, on an empty store, and what it did. */
function newOwner(o: Awaited<ReturnType<typeof previousOwner>>) {
  // After the lease checkpoint: a stolen card's payment, time moving on, then the shard's end.
  const batches = paymentRecords(
    [
      [pay({ at: T0 + 1_000, card: card(1) }), pay({ at: T0 + 20_000, card: card(999) })],
      [pay({ at: T0 + 21_000, card: card(999) })],
      [pay({ at: T0 + 22_000, card: card(999) })],
    ],
    5001,
  );
  const events: string[] = [];
  const sent: Array<{ event_type: string }> = [];
  const seen = (e: { event_type: string }) => {
    sent.push(e);
    events.push(e.event_type);
  };
  const commits: ChangeSet[] = [];
  const lines: Array<{ msg: string }> = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    }),
  );
  const lease: Lease = {
    leaseKey: SHARD,
    leaseOwner: 'new',
    leaseCounter: 7,
    checkpoint: o.at.sequenceNumber!,
    ownerSwitchesSinceCheckpoint: 1,
    parentShardIds: [],
    childShardIds: [],
    checkpointWatermarkMs: o.at.watermarkMs,
    checkpointAtMs: T0,
    checkpointStateId: o.at.stateId,
  };
  const shared: string[] = [];
  const tenure: ShardTenure = {
    lease,
    stillHeld: () => tenure,
    isSafe: () => true,
    leaseOf: async () => undefined,
    checkpoint: async (settled) => void shared.push(settled.sequenceNumber ?? ''),
    sharedCheckpoint: () => undefined,
  };
  const run = async () => {
    const store = await openStateStore({ kind: 'memory' });
    const commit = store.commitShard.bind(store);
    store.commitShard = async (shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint) => {
      events.push(`commit ${checkpoint.sequenceNumber}`);
      commits.push(changes);
      await commit(shardId, changes, checkpoint);
    };
    const deps = { stolen: stolenCards(CARDS), metrics: o.metrics, log, snapshots: o.snapshots, snapshotIntervalMs: 3_600_000 };
    const task = new ShardTask({ shardId: SHARD, tenure }, taskDeps(batches, store, deps, seen));
    return { store, done: task.run(new AbortController().signal) };
  };
  const last = batches.at(-1)!.at(-1)!.SequenceNumber!;
  return { run, events, sent, commits, lines, shared, last };
}

t.test('a take-over from a snapshot alerts before its panes are in, and its summaries count everything once they are', async (t) => {
  const owner = newOwner(await previousOwner(t));
  const { store, done } = await owner.run();
  await done;
  const { events, sent, commits, lines, shared, last } = owner;

  const firstAlert = events.indexOf('PAYMENT_ALERT');
  const firstCommitAt = events.findIndex((e) => e.startsWith('commit'));
  t.ok(firstAlert >= 0 && firstAlert < firstCommitAt, `the alert went out (event ${firstAlert}) before anything was committed (event ${firstCommitAt})`);
  t.equal(events.slice(0, firstCommitAt).filter((e) => e === 'PAYMENT_ALERT_SUMMARY').length, 0, 'no summary before the panes were in');
  t.ok(lines.some((l) => l.msg.startsWith('alert state restored')) && lines.some((l) => l.msg.startsWith('panes restored')), 'both steps logged');
  const panePuts = commits[0]!.puts.filter(([k]) => k.startsWith('panes/')).length;
  t.ok(panePuts >= STARTS - 1, `the first commit is the whole state (${panePuts} pane groups)`);
  t.same(shared.at(-1), last, 'the lease checkpoint follows to the shard end');
  const saved = await store.loadCheckpoint(SHARD);
  t.ok(saved?.shardEnd && saved.stateId !== 'A', 'the end committed, on a line of its own');

  // The summaries that waited: card 1's at T0 + 10 s counts its stored payments (40 min, all within
  // the hour) and the one taken while the panes were restoring.
  const summary = sent.find(
    (e): e is SummaryEvent =>
      e.event_type === 'PAYMENT_ALERT_SUMMARY' &&
      (e as SummaryEvent).data.card_token === token(card(1)) &&
      (e as SummaryEvent).data.window_end === new Date(T0 + 10_000).toISOString(),
  );
  t.equal(summary?.data.payment_count, STARTS + 1, 'the stored payments and the one taken meanwhile');
  const restored = ShardEngine.restore((await store.loadShard(SHARD)).entries, {}, testCards);
  t.equal(restored.stats().cards, CARDS.length, 'every card restored from what was committed');
});

t.test('a pane group refused after alerts resumed fails the task, commits nothing, and its restart passes the snapshot over', async (t) => {
  const previous = await previousOwner(t, true);
  const owner = newOwner(previous);
  const first = await owner.run();
  const failure = await first.done.then(
    () => undefined,
    (err: unknown) => err,
  );
  t.ok(failure instanceof SnapshotError && failure.code === 'SNAPSHOT_INVALID', 'the task failed with SNAPSHOT_INVALID');
  t.match(String((failure as Error).message), previous.snapshotKey, 'naming the snapshot');
  t.ok(owner.events.includes('PAYMENT_ALERT'), 'after alerting from the alert state');
  t.equal(owner.commits.length, 0, 'nothing committed');
  t.equal(await first.store.loadCheckpoint(SHARD), undefined);
  const invalid = (await previous.metrics.registry.getSingleMetric('payments_snapshot_restores_total')!.get()).values.find(
    (v) => v.labels.result === 'invalid',
  )?.value;
  t.equal(invalid, 1, 'counted as an invalid snapshot');
  t.ok(previous.snapshots.isRefused(previous.snapshotKey), 'and refused from now on');

  // The restart: no other snapshot of the line, so the shard is replayed (here: from the fake shard's start).
  const again = await owner.run();
  await again.done;
  t.ok(
    owner.lines.some((l) => l.msg === 'rebuilding shard state by replay'),
    'the restart replays instead',
  );
  t.ok((await again.store.loadCheckpoint(SHARD))?.shardEnd, 'and reaches the end');
});
