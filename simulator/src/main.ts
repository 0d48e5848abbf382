/**
 * The simulator's entry point: parses arguments and environment, reads the cards, wires the
 * generator, the producer, the progress line and the signals, and owns the shutdown order:
 * stop generating -> flush the producer -> close --out-events -> print totals -> exit.
 *
 * Output: the live progress line and the human totals go to stderr; stdout gets exactly one line,
 * the totals as JSON, for scripts and tests. Exit codes are listed in options.ts's USAGE.
 */
import { startFailure } from './cli-errors.js';
import { createWriteStream, type WriteStream } from 'node:fs';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { InputFileError } from '../../common/src/errors.js';
import { kinesisEnv, parseEnv, s3Env } from '../../common/src/config.js';
import { createS3Client, parseS3Uri } from '../../common/src/s3.js';
import { awsErrorName, createKinesisClient } from '../../common/src/kinesis.js';
import { readCardsFile } from '../../common/src/cards-file.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { USAGE, parseOptions } from './options.js';
import { createPaymentGenerator, createStatusGenerator, seededRandom } from './generator.js';
import { Progress } from './progress.js';
import { RunState, runSimulation, type RunTotals } from './simulator.js';

const log = (line: string) => process.stderr.write(`simulator: ${line}\n`);
/** A log line while the progress line may be drawn: clear it first on a terminal. */
const note = (line: string) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}simulator: ${line}\n`);
const RETRY_LOG_EVERY_MS = 10_000;

async function main(argv: string[]): Promise<number> {
  let options;
  let env;
  try {
    options = parseOptions(argv, process.env);
    if (options.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    env = parseEnv('simulator', { ...kinesisEnv, ...s3Env });
  } catch (error) {
    return startFailure(error, log);
  }

  let cards: string[];
  try {
    const source = parseS3Uri(options.cardsFile) ? { s3: await createS3Client({ region: env.AWS_REGION, endpoint: env.S3_ENDPOINT }) } : {};
    ({ cards } = await readCardsFile(options.cardsFile, source));
    if (cards.length === 0) throw new InputFileError(`${options.cardsFile}: no cards in the file`);
  } catch (error) {
    if (error instanceof InputFileError) {
      log(error.message);
      return 1;
    }
    throw error;
  }

  const seed = options.seed ?? randomInt(2 ** 32);
  const generate = createPaymentGenerator({
    cards,
    random: seededRandom(seed),
    disorderMs: options.disorderMs,
    lateRatio: options.lateRatio,
    ...(options.backfillMs !== undefined && options.count !== undefined
      ? { backfill: { fromMs: Date.now() - options.backfillMs, spanMs: options.backfillMs, count: options.count } }
      : {}),
  });
  const client = createKinesisClient({ region: env.AWS_REGION, endpoint: env.KINESIS_ENDPOINT });
  const producer = new KinesisProducer(client, env.KINESIS_STREAM);
  let out: WriteStream | undefined;
  if (options.outEvents) {
    out = createWriteStream(options.outEvents, { flags: 'a' });
    // Fail now on an unwritable path rather than after publishing.
    await Promise.race([once(out, 'open'), once(out, 'error').then(([e]) => Promise.reject(e as Error))]).catch((error: Error) => {
      throw new InputFileError(`${options.outEvents}: cannot write events file: ${error.message}`);
    });
  }

  const state = new RunState();
  const progress = new Progress({
    write: (s) => process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
    snapshot: () => {
      const c = producer.counters;
      return {
        generated: state.generated,
        sent: state.sent,
        retried: c.recordsRetried,
        throttles: c.throttles,
        errors: c.errors,
        buffered: producer.buffered,
      };
    },
  });

  // Why retries happen, at most one line per RETRY_LOG_EVERY_MS, so an outage is visible but not noisy.
  let lastRetryLog = -Infinity;
  let retriesSinceLog = 0;
  producer.on('retry', ({ reason, records, delayMs, error }) => {
    retriesSinceLog++;
    const t = Date.now();
    if (t - lastRetryLog < RETRY_LOG_EVERY_MS) return;
    const why = error === undefined ? '' : `: ${(error as { code?: string }).code ?? awsErrorName(error)}`;
    note(`retrying ${records} records in ${delayMs} ms (${reason}${why}; ${retriesSinceLog} retries since the last note)`);
    lastRetryLog = t;
    retriesSinceLog = 0;
  });

  const stop = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      progress.stop();
      log(`${name}: stopped generating; waiting for ${producer.buffered} events to be acknowledged (${name} again to quit now)`);
      stop.abort();
      return;
    }
    progress.stop();
    log(`${name} again: quitting with ${producer.buffered} events unacknowledged; sent ${state.sent} of ${state.generated}`);
    process.stdout.write(JSON.stringify({ ...counts(), forced: true, unacknowledged: producer.buffered }) + '\n');
    process.exit(130);
  };
  const counts = () => ({ generated: state.generated, sent: state.sent, retried: producer.counters.recordsRetried, failed: state.failed });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  log(
    `publishing to stream ${env.KINESIS_STREAM} at ${env.KINESIS_ENDPOINT ?? `AWS ${env.AWS_REGION}`}: ${cards.length} cards, ` +
      `rate ${options.rate === 'max' ? 'max' : `${options.rate}/s`}, ${options.count === undefined ? 'until stopped' : `${options.count} events`}, seed ${seed}` +
      (options.partitionKey === 'event-id' ? ', partition key event_id (a card spans shards)' : '') +
      (options.reportRate > 0 ? `, ${options.reportRate} card status changes/s` : ''),
  );
  progress.start();
  let totals: RunTotals;
  try {
    totals = await runSimulation(
      { rate: options.rate, count: options.count, signal: stop.signal, partitionKey: options.partitionKey },
      {
        producer,
        generate,
        reports: options.reportRate > 0 ? { rate: options.reportRate, generate: createStatusGenerator({ cards, random: seededRandom(seed + 1) }) } : undefined,
        onAcknowledged: out ? (_event, json) => out.write(json + '\n') : undefined,
      },
      state,
    );
  } finally {
    progress.stop();
    client.destroy();
  }
  if (out) {
    out.end();
    await once(out, 'finish');
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  log(
    `${totals.error ? 'FAILED' : 'done'}: generated ${totals.generated}${totals.reports > 0 ? ` and ${totals.reports} status changes` : ''}, sent ${totals.sent}, retried ${totals.retried}, ` +
      `failed ${totals.failed}, throttles ${totals.throttles}, errors ${totals.errors}, elapsed ${(totals.elapsedMs / 1000).toFixed(2)} s, ` +
      `rate ${totals.rate.toFixed(1)} ev/s` +
      (totals.skippedMs > 0 ? `, schedule skipped ${totals.skippedMs} ms after stalls` : ''),
  );
  if (totals.error) log(`delivery failed: ${totals.error.message}`);
  const { error, ...rest } = totals;
  process.stdout.write(JSON.stringify({ ...rest, ...(error ? { error: error.message } : {}) }) + '\n');
  return totals.error ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof InputFileError) log(error.message);
    else process.stderr.write(`simulator: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
