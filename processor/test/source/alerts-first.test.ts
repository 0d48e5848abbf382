/**
 * Alerts first (issue 17): a shard task taking a shard over from a snapshot alerts before its
 * panes are restored, commits nothing until they are, then commits the whole state and emits the
 * summaries that waited, counting the payments taken meanwhile.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { withS3 } from '../../../common/test/helpers.js';
import type { KinesisProducer } from '../../../common/src/producer.js';
import type { SummaryEvent } from '../../../common/src/events.js';
import { ShardEngine } from '../../src/engine/index.js';
import type { Lease } from '../../src/lease/index.js';
import { createMetrics } from '../../src/metrics.js';
import { KinesisSink } from '../../src/sink/kinesis-sink.js';
import { S3Snapshots } from '../../src/snapshot/s3-snapshots.js';
import { ShardSnapshotWriter } from '../../src/snapshot/shard-snapshots.js';
import type { ShardTenure } from '../../src/source/ownership.js';
import { ShardTask } from '../../src/source/shard-task.js';
import { openStateStore, type ChangeSet, type ShardCheckpoint } from '../../src/state/index.js';
import { card, pay, stolenCards, testCards, toEvent, toPaymentEvent, token } from '../engine/helpers.js';

const SHARD = 'shardId-000000000000';
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const CARDS = Array.from({ length: 60 }, (_, i) => card(i + 1));
/** Pane starts of history (10 s each): 40 min, one stored group per start. */
const STARTS = 240;

t.test('a take-over from a snapshot alerts before its panes are in, and its summaries count everything once they are', async (t) => {
  const s3 = await withS3(t, ['snaps']);
  const snapshots = await S3Snapshots.create({ client: s3.client, bucket: 'snaps', prefix: 'snapshots/', stream: 's' });
  const metrics = createMetrics(new Registry());
  const quiet = pino({ level: 'silent' });

  // The previous owner: a payment of every card in every pane start, its output all sent, one commit per start.
  const before = await openStateStore({ kind: 'memory' });
  const old = new ShardEngine();
  for (let s = 0; s < STARTS; s++) {
    const at = T0 - (STARTS - s) * 10_000;
    for (const c of CARDS) old.onPayment(toEvent(pay({ at, card: c })), true, at);
    old.skipDue();
    await before.commitShard(SHARD, old.takeChanges(), { sequenceNumber: String(s + 1), watermarkMs: old.watermarkMs!, shardEnd: false, stateId: 'A' });
  }
  const at: ShardCheckpoint = { sequenceNumber: '5000', watermarkMs: old.watermarkMs!, shardEnd: false, stateId: 'A' };
  await before.commitShard(SHARD, { puts: [], dels: [] }, at);
  await new ShardSnapshotWriter(
    SHARD,
    { snapshots, store: before, stream: 's', intervalMs: 1, now: () => T0, monotonic: () => 0, log: quiet, metrics },
    { isSafe: () => true, sharedCheckpoint: () => undefined },
  ).final(at);

  // After the lease checkpoint: a stolen card's payment, time moving on, then the shard's end.
  const later = [
    [pay({ at: T0 + 1_000, card: card(1) }), pay({ at: T0 + 20_000, card: card(999) })],
    [pay({ at: T0 + 21_000, card: card(999) })],
    [pay({ at: T0 + 22_000, card: card(999) })],
  ];
  let seq = 5000;
  const batches = later.map((b) =>
    b.map((p) => ({ Data: Buffer.from(JSON.stringify(toPaymentEvent(p))), SequenceNumber: String(++seq), PartitionKey: p.card })),
  );
  const kinesis = {
    async send(command: unknown) {
      if (command instanceof GetShardIteratorCommand) return { ShardIterator: '0' };
      if (command instanceof GetRecordsCommand) {
        const i = Number(command.input.ShardIterator);
        return { Records: batches[i] ?? [], NextShardIterator: i >= batches.length - 1 ? undefined : String(i + 1), MillisBehindLatest: 0 };
      }
      throw new Error('unexpected command');
    },
  } as unknown as KinesisClient;

  const events: string[] = [];
  const sent: Array<{ event_type: string }> = [];
  class Producer extends EventEmitter {
    async send(records: Array<{ data: Uint8Array }>): Promise<void> {
      const out = records.map((r) => JSON.parse(Buffer.from(r.data).toString()) as { event_type: string });
      sent.push(...out);
      for (const e of out) events.push(e.event_type);
      this.emit('batch', { records: records.length, bytes: 0, acknowledged: records.length, failed: 0, durationMs: 0 });
    }
    async flush(): Promise<void> {}
    async close(): Promise<void> {}
  }
  const producer = new Producer();
  const store = await openStateStore({ kind: 'memory' });
  const commit = store.commitShard.bind(store);
  let firstCommit: ChangeSet | undefined;
  store.commitShard = async (shardId: string, changes: ChangeSet, checkpoint: ShardCheckpoint) => {
    events.push(`commit ${checkpoint.sequenceNumber}`);
    firstCommit ??= changes;
    await commit(shardId, changes, checkpoint);
  };
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
    checkpoint: '5000',
    ownerSwitchesSinceCheckpoint: 1,
    parentShardIds: [],
    childShardIds: [],
    checkpointWatermarkMs: at.watermarkMs,
    checkpointAtMs: T0,
    checkpointStateId: 'A',
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
  const task = new ShardTask(
    { shardId: SHARD, tenure },
    {
      kinesis,
      stream: 's',
      store,
      sink: new KinesisSink(() => producer as unknown as KinesisProducer, { output: 'out', input: 's' }),
      stolen: stolenCards(CARDS),
      metrics,
      log,
      engineConfig: {},
      now: () => T0 + 60_000,
      monotonic: () => performance.now(),
      maxRecordBytes: 65_536,
      maxClockSkewMs: 5_000,
      startLookbackMs: 3_600_000,
      getRecordsLimit: 10,
      pollIntervalMs: 0,
      snapshots,
      snapshotIntervalMs: 3_600_000,
    },
  );
  await task.run(new AbortController().signal);

  const firstAlert = events.indexOf('PAYMENT_ALERT');
  const firstCommitAt = events.findIndex((e) => e.startsWith('commit'));
  t.ok(firstAlert >= 0 && firstAlert < firstCommitAt, `the alert went out (event ${firstAlert}) before anything was committed (event ${firstCommitAt})`);
  t.equal(events.slice(0, firstCommitAt).filter((e) => e === 'PAYMENT_ALERT_SUMMARY').length, 0, 'no summary before the panes were in');
  t.ok(lines.some((l) => l.msg.startsWith('alert state restored')) && lines.some((l) => l.msg.startsWith('panes restored')), 'both steps logged');
  const panePuts = firstCommit!.puts.filter(([k]) => k.startsWith('panes/')).length;
  t.ok(panePuts >= STARTS - 1, `the first commit is the whole state (${panePuts} pane groups)`);
  t.same(shared.at(-1), String(seq), 'the lease checkpoint follows to the shard end');
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
