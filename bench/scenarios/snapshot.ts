/**
 * 9. Restore from a snapshot (issue 17): a shard whose 100 000 stolen cards are all active in the
 * 60-minute window, written to S3 (s3rver, in its own process) as the processor writes it, and
 * restored by a new owner as the processor restores it.
 *
 * The state is built by a ShardEngine the way a live shard builds it: an hour of event time at
 * 1 000 payments/s, 10 % of them stolen (360 000 payments of the 100 000 stolen cards, every card
 * 3–4 times, from the simulator's generator), the others moving the watermark only; what falls
 * due goes without being built (skipDue leaves the state as a drain would), and the changes are
 * committed to classic-level once per second of event time (a GetRecords batch), with a
 * checkpoint, so the store holds the groups a live shard leaves, not one group per pane start.
 *
 * Each repetition then:
 *   write   ShardSnapshotWriter.final at the shard's checkpoint: export (a LevelDB snapshot),
 *           encode + gzip, PutObject;
 *   restore what a new owner's task does (restoreShard, decision "rebuild", its ShardRebuilder
 *           with the snapshot store, alerts first): list, GetObject, gunzip, the alert state parsed
 *           and restored (the pane groups kept unparsed), the replay from the snapshot to the
 *           lease checkpoint (none: the snapshot is at it, as after a hand-over) — from here the
 *           task alerts; then PaneRestore (the pane groups parsed and restored in slices) and the
 *           whole state committed to an empty classic-level store. Timed end to end (target ≤ 5 s)
 *           and to "ready to alert";
 *   whole   the same restore without alerts first (everything restored and committed first);
 * and, apart, the restore's parts one by one (download, decode, engine restore, commit) and the
 * same state restored from the local store (a restart's "reuse"), for reference.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { v4 as uuidv4 } from 'uuid';
import { absolute, emit, info, QUICK } from '../lib/figures.js';
import { makeCards } from '../lib/workload.js';
import { fakeKinesis } from '../lib/fake-kinesis.js';
import { tempLevelStore } from '../lib/temp-store.js';
import { startS3 } from '../lib/s3.js';
import { BENCH_SHARD as SHARD } from '../lib/replay.js';
import { createPaymentGenerator, seededRandom } from '../../simulator/src/generator.js';
import { ShardEngine } from '../../processor/src/engine/index.js';
import { createMetrics } from '../../processor/src/metrics.js';
import type { Lease } from '../../processor/src/lease/index.js';
import type { ShardCheckpoint, StateStore } from '../../processor/src/state/index.js';
import { S3Snapshots } from '../../processor/src/snapshot/s3-snapshots.js';
import { decodeSnapshot, encodeSnapshot, readSnapshot, snapshotHeader } from '../../processor/src/snapshot/format.js';
import { ShardSnapshotWriter, loadValidSnapshot } from '../../processor/src/snapshot/shard-snapshots.js';
import { ShardRebuilder } from '../../processor/src/source/rebuild.js';
import { restoreShard } from '../../processor/src/source/restore.js';
import { PaneRestore } from '../../processor/src/source/pane-restore.js';
import { restoreLocalState } from '../../processor/src/source/local-state.js';

const REPS = QUICK ? 3 : 5;
const BUCKET = 'bench-snapshots';
const STREAM = 'bench';
const STATE_ID = 'bench-line';
const HOUR_MS = 3_600_000;
/** Event time per record: 1 000 records/s (one in ten a stolen card's: 360 000 in the hour). */
const RECORD_MS = 1;
const COMMIT_EVERY_MS = 1_000;

const log = pino({ level: process.env.BENCH_LOG ?? 'silent' });
const metrics = createMetrics(new Registry());
const cards = makeCards(1_000_000);
const stolen = cards.stolen;
const payments = QUICK ? stolen.length : Math.round(stolen.length * 3.6);
const endMs = Math.floor((Date.now() - 60_000) / 10_000) * 10_000;
const startMs = endMs - HOUR_MS;

/** Feeds the hour into a ShardEngine and commits it to `store` as a live shard would; returns its last checkpoint. */
async function buildState(store: StateStore): Promise<{ checkpoint: ShardCheckpoint; panes: number; cards: number; commits: number; seconds: number }> {
  const t0 = performance.now();
  const engine = new ShardEngine({});
  const stepMs = HOUR_MS / payments;
  const between = Math.round(stepMs / RECORD_MS);
  let i = 0;
  const next = createPaymentGenerator({
    cards: stolen,
    random: seededRandom(17),
    timeRandom: seededRandom(18),
    now: () => startMs + Math.floor(i * stepMs),
    newId: uuidv4,
  });
  let records = 0;
  let commits = 0;
  let nextCommit = startMs + COMMIT_EVERY_MS;
  let checkpoint: ShardCheckpoint | undefined;
  const commit = async (): Promise<void> => {
    engine.skipDue();
    checkpoint = { sequenceNumber: String(records), watermarkMs: engine.watermarkMs ?? startMs, shardEnd: false, stateId: STATE_ID };
    await store.commitShard(SHARD, engine.takeChanges(), checkpoint);
    commits++;
  };
  for (; i < payments; i++) {
    const e = next();
    // Every stolen card in turn (7 919 is prime to 100 000), so all of them are active.
    const card = cards.stolenRefs[(i * 7_919) % stolen.length]!;
    const at = Date.parse(e.event_date_origin);
    if (at >= nextCommit) {
      await commit();
      nextCommit = Math.floor(at / COMMIT_EVERY_MS) * COMMIT_EVERY_MS + COMMIT_EVERY_MS;
    }
    const { amount, currency, merchant_id } = e.data;
    engine.onPayment({ event_id: e.event_id, event_date_origin: e.event_date_origin, card, data: { amount, currency, merchant_id } }, true, at);
    records++;
    // The other cards' payments between this one and the next: they move stream time only.
    for (let k = 1; k < between; k++, records++) engine.onNotStolenPayment(at + k * RECORD_MS);
  }
  await commit();
  const stats = engine.stats();
  return { checkpoint: checkpoint!, panes: stats.panes, cards: stats.cards, commits, seconds: (performance.now() - t0) / 1000 };
}

const s3 = await startS3([BUCKET]);
const snapshots = await S3Snapshots.create({ client: s3.client, bucket: BUCKET, prefix: 'snapshots/', stream: STREAM });
const source = await tempLevelStore();
const built = await buildState(source.store);
if (built.cards !== stolen.length) throw new Error(`built state holds ${built.cards} cards, not ${stolen.length}`);
log.info(built, 'state built');
const sourceEntries = (await source.store.stats()).keys;

/** The lease as the previous owner left it after a hand-over: its checkpoint is the snapshot's. */
const lease: Lease = {
  leaseKey: SHARD,
  leaseOwner: 'new-owner',
  leaseCounter: 1,
  checkpoint: built.checkpoint.sequenceNumber!,
  ownerSwitchesSinceCheckpoint: 1,
  parentShardIds: [],
  childShardIds: [],
  checkpointWatermarkMs: built.checkpoint.watermarkMs,
  checkpointAtMs: endMs,
  checkpointStateId: STATE_ID,
};
/** Nothing after the snapshot: the shard as the new owner reads it (read to its end here). */
const noRecords: KinesisClient = fakeKinesis([]);

function rebuilder(store: StateStore): ShardRebuilder {
  return new ShardRebuilder(
    SHARD,
    { parents: [] },
    {
      kinesis: noRecords,
      stream: STREAM,
      store,
      stolen: cards.stolenCards,
      engineConfig: {},
      maxRecordBytes: 64 * 1024,
      maxClockSkewMs: 5_000,
      getRecordsLimit: 10_000,
      pollIntervalMs: 0,
      now: Date.now,
      metrics,
      log,
      leaseOf: async () => lease,
      snapshots,
      onProgress: () => {},
    },
  );
}

const r = {
  write: [] as number[],
  writeCpu: [] as number[],
  writeStall: [] as number[],
  encode: [] as number[],
  bytes: [] as number[],
  restore: [] as number[],
  alertReady: [] as number[],
  paneStall: [] as number[],
  restoreWholeFirst: [] as number[],
  restoreCpu: [] as number[],
  restoreVsLocal: [] as number[],
  download: [] as number[],
  decode: [] as number[],
  commitStored: [] as number[],
  engine: [] as number[],
  entries: [] as number[],
  commit: [] as number[],
  local: [] as number[],
};
let snapshotEntries = 0;
let committedEntries = 0;
let decodedHeapMB = 0;
for (let rep = 0; rep < REPS; rep++) {
  // (a) The write, as the task's last one at a hand-over.
  const writer = new ShardSnapshotWriter(
    SHARD,
    { snapshots, store: source.store, stream: STREAM, intervalMs: 10_000, now: Date.now, monotonic: () => performance.now(), log, metrics },
    { isSafe: () => false, sharedCheckpoint: () => undefined },
  );
  // What the write costs the processor: CPU of every thread, and the longest stall of the event loop (the shard task's).
  const stalls = monitorEventLoopDelay({ resolution: 10 });
  stalls.enable();
  const cpu = process.cpuUsage();
  let t = performance.now();
  await writer.final(built.checkpoint);
  r.write.push((performance.now() - t) / 1000);
  const used = process.cpuUsage(cpu);
  stalls.disable();
  r.writeCpu.push((used.user + used.system) / 1e6);
  r.writeStall.push(stalls.max / 1e9);
  const ref = writer.newest;
  if (!ref) throw new Error('the snapshot was not written (see BENCH_LOG=warn)');
  r.bytes.push((await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: ref.key }))).ContentLength ?? NaN);

  // (b) The restore as a new owner's task does it (alerts first, source/pane-restore.ts): the alert
  // state, ready to read the shard; then the panes in the background; then the whole state committed.
  const target = await tempLevelStore();
  const signal = new AbortController().signal;
  const restoreCpu = process.cpuUsage();
  t = performance.now();
  const restored = await restoreShard(
    {
      shardId: SHARD,
      store: target.store,
      engineConfig: {},
      cards: cards.stolenCards,
      log,
      lease,
      parents: [],
      rebuilder: rebuilder(target.store),
      panesLater: true,
    },
    signal,
  );
  r.alertReady.push((performance.now() - t) / 1000);
  if (restored.kind !== 'ready' || !restored.later) throw new Error(`restore gave ${restored.kind}, not an engine with its panes to come`);
  const paneStalls = monitorEventLoopDelay({ resolution: 5 });
  paneStalls.enable();
  const panes = new PaneRestore(restored.engine, restored.later);
  await panes.run(signal);
  paneStalls.disable();
  r.paneStall.push(paneStalls.max / 1e9);
  const whole = panes.finish();
  await target.store.deleteShard(SHARD);
  await target.store.commitShard(SHARD, { puts: whole, dels: [] }, restored.checkpoint!);
  r.restore.push((performance.now() - t) / 1000);
  const restoreUsed = process.cpuUsage(restoreCpu);
  r.restoreCpu.push((restoreUsed.user + restoreUsed.system) / 1e6);
  if (restored.engine.stats().cards !== built.cards || restored.engine.stats().panes !== built.panes)
    throw new Error(`restore gave ${JSON.stringify(restored.engine.stats())}`);
  if ((await target.store.loadCheckpoint(SHARD))?.sequenceNumber !== lease.checkpoint) throw new Error('the restored state was not committed');
  committedEntries = (await target.store.stats()).keys;
  await target.dispose();

  // The same restore whole before reading (what a new owner did before alerts first).
  const before = await tempLevelStore();
  t = performance.now();
  const wholeFirst = await restoreShard(
    { shardId: SHARD, store: before.store, engineConfig: {}, cards: cards.stolenCards, log, lease, parents: [], rebuilder: rebuilder(before.store) },
    signal,
  );
  r.restoreWholeFirst.push((performance.now() - t) / 1000);
  if (wholeFirst.kind !== 'ready' || wholeFirst.engine.stats().panes !== built.panes) throw new Error('the whole restore gave another state');
  await before.dispose();

  // The same restore in parts (each part timed alone, a fresh store for the commit).
  t = performance.now();
  const [latest] = (await snapshots.list(SHARD, STATE_ID)).slice(-1);
  const body = await buffer(await snapshots.open(latest!));
  r.download.push((performance.now() - t) / 1000);
  // As the new owner does it (restoreValidSnapshot): entries streamed into the engine, their
  // stored JSON kept as bytes, then committed as they are.
  const heapBefore = process.memoryUsage().heapUsed;
  t = performance.now();
  const restorer = ShardEngine.restorer({}, cards.stolenCards);
  const stored: Array<[string, Uint8Array]> = [];
  await readSnapshot(latest!, Readable.from([body]), (key, value, json) => {
    restorer.add(key, value);
    stored.push([key, json]);
  });
  restorer.finish();
  r.decode.push((performance.now() - t) / 1000);
  decodedHeapMB = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
  snapshotEntries = stored.length;
  const streamed = await tempLevelStore();
  t = performance.now();
  await streamed.store.commitShard(SHARD, { puts: stored, dels: [] }, { ...built.checkpoint, stateId: 'parts' });
  r.commitStored.push((performance.now() - t) / 1000);
  await streamed.dispose();
  // The path before: every entry parsed and held, the engine restored, then written whole again.
  const decoded = await decodeSnapshot(latest!, Readable.from([body]));
  t = performance.now();
  const engine = ShardEngine.restore(decoded.entries, {}, cards.stolenCards);
  r.engine.push((performance.now() - t) / 1000);
  t = performance.now();
  const rebuilt = [...engine.entries()];
  r.entries.push((performance.now() - t) / 1000);
  const parts = await tempLevelStore();
  t = performance.now();
  await parts.store.deleteShard(SHARD);
  await parts.store.commitShard(SHARD, { puts: rebuilt, dels: [] }, { ...built.checkpoint, stateId: 'parts' });
  r.commit.push((performance.now() - t) / 1000);
  await parts.dispose();
  // Not part of the figure: that loadValidSnapshot picks this one (the fence) is checked once.
  if (rep === 0 && (await loadValidSnapshot({ snapshots, log, metrics }, SHARD, lease))?.header.checkpoint.sequenceNumber !== lease.checkpoint)
    throw new Error('loadValidSnapshot did not pick the snapshot at the lease checkpoint');

  // Reference: the same state restored from the local store (a restart's "reuse").
  t = performance.now();
  await restoreLocalState(source.store, SHARD, {}, cards.stolenCards);
  r.local.push((performance.now() - t) / 1000);
  r.restoreVsLocal.push((r.restore.at(-1) as number) / (r.local.at(-1) as number));

  // The encode alone (export + gzip, no upload).
  t = performance.now();
  const exported = await source.store.exportShard(SHARD);
  await encodeSnapshot(snapshotHeader(STREAM, SHARD, exported.checkpoint!, Date.now()), exported.entries);
  r.encode.push((performance.now() - t) / 1000);
}
await source.dispose();
await s3.close();

const state = `${payments} payments of ${built.cards} stolen cards over 60 min (1 000 records/s, 10 % stolen), ${built.panes} panes, committed once per second of event time (${built.commits} commits; ${sourceEntries} keys in the store)`;
emit([
  absolute(
    'snapshot: restore of 100 000 active cards (new owner, end to end)',
    's',
    r.restore,
    '<= 5 s',
    (v) => v <= 5,
    `${state}; as a new owner's task: restoreShard with the snapshot store (list + GetObject + gunzip, the alert state parsed and restored, the pane groups kept unparsed, replay of 0 records: snapshot at the lease checkpoint), then PaneRestore (the pane groups parsed and restored, a slice at a time), then the whole state (${committedEntries} keys) committed to an empty classic-level store; s3rver in its own process; ${REPS} runs`,
  ),
  info(
    'snapshot restore: ready to alert (alerts first)',
    's',
    r.alertReady,
    'the part of the restore above before the task reads the shard and alerts: restoreShard returns with the pane groups still to restore',
  ),
  info(
    'snapshot restore: longest event-loop stall while the panes restore',
    's',
    r.paneStall,
    'what a batch of live records waits at most behind the background pane restore (monitorEventLoopDelay, 5 ms resolution)',
  ),
  info(
    'snapshot restore, whole before reading (before alerts first)',
    's',
    r.restoreWholeFirst,
    'restoreShard without panesLater: every entry parsed and restored and the state committed before the task may read',
  ),
  info(
    'snapshot restore: CPU (process, all threads)',
    's',
    r.restoreCpu,
    'user + system of the bench process (all threads) over the end-to-end restore: on this shared machine, wall time above it is time waiting for a core',
  ),
  info(
    'snapshot restore ÷ the local restore (same run)',
    'ratio',
    r.restoreVsLocal,
    'per repetition: the end-to-end restore over restoreLocalState of the same state, both under the same load',
  ),
  info(
    'snapshot: size (gzip)',
    'MB',
    r.bytes.map((b) => b / 1e6),
    `${snapshotEntries} entries`,
  ),
  info('snapshot: entries', 'entries', [snapshotEntries]),
  info(
    'snapshot: write (export + gzip + PutObject)',
    's',
    r.write,
    'ShardSnapshotWriter.final at the checkpoint; the processor writes it in the background of the shard task',
  ),
  info(
    'snapshot write: CPU (process, all threads)',
    's',
    r.writeCpu,
    'user + system of the bench process (all threads; not s3rver) during the write; the default SNAPSHOT_INTERVAL_MS is 10 s',
  ),
  info('snapshot write: longest event-loop stall', 's', r.writeStall, "the shard task's thread, during the write"),
  info('snapshot write: export + gzip alone (no upload)', 's', r.encode),
  info('snapshot restore part: list + GetObject (bytes read)', 's', r.download),
  info(
    'snapshot restore part: gunzip + parse + engine restore (streamed)',
    's',
    r.decode,
    `heapUsed grew ~${Math.round(decodedHeapMB)} MB (the engine, and the stored JSON kept as bytes)`,
  ),
  info(
    'snapshot restore part: commit of the stored JSON as it is',
    's',
    r.commitStored,
    `one classic-level batch of ${committedEntries} keys, no JSON.stringify`,
  ),
  info('snapshot restore, path before: ShardEngine.restore of parsed entries', 's', r.engine),
  info('snapshot restore, path before: the restored engine as entries (entries())', 's', r.entries),
  info(
    'snapshot restore, path before: commit of those entries',
    's',
    r.commit,
    `JSON.stringify of each value + one classic-level batch; what committing the stored JSON as it is saves`,
  ),
  info('snapshot: the same state from the local store (reuse, reference)', 's', r.local, 'restoreLocalState: streamed from classic-level'),
]);
