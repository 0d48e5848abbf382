/**
 * `npm run console`: the risk team's page (issue 20), http://127.0.0.1:8090 by default. It reads
 * the processor's output stream with its own consumer (feed.ts), keeps a bounded view in memory
 * (view.ts), and publishes the cards reported from the page to the payments stream.
 *
 * Environment: CONSOLE_PORT (8090), CONSOLE_HOST (127.0.0.1: locally the page is for this machine
 * only; in AWS it sits behind a load balancer with sign-in), KINESIS_ENDPOINT, KINESIS_STREAM (the
 * payments stream, where reports go), OUTPUT_STREAM (where alerts are read; default: the payments
 * stream), CONSOLE_ALB_ARN (reports record the user the load balancer signed in), KINESIS_READ
 * and CONSOLE_CONSUMER_NAME (enhanced fan-out in AWS), PROCESSOR_URLS (the processors whose /ready
 * the fleet panel shows), WAREHOUSE_URL or WAREHOUSE_REDSHIFT_CLUSTER and WAREHOUSE_HOST (a card's
 * alert history), AWS_REGION, LOG_LEVEL; `--help` lists them all.
 */
import { z } from 'zod';
import { kinesisEnv, kinesisReadEnv, parseEnv, readMode } from '../../common/src/config.js';
import { ConfigError } from '../../common/src/errors.js';
import { encodeEvent } from '../../common/src/events.js';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { createFanOutKinesisClient } from '../../common/src/fanout-reader.js';
import { ensureStreamConsumerOf } from '../../common/src/stream-consumer.js';
import { createLogger } from '../../common/src/log.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { FeedState, runFeed } from './feed.js';
import { Fleet, parseProcessorUrls } from './fleet.js';
import { WarehouseHistory, warehouseTarget } from './history.js';
import { AlbIdentity } from './identity.js';
import { buildConsoleServer } from './server.js';
import { ConsoleView } from './view.js';

const consoleEnv = {
  ...kinesisEnv,
  OUTPUT_STREAM: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,128}$/, 'must be a Kinesis stream name')
    .optional(),
  ...kinesisReadEnv,
  /** The console's own stream consumer (not the processor's: each consumer gets its own 2 MiB/s per shard). */
  CONSOLE_CONSUMER_NAME: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,128}$/, 'must be a Kinesis consumer name')
    .default('risk-console'),
  CONSOLE_PORT: z.coerce.number().int().min(0).max(65_535).default(8090),
  CONSOLE_HOST: z.string().min(1).default('127.0.0.1'),
  /** Behind the load balancer's sign-in (AWS): its ARN; then every report must carry its verified user. */
  CONSOLE_ALB_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer\/app\/.+/, 'must be an application load balancer ARN')
    .optional(),
  /** Where the load balancer's public keys are (default: AWS's, for AWS_REGION). */
  ALB_KEYS_URL: z.string().url().optional(),
  WAREHOUSE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  /** Redshift in AWS, logged in with a temporary IAM password instead of WAREHOUSE_URL (console/src/redshift-credentials.ts). */
  WAREHOUSE_REDSHIFT_CLUSTER: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a Redshift cluster identifier')
    .optional(),
  WAREHOUSE_HOST: z.string().min(1).optional(),
  WAREHOUSE_PORT: z.coerce.number().int().min(1).max(65_535).default(5439),
  WAREHOUSE_DATABASE: z.string().min(1).default('payments'),
  WAREHOUSE_USER: z.string().min(1).default('risk_console'),
  PROCESSOR_URLS: z
    .string()
    .default('')
    .transform((text, ctx) => {
      try {
        return parseProcessorUrls(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
};

const USAGE = `Usage: npm run console

The risk console: live alerts, a card's latest summary and alerts, and reports of cards stolen or
recovered (published as CARD_STATUS_CHANGED). Prints its URL; Ctrl-C stops it.

Environment (defaults in brackets): CONSOLE_PORT [8090], CONSOLE_HOST [127.0.0.1],
KINESIS_ENDPOINT [local emulator; empty = AWS], KINESIS_STREAM [payments] (reports go there),
KINESIS_READ [auto: enhanced fan-out in AWS, polling against an emulator; or fanout, polling],
CONSOLE_CONSUMER_NAME [risk-console] (its stream consumer for fan-out),
OUTPUT_STREAM [= KINESIS_STREAM] (alerts are read there), PROCESSOR_URLS [none] (comma-separated
base URLs of the processors, e.g. http://127.0.0.1:8080; each one's /ready is polled every 5 s for
the fleet health panel, and a host name is polled at every address it resolves to),
CONSOLE_ALB_ARN [none] (behind the load balancer's Cognito sign-in: its ARN; each report then
needs the user it signs, verified with ALB_KEYS_URL [AWS's for AWS_REGION], and records it),
WAREHOUSE_URL [none] (postgres:// URL of the warehouse, for a card's alert history), or in AWS
WAREHOUSE_REDSHIFT_CLUSTER and WAREHOUSE_HOST (Redshift, logged in as WAREHOUSE_USER [risk_console]
with a temporary IAM password; WAREHOUSE_PORT [5439], WAREHOUSE_DATABASE [payments]), AWS_REGION,
LOG_LEVEL.`;

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const log = createLogger('console');
  const env = parseEnv('console', consoleEnv);
  const client = createKinesisClient({ region: env.AWS_REGION, endpoint: env.KINESIS_ENDPOINT });
  const producer = new KinesisProducer(client, env.KINESIS_STREAM);
  const view = new ConsoleView();
  const stopping = new AbortController();
  const fleet = new Fleet({ urls: env.PROCESSOR_URLS, log });
  const warehouse = warehouseTarget(env);
  const history = warehouse ? new WarehouseHistory(warehouse) : undefined;
  const identity = env.CONSOLE_ALB_ARN
    ? new AlbIdentity({ albArn: env.CONSOLE_ALB_ARN, keysUrl: env.ALB_KEYS_URL ?? `https://public-keys.auth.elb.${env.AWS_REGION}.amazonaws.com` })
    : undefined;
  const feedState = new FeedState();
  const app = buildConsoleServer({
    view,
    feedDown: () => feedState.down(),
    fleet,
    ...(history ? { history } : {}),
    ...(identity ? { identity } : {}),
    logger: log,
    publish: (event) => producer.send([{ data: encodeEvent(event), partitionKey: event.data.card_number }]),
  });
  const output = env.OUTPUT_STREAM ?? env.KINESIS_STREAM;
  const fanOutClient = readMode(env) === 'fanout' ? createFanOutKinesisClient({ region: env.AWS_REGION, endpoint: env.KINESIS_ENDPOINT }) : undefined;
  let fanOut: { client: typeof client; consumerArn: string } | undefined;
  if (fanOutClient) {
    // A refusal (no such stream, access denied) ends the console with the reason, before it listens.
    const consumerArn = await ensureStreamConsumerOf(fanOutClient, output, env.CONSOLE_CONSUMER_NAME, { signal: stopping.signal });
    fanOut = { client: fanOutClient, consumerArn };
    log.info({ consumer: env.CONSOLE_CONSUMER_NAME, consumerArn }, 'reading the output stream by enhanced fan-out');
  }
  const feed = runFeed({ client, stream: output, view, log, signal: stopping.signal, onState: feedState.set, ...(fanOut ? { fanOut } : {}) });
  const polling = fleet.run(stopping.signal);
  await app.listen({ port: env.CONSOLE_PORT, host: env.CONSOLE_HOST });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.CONSOLE_PORT;
  log.info({ url: `http://${env.CONSOLE_HOST}:${port}`, output }, `risk console on http://${env.CONSOLE_HOST}:${port}`);
  const stop = async () => {
    stopping.abort();
    await app.close();
    await Promise.all([feed, polling]);
    await history?.close();
    client.destroy();
    fanOutClient?.destroy();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: (error as Error).message }, 'console did not stop cleanly');
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error: unknown) => {
  // A ConfigError's message already names the component.
  process.stderr.write(`${error instanceof ConfigError ? error.message : `console: ${(error as Error)?.message ?? String(error)}`}\n`);
  process.exit(2);
});
