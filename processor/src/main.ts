/**
 * `npm run processor`: the one place that builds everything and owns the shutdown order.
 *
 * Start: config (exit 2 on any problem) → state store → stolen cards → Kinesis client, sink
 * (a producer per shard) → shard coordinator → HTTP. Stop (SIGTERM/SIGINT): /health and /ready turn 503, the shard
 * tasks stop fetching and finish the batch in flight (send, then commit), the producer flushes,
 * LevelDB closes, the HTTP server closes, exit 0 — all within SHUTDOWN_TIMEOUT_MS.
 */
import { Registry } from 'prom-client';
import { existsSync } from 'node:fs';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { readCardsFile } from '../../common/src/cards-file.js';
import { AppError, ConfigError } from '../../common/src/errors.js';
import { createLogger } from '../../common/src/log.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { loadProcessorConfig, type ProcessorConfig } from './config.js';
import { createMetrics } from './metrics.js';
import { openStateStore } from './state/index.js';
import { KinesisSink } from './sink/kinesis-sink.js';
import { ShardCoordinator } from './source/coordinator.js';
import { StolenCards } from './source/stolen-cards.js';
import { buildHttpServer } from './http/server.js';
import { LeaseManager, createDynamoClient } from './lease/index.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`Usage: npm run processor

The stolen-card processor: consumes every shard of KINESIS_STREAM, emits PAYMENT_ALERT (5-second
event-time windows) and PAYMENT_ALERT_SUMMARY (every 10 s, last 60 min) to OUTPUT_STREAM, keeps
its state in LevelDB under STATE_DIR, and serves /health, /ready and /metrics on HTTP_PORT.
Configuration is read from the environment; see README.md and docs/semantics.md.`);
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

// A signal during start-up is held until everything is up, then handled as a normal stop: the
// default action would kill the process before LevelDB is closed.
let earlySignal: string | undefined;
const holdSignal = (signal: string) => (earlySignal ??= signal);
process.on('SIGTERM', holdSignal);
process.on('SIGINT', holdSignal);

const registry = new Registry();
const metrics = createMetrics(registry);
const store = await openStateStore({ kind: 'leveldb', dir: config.STATE_DIR }).catch((error: unknown) => {
  log.fatal({ err: error }, 'cannot open the state store');
  process.exit(1);
});

/**
 * Stolen cards: from the cards file, kept in the state so a restart without the file still works.
 * Only the lookup structure outlives this (the file's rows and the set of strings are dropped).
 */
async function loadStolenCards(): Promise<StolenCards> {
  if (existsSync(config.CARDS_FILE)) {
    try {
      const cards = await readCardsFile(config.CARDS_FILE);
      await store.replaceStolenCards(cards.stolen);
      log.info({ cards: cards.cards.length, stolen: cards.stolen.size, file: config.CARDS_FILE }, 'stolen cards loaded');
      return new StolenCards(cards.stolen);
    } catch (error) {
      log.fatal({ err: error instanceof AppError ? error.message : error }, 'cannot read the cards file');
      await store.close();
      process.exit(1);
    }
  }
  const kept = await store.loadStolenCards();
  if (kept.size === 0) {
    log.fatal({ file: config.CARDS_FILE }, 'the cards file is missing and the state holds no stolen cards');
    await store.close();
    process.exit(1);
  }
  log.warn({ file: config.CARDS_FILE, stolen: kept.size }, 'cards file missing; using the stolen cards kept in the state');
  return new StolenCards(kept);
}
const stolen = await loadStolenCards();

const kinesis = createKinesisClient({ region: config.AWS_REGION, endpoint: config.KINESIS_ENDPOINT });
const outputStream = config.OUTPUT_STREAM ?? config.KINESIS_STREAM;
// A producer per shard task (see sink/kinesis-sink.ts), each with one PutRecords call in flight,
// which keeps each card's alerts and summaries in order in the output.
const sink = new KinesisSink(() => {
  const producer = new KinesisProducer(kinesis, outputStream, { lingerMs: 20, maxInFlight: 1 });
  producer.on('retry', (info) => {
    metrics.putRecordsRetries.inc(info.records);
    log.warn({ reason: info.reason, records: info.records, attempt: info.attempt, delayMs: info.delayMs }, 'PutRecords retry');
  });
  producer.on('batch', () => metrics.putRecords.inc());
  return producer;
});

// Leases: processors of one stream share its shards through the DynamoDB table (docs/leases.md).
const workerId = config.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
const dynamo = config.LEASE_TABLE ? createDynamoClient({ region: config.AWS_REGION, endpoint: config.DYNAMODB_ENDPOINT }) : undefined;
const leases = dynamo
  ? new LeaseManager({ dynamo, table: config.LEASE_TABLE, workerId, failoverTimeMs: config.FAILOVER_TIME_MS, now: Date.now, log })
  : undefined;
if (leases) {
  leases.on('acquired', (_lease, how) => (how === 'steal' ? metrics.leaseSteals : metrics.leaseTakes).inc());
  leases.on('lost', () => metrics.leasesLost.inc());
  leases.on('renewFailed', () => metrics.leaseRenewFailures.inc());
}

const controller = new AbortController();
let shuttingDown = false;
const coordinator = new ShardCoordinator({
  kinesis,
  stream: config.KINESIS_STREAM,
  store,
  sink,
  stolen,
  metrics,
  log,
  engineConfig: {
    outOfOrdernessMs: config.OUT_OF_ORDERNESS_MS,
    idleTimeoutMs: config.IDLE_TIMEOUT_MS,
    idleLagMs: config.IDLE_LAG_MS,
  },
  now: Date.now,
  maxRecordBytes: config.MAX_RECORD_BYTES,
  startLookbackMs: config.START_LOOKBACK_MS,
  getRecordsLimit: config.GET_RECORDS_LIMIT,
  pollIntervalMs: config.POLL_INTERVAL_MS,
  refreshMs: config.SHARD_REFRESH_MS,
  ...(leases
    ? {
        leases,
        leaseCheckpointIntervalMs: config.LEASE_CHECKPOINT_INTERVAL_MS,
        leaseOf: async (shardId: string) => (await leases.snapshot()).find((l) => l.leaseKey === shardId),
      }
    : {}),
});

const running = coordinator.run(controller.signal);

const http = buildHttpServer({
  registry,
  status: () => ({ shards: coordinator.status(), nowMs: Date.now(), shuttingDown }),
  logger: log.child({ component: 'http' }),
});
await http.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST });
log.info(
  { port: config.HTTP_PORT, stream: config.KINESIS_STREAM, output: outputStream, stateDir: config.STATE_DIR, workerId, leaseTable: config.LEASE_TABLE || null },
  'processor started',
);

const stats = setInterval(() => {
  store.stats().then((s) => metrics.setStateStats(s), () => undefined);
}, 10_000);
const leaseGauge = setInterval(() => {
  if (leases) metrics.leasesHeld.set({ worker: workerId }, leases.held().length);
}, 1_000);

async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info({ signal }, 'stopping: finishing the batches in flight, flushing, checkpointing');
  const deadline = setTimeout(() => {
    log.fatal({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long; exiting without a clean close');
    process.exit(1);
  }, config.SHUTDOWN_TIMEOUT_MS);
  controller.abort();
  await running;
  await sink.close();
  clearInterval(stats);
  clearInterval(leaseGauge);
  dynamo?.destroy();
  await store.close();
  await http.close();
  kinesis.destroy();
  clearTimeout(deadline);
  log.info('stopped');
  process.exit(0);
}
process.off('SIGTERM', holdSignal);
process.off('SIGINT', holdSignal);
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
if (earlySignal) void shutdown(earlySignal);
