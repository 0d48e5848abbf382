/**
 * `npm run firehose`: the local Firehose stand-in as its own process (so it can be killed and
 * restarted on its own). Lands every record of KINESIS_STREAM in the warehouse at WAREHOUSE_URL.
 */
import { createKinesisClient } from '../../common/src/kinesis.js';
import { cardTokenKeyEnv, intEnv, kinesisEnv, parseEnv, warehouseEnv } from '../../common/src/config.js';
import { loadCardTokenizer, LOCAL_CARD_TOKEN_KEY_FILE } from '../../common/src/card-token.js';
import { ConfigError } from '../../common/src/errors.js';
import { createLogger } from '../../common/src/log.js';
import { applyStagingSchema, connectWarehouse } from '../warehouse/schema.js';
import { DELIVERY } from '../delivery-stream.js';
import { FirehoseStandin } from './firehose-standin.js';
import { sleep } from '../../common/src/retry.js';

if (process.argv.includes('--help')) {
  console.log(`Usage: npm run firehose

Local stand-in for the Firehose delivery stream "${DELIVERY.name}": reads every shard of the Kinesis
stream and writes every record to ${DELIVERY.table} (invalid ones to ${DELIVERY.rejectsTable}),
committing shard positions in the same transaction as the rows.

Every card number becomes its card token before it lands (docs/events.md, "In the warehouse").

Environment: KINESIS_ENDPOINT, KINESIS_STREAM, AWS_REGION, WAREHOUSE_URL,
             FIREHOSE_FLUSH_INTERVAL_MS (default ${DELIVERY.localBuffering.intervalSeconds * 1000}),
             CARD_TOKEN_KEY_FILE (default ${LOCAL_CARD_TOKEN_KEY_FILE}) or CARD_TOKEN_KEY_SECRET (a secret's id)`);
  process.exit(0);
}

const log = createLogger('firehose-standin');
let config;
try {
  config = parseEnv('firehose-standin', {
    ...kinesisEnv,
    ...warehouseEnv,
    FIREHOSE_FLUSH_INTERVAL_MS: intEnv(DELIVERY.localBuffering.intervalSeconds * 1000, 50, 900_000),
    ...cardTokenKeyEnv,
  });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'stopping: finishing reads and flushing');
    controller.abort();
  });
}

// The schema may not be there on a first start; create it (idempotent), waiting for the warehouse.
for (let attempt = 0; !controller.signal.aborted; attempt++) {
  try {
    const client = await connectWarehouse(config.WAREHOUSE_URL);
    await applyStagingSchema(client, { localDelivery: true });
    await client.end();
    break;
  } catch (error) {
    log.warn({ err: error, attempt }, 'warehouse not reachable yet; retrying');
    await sleep(1000, controller.signal);
  }
}

// The key is created on first start locally (npm start does it before any component starts).
const tokenizer = await loadCardTokenizer(config).catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(2);
});
const kinesis = createKinesisClient({ region: config.AWS_REGION, endpoint: config.KINESIS_ENDPOINT });
const standin = new FirehoseStandin({
  kinesis,
  stream: config.KINESIS_STREAM,
  connect: () => connectWarehouse(config.WAREHOUSE_URL),
  log,
  tokenizer,
  flushIntervalMs: config.FIREHOSE_FLUSH_INTERVAL_MS,
});
const progress = setInterval(() => log.info({ ...standin.counters }, 'delivery progress'), 10_000);
log.info({ stream: config.KINESIS_STREAM, table: DELIVERY.table }, 'delivering');
await standin.run(controller.signal);
clearInterval(progress);
kinesis.destroy();
log.info({ ...standin.counters }, 'stopped');
