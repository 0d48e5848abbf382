/**
 * Issue 2, acceptance 1: `npm start` on a fresh data directory prints its endpoints, rows appear in
 * staging.payment_events within a minute, Ctrl-C (SIGINT) stops everything with exit 0, and a
 * second start reuses the data and continues.
 *
 * Issue 20: what it prints. Into a pipe (the first start) the components' JSON lines as they are,
 * with --pretty (the second) readable lines; both times a [status] line with the payments read.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { loadCardTokenKeyFile } from '../../common/src/card-token.js';
import { readCardsFile } from '../../common/src/cards-file.js';
import { waitFor, withTempDir } from '../../common/test/helpers.js';
import { npmStart, stoppedCleanly, untilRunning } from './npm-start.js';
import { freePort } from '../../processor/test/integration/harness.js';
import { connectWarehouse } from '../warehouse/schema.js';

/** Until `npm start` prints a [status] line with payments read, its one processor up. */
async function untilStatus(t: Test, run: Awaited<ReturnType<typeof npmStart>>) {
  const STATUS =
    /^\[status\] (\d+\.\d) payments\/s {2}alerts \+\d+ \(\d+\) {2}summaries \+\d+ \(\d+\) {2}rejects \+\d+ \(\d+\) {2}max lag (-|\d+\.\d s) {2}shards \d+\/\d+ owned {2}processors 1\/1 up$/gm;
  const withPayments = () => [...run.output().matchAll(STATUS)].find((m) => Number(m[1]) > 0)?.[0];
  await waitFor('a [status] line with payments/s > 0', () => withPayments() !== undefined, 30_000, 500);
  t.pass(`a status line: ${withPayments()}`);
}

t.test('npm start runs the pipeline, stops on Ctrl-C and continues on restart', async (t) => {
  const dir = await withTempDir(t, 'sca-start-');
  // Every port free, none a default: the lease table's DynamoDB default (4568) made this test fail
  // whenever another stack was running on the machine.
  const [kinesisPort, warehousePort, httpPort, dynamoPort, consolePort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const env = {
    DATA_DIR: join(dir, 'data'),
    CARDS_FILE: join(dir, 'data', 'cards.csv'),
    STATE_DIR: join(dir, 'data', 'state'),
    KINESIS_ENDPOINT: `http://127.0.0.1:${kinesisPort}`,
    WAREHOUSE_EMBEDDED_PORT: String(warehousePort),
    HTTP_PORT: String(httpPort),
    DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
    CONSOLE_PORT: String(consolePort),
    // Info, not npmStart's warn, so that every component prints lines whose format can be checked.
    LOG_LEVEL: 'info',
    STATUS_INTERVAL_MS: '2000',
  };
  const url = `postgres://postgres:postgres@127.0.0.1:${warehousePort}/postgres`;
  const payments = async () => {
    const db = await connectWarehouse(url);
    try {
      const { rows } = await db.query(`SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM staging.payment_events WHERE event_type = 'PAYMENT_EVENT'`);
      return { n: Number(rows[0].n), distinct: Number(rows[0].d) };
    } finally {
      await db.end();
    }
  };

  const started = Date.now();
  let run = await npmStart(t, env);
  await untilRunning(run, 'the endpoints');
  t.match(run.output(), new RegExp(`Kinesis +http://127.0.0.1:${kinesisPort}`), 'prints the Kinesis endpoint');
  t.match(run.output(), new RegExp(`warehouse +postgres://postgres:\\*\\*\\*@127.0.0.1:${warehousePort}`), 'prints the warehouse');
  await waitFor('rows in staging.payment_events', async () => (await payments().catch(() => ({ n: 0 }))).n > 0, 60_000, 500);
  const firstRowSeconds = (Date.now() - started) / 1000;
  t.ok(firstRowSeconds < 60, `first rows within a minute (${firstRowSeconds.toFixed(1)} s)`);
  t.comment(`npm start to first staging row: ${firstRowSeconds.toFixed(1)} s`);
  await waitFor(
    'alerts from the processor',
    async () => {
      const db = await connectWarehouse(url);
      const { rows } = await db.query(`SELECT count(*) AS n FROM staging.payment_events WHERE event_type = 'PAYMENT_ALERT'`);
      await db.end();
      return Number(rows[0].n) > 0;
    },
    60_000,
    1000,
  );

  // The risk console: its URL printed, and the processor's alerts on it, read from the stream.
  t.match(run.output(), `console     http://127.0.0.1:${consolePort}`, 'prints the console URL');
  await waitFor(
    'alerts on the console',
    async () => {
      const res = await fetch(`http://127.0.0.1:${consolePort}/api/alerts`).catch(() => undefined);
      return res?.ok === true && ((await res.json()) as unknown[]).length > 0;
    },
    60_000,
    1000,
  );

  // The card token key: created on first start under DATA_DIR, for its owner's eyes only.
  const keyFile = join(dir, 'data', 'card-token-key.json');
  t.equal((await stat(keyFile)).mode & 0o777, 0o600, 'the card token key is written under DATA_DIR, mode 0600');
  const keyId = (await loadCardTokenKeyFile(keyFile)).keyId;
  t.match(run.output(), `card tokens key ${keyId}`, 'and its key id printed');

  // Into a pipe: each component's JSON line as it printed it, and the status from the processor's /metrics.
  t.match(run.output(), /^\[firehose\] \{"level":30,.*"msg":"delivering"\}$/m, 'not a terminal: the JSON lines, prefixed [component]');
  await untilStatus(t, run);

  const stopAt = Date.now();
  run.ctrlC();
  await stoppedCleanly(t, run, kinesisPort, warehousePort, dynamoPort);
  t.equal((await loadCardTokenKeyFile(keyFile)).keyId, keyId, 'the key outlives a stop');
  t.comment(`Ctrl-C to exit: ${((Date.now() - stopAt) / 1000).toFixed(1)} s`);

  run = await npmStart(t, env, ['--rate', '200', '--cards', '500', '--pretty']);
  await untilRunning(run, 'the second start');
  t.notMatch(run.output(), /is missing: generating/, 'the cards file is reused');
  const before = await payments();
  t.ok(before.n > 0, `the rows of the first run are still there (${before.n})`);
  await waitFor('more rows', async () => (await payments()).n > before.n + 200, 60_000, 500);
  const after = await payments();
  t.equal(after.distinct, after.n, `no payment landed twice across the restart (${after.n} rows)`);
  t.equal((await loadCardTokenKeyFile(keyFile)).keyId, keyId, 'the second start reuses the key');
  t.match(run.output(), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[firehose\] delivering \{"stream":"payments",/m, '--pretty: readable lines');
  t.notMatch(run.output(), /^\[\w+(-\d+)?\] \{"level"/m, '--pretty: no JSON log line left');
  await untilStatus(t, run);

  // No card number of the cards file in the warehouse: payments, alerts, summaries, rejects.
  const { cards } = await readCardsFile(env.CARDS_FILE);
  const pans = new Set(cards);
  const db = await connectWarehouse(url);
  const landed = await db.query(
    `SELECT event_json_data AS text FROM staging.payment_events UNION ALL SELECT raw_data || ' ' || detail FROM staging.payment_events_rejects`,
  );
  await db.end();
  const found = landed.rows.filter((r) => [...(r.text as string).matchAll(/\d{12,19}/g)].some((m) => pans.has(m[0])));
  t.equal(found.length, 0, `no card number in ${landed.rows.length} warehouse rows (${pans.size} cards searched for)`);
  run.ctrlC();
  await stoppedCleanly(t, run, kinesisPort, warehousePort, dynamoPort);
});
