/**
 * 7. Restart after kill -9 with 60 minutes of state (issue 13). A shard's LevelDB holds an hour at
 * 1 000 events/s (100 000 stolen cards active, as a killed processor leaves it), its lease
 * checkpoint trails the local one by 1 000 records and names the same state (as a kill -9 between
 * two lease checkpoints leaves it), and the real ShardTask starts on it with the real LeaseManager
 * (dynalite, in this process) and the real classic-level store; new records come from a stand-in
 * Kinesis. Timed: from the task's start to the first alert the sink receives, and the records it
 * replayed (the processor's own counter).
 *
 * Before issue 13 the restart threw that state away (the checkpoints differ) and replayed the
 * shard from the lease checkpoint's time − 65 minutes. That replay is projected, not run (3.9 M
 * records do not fit the time budget; the rebuild scenario measures the same path): the records
 * in its window × the replay's per-record cost measured here on two slices (the hour's start from
 * an empty state, its end from the full one) + committing the rebuilt state + the first batch.
 * Also projected: the same replay at Kinesis's read limit, 2 MiB/s per shard shared with Firehose.
 */
import { Registry } from 'prom-client';
import { pino } from 'pino';
import type { ProducerRecord, KinesisProducer } from '../../common/src/producer.js';
import { emit, info, absolute, QUICK } from '../lib/figures.js';
import { batches, encodePayments, makeCards } from '../lib/workload.js';
import { CountingProducer, fakeKinesis } from '../lib/fake-kinesis.js';
import { tempLevelStore } from '../lib/temp-store.js';
import { buildActiveState } from '../lib/state-builder.js';
import { startDynamoEmulator } from '../../deploy/local/dynamodb-emulator.js';
import { createDynamoClient, LeaseManager } from '../../processor/src/lease/index.js';
import { createMetrics } from '../../processor/src/metrics.js';
import { KinesisSink } from '../../processor/src/sink/kinesis-sink.js';
import { ShardTask } from '../../processor/src/source/shard-task.js';
import { LeaseOwnership } from '../../processor/src/source/lease-ownership.js';
import { BENCH_SHARD as SHARD, replayShard } from '../lib/replay.js';
import { monotonicNow } from '../../processor/src/source/shard-watch.js';

const REPS = 3;
const STATE_ID = 'killed-processor-state';
const LOCAL_SEQUENCE = 10_000_000n;
/** A rebuild replays from the lease checkpoint's time − 60 min − 5 min, at 1 000 records/s. */
const REBUILD_RECORDS = 65 * 60 * 1_000;
const SLICE = QUICK ? 30_000 : 100_000;
/** Kinesis serves a shard 2 MiB/s, shared by every reader: the processor and Firehose here. */
const READ_LIMIT_BYTES_S = (2 * 1024 * 1024) / 2;

const cards = makeCards(1_000_000);
const endMs = Math.floor((Date.now() - 60_000) / 10_000) * 10_000;
const state = buildActiveState(cards.stolenRefs, 3.54, endMs);
const fresh = encodePayments(cards, { count: 20_000, startMs: endMs, stepMs: 1, seed: 21 });
const newRecords = fakeKinesis(batches(fresh, 10_000));
const sliceStart = fakeKinesis(batches(encodePayments(cards, { count: SLICE, startMs: endMs - 3_600_000, stepMs: 1, seed: 22 }), 10_000));
const sliceEnd = fakeKinesis(batches(encodePayments(cards, { count: SLICE, startMs: endMs - 60_000, stepMs: 1, seed: 23 }), 10_000));
const meanRecordBytes = fresh.reduce((s, r) => s + r.byteLength, 0) / fresh.length;

const dynamo = await startDynamoEmulator();
const client = createDynamoClient({ region: 'us-east-1', endpoint: dynamo.endpoint });
const log = pino({ level: process.env.BENCH_LOG ?? 'silent' });

/** The first alert's arrival at the sink, as a producer stand-in sees it. */
class FirstAlert extends CountingProducer {
  at: number | undefined;
  readonly #alert = Buffer.from('{"event_type":"PAYMENT_ALERT","', 'latin1');
  override async send(records: ProducerRecord[]): Promise<void> {
    if (this.at === undefined && records.some((r) => Buffer.from(r.data.buffer, r.data.byteOffset, this.#alert.length).equals(this.#alert)))
      this.at = performance.now();
    await super.send(records);
  }
}

async function restartOnce(rep: number): Promise<{ seconds: number; replayed: number; restoreAndCommitSeconds: number }> {
  const t = await tempLevelStore();
  await t.store.commitShard(
    SHARD,
    { puts: state.entries, dels: [] },
    { sequenceNumber: String(LOCAL_SEQUENCE), watermarkMs: state.watermarkMs, shardEnd: false, stateId: STATE_ID },
  );
  // The lease as the killed processor left it: held (the new process takes it over), its
  // checkpoint 1 000 records behind the local one, naming the same state.
  const leases = new LeaseManager({ dynamo: client, table: `leases-${rep}`, workerId: 'restarted', now: monotonicNow, log });
  await leases.ensureTable();
  await leases.syncShards([
    {
      ShardId: SHARD,
      HashKeyRange: { StartingHashKey: '0', EndingHashKey: '340282366920938463463374607431768211455' },
      SequenceNumberRange: { StartingSequenceNumber: '1' },
    },
  ]);
  await leases.rebalance();
  await leases.checkpoint(SHARD, {
    sequenceNumber: String(LOCAL_SEQUENCE - 1_000n),
    watermarkMs: state.watermarkMs - 1_000,
    checkpointAtMs: endMs,
    stateId: STATE_ID,
  });
  const producer = new FirstAlert();
  const metrics = createMetrics(new Registry());
  const ownership = new LeaseOwnership(leases, { log, now: Date.now, monotonic: monotonicNow, checkpointIntervalMs: 1_000 });
  const task = new ShardTask(
    { shardId: SHARD, tenure: ownership.tenure(SHARD)! },
    {
      kinesis: newRecords,
      stream: 'bench',
      store: t.store,
      sink: new KinesisSink(() => producer as unknown as KinesisProducer, { output: 'bench', input: 'bench' }),
      stolen: cards.stolenCards,
      metrics,
      log,
      engineConfig: {},
      now: Date.now,
      monotonic: monotonicNow,
      maxRecordBytes: 64 * 1024,
      maxClockSkewMs: 5_000,
      startLookbackMs: 3_600_000,
      getRecordsLimit: 10_000,
      pollIntervalMs: 0,
    },
  );
  // Renewals go on as in the processor (a restore of this size can outlast the lease's safe window).
  const renewals = new AbortController();
  const renewing = leases.start(renewals.signal);
  const started = performance.now();
  await task.run(new AbortController().signal);
  renewals.abort();
  await renewing;
  if (producer.at === undefined) throw new Error('no alert after the restart');
  const seconds = (producer.at - started) / 1000;
  const replayed = (await metrics.recordsReplayed.get()).values[0]?.value ?? 0;
  // What a rebuild adds besides its replay: committing the whole rebuilt state.
  const c0 = performance.now();
  await t.store.deleteShard(SHARD);
  await t.store.commitShard(SHARD, { puts: state.entries, dels: [] }, { sequenceNumber: '1', watermarkMs: state.watermarkMs, shardEnd: false });
  const restoreAndCommitSeconds = (performance.now() - c0) / 1000;
  await t.dispose();
  return { seconds, replayed, restoreAndCommitSeconds };
}

/** Seconds per record replayed (rebuild path: classify → engine → skipDue), from `kinesis`. */
async function replayCost(kinesis: ReturnType<typeof fakeKinesis>, initial?: Array<[string, unknown]>): Promise<number> {
  const r = await replayShard(kinesis, cards.stolenCards, initial);
  return r.replayMs / 1000 / SLICE;
}

const after: number[] = [];
const replayed: number[] = [];
const before: number[] = [];
const atReadLimit: number[] = [];
for (let r = 0; r < REPS; r++) {
  const run = await restartOnce(r);
  after.push(run.seconds);
  replayed.push(run.replayed);
  const perRecord = ((await replayCost(sliceStart)) + (await replayCost(sliceEnd, state.entries))) / 2;
  const replaySeconds = REBUILD_RECORDS * perRecord;
  before.push(replaySeconds + run.restoreAndCommitSeconds + run.seconds);
  atReadLimit.push((REBUILD_RECORDS * meanRecordBytes) / READ_LIMIT_BYTES_S + run.restoreAndCommitSeconds + run.seconds);
}
client.destroy();
await dynamo.close();

emit([
  absolute(
    'restart after kill -9, 60 min of state: records replayed',
    'records',
    replayed,
    '= 0',
    (v) => v === 0,
    'the local state continues the lease checkpoint (same state id, 1 000 records past it): reused, nothing replayed',
  ),
  info(
    'restart after kill -9, 60 min of state: time to the first new alert',
    's',
    after,
    `restore of the stored state (${state.entries.length} entries holding ${state.payments} stolen payments) + the first batch of new records`,
  ),
  info('before issue 13 (rebuilt by replay): records replayed', 'records', [REBUILD_RECORDS], '65 min at 1 000 events/s'),
  info(
    'before issue 13: time to the first new alert (projected, CPU-bound replay)',
    's',
    before,
    `replay cost per record measured on two ${SLICE}-record slices, + commit of the rebuilt state + the first batch`,
  ),
  info(
    'before issue 13: the same at Kinesis read limit (projected)',
    's',
    atReadLimit,
    `${REBUILD_RECORDS} records of ~${Math.round(meanRecordBytes)} B at 1 MiB/s (2 MiB/s per shard shared with Firehose)`,
  ),
]);
