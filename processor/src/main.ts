/**
 * `npm run processor`: the one place that builds everything and owns the start and stop order.
 *
 * Start: config (exit 2 on any problem) → metrics, dependencies, HTTP (first, so that a start-up
 * waiting for a dependency answers /health and says on /ready what it waits for) → state store
 * (waited for while locked or failing) → stolen cards → Kinesis client → ownership (the lease
 * manager, its table waited for by the coordinator; or a sole owner without LEASE_TABLE) → sink
 * (producers per shard, fenced by the ownership) → shard coordinator.
 * Stop (SIGTERM/SIGINT, at any point of the start too): /health and /ready turn 503, the shard tasks
 * stop fetching and finish the batch in flight (send, then commit, then lease checkpoint), the
 * producers flush, leases are released, LevelDB closes, the HTTP server closes, exit 0 — all within
 * SHUTDOWN_TIMEOUT_MS.
 */
import { Registry } from 'prom-client';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createKinesisClient, isThrottle, isUnavailable } from '../../common/src/kinesis.js';
import { createFanOutKinesisClient } from '../../common/src/fanout-reader.js';
import { ensureStreamConsumerOf } from '../../common/src/stream-consumer.js';
import { loadCardTokenizer, type CardTokenizer } from '../../common/src/card-token.js';
import { readStolenList } from '../../common/src/stolen-list.js';
import { AppError, ConfigError } from '../../common/src/errors.js';
import { createLogger } from '../../common/src/log.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { backoffDelay, sleep } from '../../common/src/retry.js';
import { createS3Client, parseS3Uri } from '../../common/src/s3.js';
import { S3Snapshots } from './snapshot/s3-snapshots.js';
import { loadProcessorConfig, type ProcessorConfig } from './config.js';
import { readMode } from '../../common/src/config.js';
import { createMetrics } from './metrics.js';
import { Dependencies } from './dependencies.js';
import { guardProcess } from './process-guards.js';
import { openStateStore, type StateStore } from './state/index.js';
import { KinesisSink } from './sink/kinesis-sink.js';
import { ShardCoordinator } from './source/coordinator.js';
import { LeaseOwnership } from './source/lease-ownership.js';
import { SoleOwnership, type Ownership } from './source/ownership.js';
import { StolenCards } from './source/stolen-cards.js';
import { monotonicNow } from './source/shard-watch.js';
import { buildHttpServer } from './http/server.js';
import { LeaseManager, createDynamoClient } from './lease/index.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`Usage: npm run processor

The stolen-card processor: consumes every shard of KINESIS_STREAM, emits PAYMENT_ALERT (5-second
event-time windows) and PAYMENT_ALERT_SUMMARY (every 10 s, last 60 min) to OUTPUT_STREAM, keeps
its state in LevelDB under STATE_DIR, and serves /health, /ready and /metrics on HTTP_PORT.
It knows the stolen cards from STOLEN_LIST (tokens, written by npm run stolen-list) and names
cards by token under the key of CARD_TOKEN_KEY_SECRET or CARD_TOKEN_KEY_FILE: no card number is
kept or emitted. Configuration is read from the environment; see README.md and docs/semantics.md.`);
  process.exit(0);
}

const log = createLogger('processor');

let config: ProcessorConfig;
try {
  config = loadProcessorConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}

const registry = new Registry();
const metrics = createMetrics(registry);
guardProcess(process, log, () => metrics.unhandledRejections.inc());
const dependencies = new Dependencies(Date.now);
dependencies.on('up', (name) => {
  metrics.setDependency(name, true);
  log.info({ dependency: name }, 'dependency answers');
});
dependencies.on('down', (name) => metrics.setDependency(name, false));
dependencies.expect('state_store');

/** Set on SIGTERM/SIGINT: every wait of the start-up and the coordinator end on it. */
const stopping = new AbortController();
let shuttingDown = false;
let starting: string | undefined = 'opening the state store';
let coordinator: ShardCoordinator | undefined;

const http = buildHttpServer({
  registry,
  status: () => ({
    shards: coordinator?.status() ?? [],
    nowMs: Date.now(),
    shuttingDown,
    dependencies: dependencies.snapshot(),
    ...(starting ? { starting } : {}),
  }),
  logger: log.child({ component: 'http' }),
});
metrics.observeShards(() => ({ shards: coordinator?.status() ?? [], nowMs: Date.now() }));

// Resources, in the order they are made; shutdown closes whichever exist.
let store: StateStore | undefined;
let kinesis: KinesisClient | undefined;
let sink: KinesisSink | undefined;
let dynamo: DynamoDBClient | undefined;
let fanOutClient: KinesisClient | undefined;
let running: Promise<void> | undefined;
const timers: NodeJS.Timeout[] = [];

async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info({ signal }, 'stopping: finishing the batches in flight, flushing, checkpointing');
  const deadline = setTimeout(() => {
    log.fatal({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long; exiting without a clean close');
    process.exit(1);
  }, config.SHUTDOWN_TIMEOUT_MS);
  stopping.abort();
  await startup;
  await running;
  await sink?.close();
  for (const timer of timers) clearInterval(timer);
  dynamo?.destroy();
  await store?.close();
  await http.close();
  kinesis?.destroy();
  fanOutClient?.destroy();
  clearTimeout(deadline);
  log.info('stopped');
  process.exit(0);
}
function stop(signal: string): void {
  shutdown(signal).catch((error: unknown) => {
    log.fatal({ err: error }, 'shutdown failed; exiting without a clean close');
    process.exit(1);
  });
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

/** The state store, retried while it cannot be opened (locked by a process still stopping, a disk not there yet). */
async function openStore(signal: AbortSignal): Promise<StateStore | undefined> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const opened = await openStateStore({ kind: 'leveldb', dir: config.STATE_DIR });
      dependencies.up('state_store');
      return opened;
    } catch (error) {
      dependencies.down('state_store', error);
      const delayMs = backoffDelay(attempt, { initialMs: 500, factor: 2, maxMs: 10_000, jitter: 0.2 });
      log.warn(
        { err: error instanceof AppError || error instanceof Error ? error.message : error, dir: config.STATE_DIR, delayMs },
        'cannot open the state store; waiting for it',
      );
      await sleep(delayMs, signal);
    }
  }
  return undefined;
}

/**
 * Stolen cards: from the cards file (a path, or an S3 object in AWS), kept in the state so a
 * restart without the file still works. Only the lookup structure outlives this (the file's rows
 * and the set of strings are dropped). A local file that cannot be read, or no list at all, is a
 * configuration problem: exit 1, said loudly. An S3 object that cannot be read (S3 down, access
 * refused after a deployment) falls back to the list kept in the state, with a warning.
 */
/**
 * Enhanced fan-out (KINESIS_READ): the stream consumer's ARN, the consumer found (the CDK stack
 * registers it) or registered and waited for until ACTIVE. Kinesis not answering is waited out
 * (with /ready failing meanwhile); a refusal (no such stream, access denied) ends the process with
 * the reason: a processor that cannot read must not look healthy.
 */
async function connectFanOut(signal: AbortSignal): Promise<{ client: KinesisClient; consumerArn: string } | undefined> {
  fanOutClient = createFanOutKinesisClient({ region: config.AWS_REGION, endpoint: config.KINESIS_ENDPOINT });
  const client = fanOutClient;
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const consumerArn = await ensureStreamConsumerOf(client, config.KINESIS_STREAM, config.KINESIS_CONSUMER_NAME, { signal });
      dependencies.up('kinesis');
      log.info({ consumer: config.KINESIS_CONSUMER_NAME, consumerArn }, 'reading shards by enhanced fan-out');
      return { client, consumerArn };
    } catch (error) {
      if (signal.aborted) return undefined;
      if (!isUnavailable(error) && !isThrottle(error)) throw error;
      dependencies.down('kinesis', error);
      log.warn({ err: error, attempt }, 'stream consumer not reachable yet; retrying');
      await sleep(Math.min(5_000, 250 * 2 ** attempt), signal).catch(() => undefined);
    }
  }
  return undefined;
}

/**
 * The card token key and the stolen list. The list is kept in the state too, so a restart while
 * S3 is unreachable still knows the stolen cards; a list of another key than the processor's is
 * refused (its tokens could never match).
 */
async function loadStolenCards(store: StateStore): Promise<StolenCards | undefined> {
  let tokenizer: CardTokenizer;
  try {
    tokenizer = await loadCardTokenizer(config);
  } catch (error) {
    log.fatal({ err: error instanceof AppError ? error.message : error }, 'cannot load the card token key');
    return undefined;
  }
  // The environment is main's to read: a deployment from before card tokens set this.
  if (process.env.CARDS_FILE)
    log.warn('CARDS_FILE is ignored: the processor reads no card numbers, only STOLEN_LIST (npm run stolen-list; docs/deployment.md)');
  const inS3 = parseS3Uri(config.STOLEN_LIST) !== undefined;
  try {
    if (inS3 || existsSync(config.STOLEN_LIST)) {
      try {
        const source = inS3 ? { s3: await createS3Client({ region: config.AWS_REGION, endpoint: config.S3_ENDPOINT }) } : {};
        const stolen = new StolenCards(tokenizer, await readStolenList(config.STOLEN_LIST, source));
        await store.replaceStolenCards(stolen.refs());
        log.info({ stolen: stolen.size, file: config.STOLEN_LIST, keyId: tokenizer.keyId }, 'stolen list loaded');
        return stolen;
      } catch (error) {
        const kept = inS3 ? await store.loadStolenCards() : new Set<string>();
        if (kept.size === 0 || (error instanceof AppError && error.code === 'STOLEN_LIST')) throw error;
        log.error(
          { err: error instanceof AppError ? error.message : error, stolen: kept.size },
          'cannot read the stolen list; using the one kept in the state',
        );
        return new StolenCards(tokenizer, kept);
      }
    }
    const kept = await store.loadStolenCards();
    if (kept.size === 0)
      throw new AppError('STOLEN_LIST', `${config.STOLEN_LIST} is missing and the state holds no stolen list (write it with npm run stolen-list)`);
    log.warn({ file: config.STOLEN_LIST, stolen: kept.size }, 'stolen list missing; using the one kept in the state');
    return new StolenCards(tokenizer, kept);
  } catch (error) {
    log.fatal({ err: error instanceof AppError ? error.message : error }, 'cannot load the stolen list');
    return undefined;
  }
}

async function start(): Promise<void> {
  const signal = stopping.signal;
  await http.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST });
  store = await openStore(signal);
  if (!store) return;
  const openedStore = store;
  timers.push(
    setInterval(
      () =>
        void openedStore.stats().then(
          (s) => metrics.setStateStats(s),
          () => undefined,
        ),
      10_000,
    ),
  );
  const stolen = await loadStolenCards(store);
  if (!stolen) {
    await store.close();
    process.exit(1);
  }
  if (signal.aborted) return;

  kinesis = createKinesisClient({ region: config.AWS_REGION, endpoint: config.KINESIS_ENDPOINT });
  const fanOut = readMode(config) === 'fanout' ? await connectFanOut(signal) : undefined;
  if (signal.aborted) return;
  const outputStream = config.OUTPUT_STREAM ?? config.KINESIS_STREAM;

  // Leases: processors of one stream share its shards through the DynamoDB table (docs/leases.md).
  const workerId = config.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  dynamo = config.LEASE_TABLE ? createDynamoClient({ region: config.AWS_REGION, endpoint: config.DYNAMODB_ENDPOINT }) : undefined;
  const leases = dynamo
    ? new LeaseManager({
        dynamo,
        table: config.LEASE_TABLE,
        workerId,
        failoverTimeMs: config.FAILOVER_TIME_MS,
        finishedRetentionMs: config.FINISHED_LEASE_RETENTION_MS,
        now: monotonicNow,
        log,
      })
    : undefined;
  if (leases) {
    leases.on('acquired', (_lease, how) => (how === 'steal' ? metrics.leaseSteals : metrics.leaseTakes).inc());
    leases.on('lost', () => metrics.leasesLost.inc());
    leases.on('renewFailed', (_shard, error) => {
      metrics.leaseRenewFailures.inc();
      dependencies.down('lease_table', error);
    });
    leases.on('reachable', () => dependencies.up('lease_table'));
    leases.on('unreachable', (error) => dependencies.down('lease_table', error));
    leases.on('cleaned', (ids) => metrics.housekeepingDeletions.inc({ kind: 'lease' }, ids.length));
    timers.push(setInterval(() => metrics.leasesHeld.set({ worker: workerId }, leases.held().length), 1_000));
  }
  const ownership: Ownership = leases
    ? new LeaseOwnership(leases, {
        log,
        now: Date.now,
        monotonic: monotonicNow,
        dependencies,
        checkpointIntervalMs: config.LEASE_CHECKPOINT_INTERVAL_MS,
      })
    : new SoleOwnership(store);

  // A producer per shard task and stream (see sink/kinesis-sink.ts), each with one PutRecords call
  // in flight and fenced: no call, first or retried, once the shard's lease is unsafe.
  const client = kinesis;
  sink = new KinesisSink(
    (lane, stream) => {
      const producer = new KinesisProducer(client, stream, { lingerMs: 20, maxInFlight: 1, fence: () => ownership.isSafe(lane) });
      producer.on('retry', (info) => {
        metrics.putRecordsRetries.inc(info.records);
        if (info.reason === 'unavailable') dependencies.down('kinesis', info.error);
        log.warn(
          { shardId: lane, reason: info.reason, records: info.records, attempt: info.attempt, delayMs: info.delayMs, err: info.error },
          'PutRecords retry',
        );
      });
      producer.on('batch', () => metrics.putRecords.inc());
      return producer;
    },
    { output: outputStream, input: config.KINESIS_STREAM },
  );

  const snapshots = config.SNAPSHOT_BUCKET
    ? await S3Snapshots.create({
        client: await createS3Client({ region: config.AWS_REGION, endpoint: config.S3_ENDPOINT }),
        bucket: config.SNAPSHOT_BUCKET,
        prefix: config.SNAPSHOT_PREFIX,
        stream: config.KINESIS_STREAM,
      })
    : undefined;
  if (snapshots) log.info({ snapshots: snapshots.location, intervalMs: config.SNAPSHOT_INTERVAL_MS }, 'shard state snapshots on');
  coordinator = new ShardCoordinator({
    kinesis,
    stream: config.KINESIS_STREAM,
    store,
    sink,
    stolen,
    metrics,
    log,
    dependencies,
    engineConfig: {
      outOfOrdernessMs: config.OUT_OF_ORDERNESS_MS,
      idleTimeoutMs: config.IDLE_TIMEOUT_MS,
      idleLagMs: config.IDLE_LAG_MS,
      retroAlertMs: config.RETRO_ALERT_MS,
    },
    now: Date.now,
    monotonic: monotonicNow,
    maxRecordBytes: config.MAX_RECORD_BYTES,
    maxClockSkewMs: config.MAX_CLOCK_SKEW_MS,
    startLookbackMs: config.START_LOOKBACK_MS,
    getRecordsLimit: config.GET_RECORDS_LIMIT,
    pollIntervalMs: config.POLL_INTERVAL_MS,
    refreshMs: config.SHARD_REFRESH_MS,
    stuckAfterMs: config.STUCK_AFTER_MS,
    stateRetentionMs: config.STATE_RETENTION_MS,
    ownership,
    ...(snapshots ? { snapshots, snapshotIntervalMs: config.SNAPSHOT_INTERVAL_MS } : {}),
    ...(fanOut ? { fanOut } : {}),
  });
  starting = undefined;
  running = coordinator.run(signal).catch((error: unknown) => {
    // Nothing in the coordinator is meant to throw; if something does, say so and stop the process
    // (exit 1): a coordinator that is not running runs no shard, which must never look healthy.
    log.fatal({ err: error }, 'the shard coordinator failed; exiting');
    process.exit(1);
  });
  log.info(
    {
      port: config.HTTP_PORT,
      stream: config.KINESIS_STREAM,
      output: outputStream,
      stateDir: config.STATE_DIR,
      workerId,
      leaseTable: config.LEASE_TABLE || null,
    },
    'processor started',
  );
}

const startup: Promise<void> = start().catch((error: unknown) => {
  log.fatal({ err: error }, 'start-up failed');
  process.exit(1);
});
