/**
 * `npm start`: the whole pipeline on embedded defaults, nothing installed by hand.
 *
 * In this process: the Kinesis emulator (kinesalite) and, unless WAREHOUSE_URL is set, the
 * embedded warehouse (PGlite over the PostgreSQL wire protocol). As child processes, each in its
 * own process group so that only this supervisor signals them: the Firehose stand-in, the
 * simulator and the processor(s). Ctrl-C stops the producers first, then the processor, then the
 * delivery, then the servers, so every event already published is delivered before exit. All
 * data lives under data/; a second start reuses it and continues.
 *
 * What it prints (terminal.ts): in a terminal, the components' JSON logs as readable lines; into a
 * file or a pipe, the JSON as is, each line prefixed with its component's name. Either way a
 * `[status]` line every STATUS_INTERVAL_MS from the processors' /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { z } from 'zod';
import { LOCAL_DEFAULTS, intEnv, kinesisEnv, parseEnv } from '../../common/src/config.js';
import { ConfigError } from '../../common/src/errors.js';
import { loadCardTokenKeyFile } from '../../common/src/card-token.js';
import { stolenRefsOfCardsFile, writeStolenList } from '../../common/src/stolen-list.js';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { ensureStream, startKinesisEmulator, type KinesisEmulator } from './kinesis-emulator.js';
import { startEmbeddedWarehouse, type EmbeddedWarehouse } from './warehouse.js';
import { startDynamoEmulator } from './dynamodb-emulator.js';
import { startS3Emulator } from './s3-emulator.js';
import { applyStagingSchema, connectWarehouse } from '../warehouse/schema.js';
import { StatusLine, createLineFormatter, scrapeProcessor } from './terminal.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const USAGE = `Usage: npm start -- [options]

Runs the pipeline locally: Kinesis emulator, embedded warehouse, Firehose stand-in, cardgen (when
the cards file is missing), simulator, processor and the risk console (its URL is printed).
Ctrl-C stops everything cleanly.

Options:
  --no-simulator      do not run the simulator (publish your own events)
  --no-processor      do not run the processor (run it by hand: npm run processor)
  --no-console        do not run the risk console (run it by hand: npm run console)
  --processors N      processors to run (default 1)
  --rate N            simulator events per second (default 100)
  --report-rate R     card status changes per second the simulator also publishes: cards reported
                      stolen from up to 2 minutes ago (retro alerts) or recovered (default 0.05)
  --cards N           cards to generate when the cards file is missing (default 10000)
  --pretty            show the components' logs as readable lines (the default when stdout is a terminal)
  --json              print the components' JSON log lines as they are, each prefixed [component]
                      (the default when stdout is a file or a pipe)
  -h, --help          this text

Every STATUS_INTERVAL_MS, in a terminal or a file alike, a [status] line sums up the processors'
/metrics (none with --no-processor): payments/s read, alerts, summaries and rejects emitted in the
interval (and since start), the largest lag of any shard (watermark behind now, or reads behind
the stream's tip), and which processors do not answer.

Environment (defaults in brackets):
  KINESIS_ENDPOINT [${LOCAL_DEFAULTS.KINESIS_ENDPOINT}]  emulator started here when local
  KINESIS_STREAM [${LOCAL_DEFAULTS.KINESIS_STREAM}]  KINESIS_SHARDS [4]  AWS_REGION [${LOCAL_DEFAULTS.AWS_REGION}]
  WAREHOUSE_URL [embedded at ${LOCAL_DEFAULTS.WAREHOUSE_URL}]
  CARDS_FILE [${LOCAL_DEFAULTS.CARDS_FILE}]  HTTP_PORT [${LOCAL_DEFAULTS.HTTP_PORT}]  STATE_DIR [${LOCAL_DEFAULTS.STATE_DIR}]
  CONSOLE_PORT [8090]  the risk console, on 127.0.0.1
  DYNAMODB_ENDPOINT [http://127.0.0.1:4568]  LEASE_TABLE [payments-leases] (empty: no leases, one processor)
  S3_ENDPOINT [http://127.0.0.1:4569]  SNAPSHOT_BUCKET [payments-snapshots] (empty: no state snapshots)
  CARD_TOKEN_KEY_FILE [\$DATA_DIR/card-token-key.json]  the card token key, created on first start
  STOLEN_LIST [\$DATA_DIR/stolen-cards.csv]  the processors' stolen list (tokens), written at each start
  DATA_DIR [data]  where the emulator and the embedded warehouse keep their data
  WAREHOUSE_EMBEDDED_PORT [5433]  port of the embedded warehouse (when WAREHOUSE_URL is unset)
  STATUS_INTERVAL_MS [10000]  how often the [status] line is printed, the first that long after the processors start`;

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

let args;
try {
  args = parseArgs({
    options: {
      'no-simulator': { type: 'boolean', default: false },
      'no-processor': { type: 'boolean', default: false },
      'no-console': { type: 'boolean', default: false },
      processors: { type: 'string', default: '1' },
      rate: { type: 'string', default: '100' },
      'report-rate': { type: 'string', default: '0.05' },
      cards: { type: 'string', default: '10000' },
      pretty: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(`start: ${(e as Error).message}\n\n${USAGE}`);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const processors = Number(args.processors);
if (!Number.isInteger(processors) || processors < 1 || processors > 16) fail('start: --processors must be an integer from 1 to 16');
if (!/^(\d+(\.\d+)?|max)$/.test(args.rate)) fail('start: --rate must be a positive number or "max"');
if (!/^\d+$/.test(args.cards) || Number(args.cards) < 1) fail('start: --cards must be a positive integer');
if (!/^\d+(\.\d+)?$/.test(args['report-rate'])) fail('start: --report-rate must be a number of status changes per second (0: none)');
if (args.pretty && args.json) fail('start: --pretty and --json exclude each other');

let config;
try {
  config = parseEnv('start', {
    ...kinesisEnv,
    KINESIS_SHARDS: intEnv(4, 1, 100),
    WAREHOUSE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional(),
    CARDS_FILE: z.string().default(LOCAL_DEFAULTS.CARDS_FILE),
    STOLEN_LIST: z.string().optional(),
    HTTP_PORT: intEnv(LOCAL_DEFAULTS.HTTP_PORT, 1, 65_535),
    CONSOLE_PORT: intEnv(8090, 1, 65_535),
    STATE_DIR: z.string().default(LOCAL_DEFAULTS.STATE_DIR),
    DATA_DIR: z.string().default('data'),
    WAREHOUSE_EMBEDDED_PORT: intEnv(Number(new URL(LOCAL_DEFAULTS.WAREHOUSE_URL).port), 1, 65_535),
    DYNAMODB_ENDPOINT: z.string().default('http://127.0.0.1:4568'),
    LEASE_TABLE: z.string().default('payments-leases'),
    S3_ENDPOINT: z.string().default('http://127.0.0.1:4569'),
    SNAPSHOT_BUCKET: z.string().default('payments-snapshots'),
    CARD_TOKEN_KEY_FILE: z.string().min(1).optional(),
    STATUS_INTERVAL_MS: intEnv(10_000, 100),
  });
} catch (e) {
  if (e instanceof ConfigError) fail(e.message);
  throw e;
}

const say = (line: string) => console.log(`[start] ${line}`);
const formatLine = createLineFormatter({ pretty: args.pretty || (!args.json && process.stdout.isTTY === true) });
let statusTimer: NodeJS.Timeout | undefined;
const children = new Map<string, ChildProcess>();
let kinesis: KinesisEmulator | undefined;
let warehouse: EmbeddedWarehouse | undefined;
let dynamo: { endpoint: string; close(): Promise<void> } | undefined;
let s3: { endpoint: string; close(): Promise<void> } | undefined;
let stopping = false;

/** Runs a component as a child process with this stack's environment, its output prefixed. */
function run(name: string, script: string, scriptArgs: string[] = [], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...scriptArgs], {
    cwd: ROOT,
    env: { ...process.env, ...stackEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => console.log(formatLine(name, line)));
  }
  children.set(name, child);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) say(`${name} exited (${signal ?? `code ${code}`})`);
  });
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function stopChild(name: string, timeoutMs = 35_000): Promise<void> {
  const child = children.get(name);
  if (!child) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`${name} did not stop within ${timeoutMs / 1000} s; killing it`);
    child.kill('SIGKILL');
  }, timeoutMs);
  await exited(child);
  clearTimeout(timer);
}

async function shutdown(reason: string, exitCode = 0): Promise<never> {
  if (stopping) return new Promise(() => {});
  stopping = true;
  clearTimeout(statusTimer);
  say(`stopping (${reason})`);
  // Producers first, then the processor (checkpoints), then the delivery (flushes everything).
  await stopChild('simulator');
  await Promise.all([...children.keys()].filter((n) => n.startsWith('processor')).map((n) => stopChild(n)));
  await stopChild('firehose');
  await Promise.all([...children.keys()].map((n) => stopChild(n)));
  await kinesis?.close().catch(() => undefined);
  await warehouse?.close().catch(() => undefined);
  await dynamo?.close().catch(() => undefined);
  await s3?.close().catch(() => undefined);
  say('stopped');
  process.exit(exitCode);
}
// A second Ctrl-C (npm forwards the terminal's SIGINT too) must not cut the orderly stop short.
function stop(signal: string): void {
  shutdown(signal).catch((error: unknown) => {
    console.error(`start: stopping failed: ${(error as Error)?.message ?? String(error)}`);
    process.exit(1);
  });
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('exit', () => {
  for (const child of children.values()) child.kill('SIGKILL');
});

const stackEnv: Record<string, string> = {};

/**
 * A [status] line every `intervalMs` from the processors' /metrics, the first one interval after
 * they started. The next scrape is timed from the end of this one, so that a slow processor never
 * makes scrapes pile up.
 */
function printStatusEvery(intervalMs: number, names: string[], urls: string[], streamShards: number): void {
  const status = new StatusLine(Date.now(), streamShards);
  const tick = async () => {
    const scrapes = await Promise.all(names.map((name, i) => scrapeProcessor(name, urls[i]!, Math.min(2000, intervalMs))));
    if (stopping) return;
    console.log(`[status] ${status.next(scrapes, Date.now())}`);
    schedule();
  };
  // scrapeProcessor turns every failure into "down"; anything else is a bug, said once, and the line stops.
  const schedule = () => {
    statusTimer = setTimeout(() => {
      tick().catch((error: unknown) => say(`status line failed: ${(error as Error)?.message ?? String(error)}`));
    }, intervalMs);
  };
  schedule();
}

try {
  const dataDir = config.DATA_DIR;
  await mkdir(dataDir, { recursive: true });

  // Kinesis: start the emulator when the endpoint is on this machine, else use the endpoint as is.
  let kinesisEndpoint = config.KINESIS_ENDPOINT;
  const local = kinesisEndpoint ? new URL(kinesisEndpoint) : undefined;
  if (local && ['127.0.0.1', 'localhost'].includes(local.hostname)) {
    kinesis = await startKinesisEmulator({ port: Number(local.port || 80), path: join(dataDir, 'kinesis') });
    kinesisEndpoint = kinesis.endpoint;
  }
  const client = createKinesisClient({ region: config.AWS_REGION, endpoint: kinesisEndpoint });
  const shards = await ensureStream(client, config.KINESIS_STREAM, config.KINESIS_SHARDS);
  client.destroy();

  let warehouseUrl = config.WAREHOUSE_URL;
  if (!warehouseUrl) {
    warehouse = await startEmbeddedWarehouse({ dataDir: join(dataDir, 'warehouse'), port: config.WAREHOUSE_EMBEDDED_PORT });
    warehouseUrl = warehouse.url;
  }
  const db = await connectWarehouse(warehouseUrl);
  await applyStagingSchema(db, { localDelivery: true });
  await db.end();

  // DynamoDB (the processors' lease table): the emulator when the endpoint is on this machine.
  let dynamoEndpoint = config.DYNAMODB_ENDPOINT;
  const localDynamo = dynamoEndpoint ? new URL(dynamoEndpoint) : undefined;
  if (config.LEASE_TABLE && localDynamo && ['127.0.0.1', 'localhost'].includes(localDynamo.hostname)) {
    dynamo = await startDynamoEmulator({ port: Number(localDynamo.port || 80), path: join(dataDir, 'dynamodb') });
    dynamoEndpoint = dynamo.endpoint;
  }

  // S3 (state snapshots, with leases only): the emulator when the endpoint is on this machine.
  const snapshotBucket = config.LEASE_TABLE ? config.SNAPSHOT_BUCKET : '';
  let s3Endpoint = config.S3_ENDPOINT;
  const localS3 = s3Endpoint ? new URL(s3Endpoint) : undefined;
  if (snapshotBucket && localS3 && ['127.0.0.1', 'localhost'].includes(localS3.hostname)) {
    s3 = await startS3Emulator({ port: Number(localS3.port || 80), directory: join(dataDir, 's3'), buckets: [snapshotBucket] });
    s3Endpoint = s3.endpoint;
  }

  const keyFile = config.CARD_TOKEN_KEY_FILE ?? join(dataDir, 'card-token-key.json');
  const stolenList = config.STOLEN_LIST ?? join(dataDir, 'stolen-cards.csv');
  Object.assign(stackEnv, {
    SNAPSHOT_BUCKET: snapshotBucket,
    S3_ENDPOINT: s3Endpoint,
    DYNAMODB_ENDPOINT: dynamoEndpoint,
    LEASE_TABLE: config.LEASE_TABLE,
    KINESIS_ENDPOINT: kinesisEndpoint ?? '',
    KINESIS_STREAM: config.KINESIS_STREAM,
    AWS_REGION: config.AWS_REGION,
    WAREHOUSE_URL: warehouseUrl,
    // The processors read the stolen list; only the simulator reads the cards file (--cards).
    STOLEN_LIST: stolenList,
    CARD_TOKEN_KEY_FILE: keyFile,
  });

  // The card token key: written on first start, then the same for every component and every run.
  const key = await loadCardTokenKeyFile(keyFile, { create: true });

  if (!existsSync(config.CARDS_FILE)) {
    say(`${config.CARDS_FILE} is missing: generating ${args.cards} cards`);
    const code = await exited(run('cardgen', 'cardgen/src/main.ts', ['--count', args.cards, '--out', config.CARDS_FILE]));
    if (code !== 0) throw new Error(`cardgen failed with code ${code}`);
  }
  // Written at every start, from the cards file and the key as they are now (10 000 stolen cards: well under a second).
  const stolenRefs = await stolenRefsOfCardsFile(config.CARDS_FILE, key);
  await writeStolenList(stolenList, stolenRefs);
  say(`stolen list ${stolenRefs.length} cards as tokens in ${stolenList} (what the processors read)`);

  say(`Kinesis     ${kinesisEndpoint ?? `AWS ${config.AWS_REGION}`}  stream ${config.KINESIS_STREAM} (${shards} shards)`);
  say(`warehouse   ${warehouseUrl.replace(/:[^:@/]*@/, ':***@')}  table staging.payment_events`);
  if (config.LEASE_TABLE) say(`DynamoDB    ${dynamoEndpoint || `AWS ${config.AWS_REGION}`}  lease table ${config.LEASE_TABLE}`);
  if (snapshotBucket) say(`S3          ${s3Endpoint || `AWS ${config.AWS_REGION}`}  state snapshots in ${snapshotBucket}`);
  say(`card tokens key ${key.keyId} in ${keyFile} (no card number lands in the warehouse)`);
  run('firehose', 'deploy/local/firehose-main.ts');
  say('firehose    stand-in delivering every record to staging.payment_events');

  const processorMain = 'processor/src/main.ts';
  const processorUrls: string[] = [];
  const processorNames: string[] = [];
  if (!args['no-processor'] && existsSync(join(ROOT, processorMain))) {
    for (let i = 0; i < processors; i++) {
      const name = processors === 1 ? 'processor' : `processor-${i + 1}`;
      const port = config.HTTP_PORT + i;
      const stateDir = processors === 1 ? config.STATE_DIR : join(config.STATE_DIR, `p${i + 1}`);
      run(name, processorMain, [], { HTTP_PORT: String(port), STATE_DIR: stateDir, WORKER_ID: name });
      processorUrls.push(`http://127.0.0.1:${port}`);
      processorNames.push(name);
      say(`${name.padEnd(11)} http://127.0.0.1:${port}/health  /ready  /metrics   state ${stateDir}`);
    }
    printStatusEvery(config.STATUS_INTERVAL_MS, processorNames, processorUrls, shards);
  }
  if (!args['no-console']) {
    run('console', 'console/src/main.ts', [], {
      CONSOLE_PORT: String(config.CONSOLE_PORT),
      CONSOLE_HOST: '127.0.0.1',
      PROCESSOR_URLS: processorUrls.join(','),
    });
    say(`console     http://127.0.0.1:${config.CONSOLE_PORT}   live alerts, cards, reports (the risk team's page)`);
  }
  if (!args['no-simulator']) {
    run('simulator', 'simulator/src/main.ts', ['--rate', args.rate, '--cards', config.CARDS_FILE, '--report-rate', args['report-rate']]);
    say(`simulator   ${args.rate} events/s from ${config.CARDS_FILE}, ${args['report-rate']} card status changes/s`);
  }
  say('running; Ctrl-C to stop');
} catch (error) {
  console.error(`[start] failed: ${(error as Error).message}`);
  await shutdown('start-up failed', 1);
}
