/**
 * Issue 18, acceptance 1: the local stack (`npm start`) runs with known cards, stolen-card payments,
 * alerts, summaries, snapshots and bad records (a card number inside invalid JSON, inside an unknown
 * field, inside a merchant id; a payment keyed by something else than its card); then everything
 * the run left is searched for every card number of the cards file: the output stream's alerts,
 * summaries and rejects, the warehouse tables, the processor's LevelDB state (read back through
 * classic-level, and its files raw), the S3 snapshots (gunzipped), every file under the data
 * directory, every log line of every component, and /metrics. None is found except on the input
 * stream and in the cards file, where the search is shown to work. A card reported stolen by a
 * CARD_STATUS_CHANGED (issue 19) is alerted too: its number is kept only sealed. (The image's contents are
 * searched by deploy/image/test/image.check.ts, in CI's image stage.)
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ClassicLevel } from 'classic-level';
import { readCardsFile } from '../../common/src/cards-file.js';
import { loadCardTokenKeyFile } from '../../common/src/card-token.js';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { readAllRecords, waitFor, withTempDir } from '../../common/test/helpers.js';
import { payment, put } from '../../processor/test/faults/helpers.js';
import { freePort } from '../../processor/test/integration/harness.js';
import { connectWarehouse } from '../warehouse/schema.js';
import { npmStart, stoppedCleanly, untilRunning } from './npm-start.js';

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await filesUnder(join(dir, e.name))));
    else if (e.isFile()) out.push(join(dir, e.name));
  }
  return out;
}

t.test('no card number downstream of the input stream: output, warehouse, state, snapshots, files, logs, /metrics', async (t) => {
  const dir = await withTempDir(t, 'sca-no-pan-');
  const data = join(dir, 'data');
  const [kinesisPort, warehousePort, httpPort, dynamoPort, s3Port] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const env = {
    DATA_DIR: data,
    CARDS_FILE: join(data, 'cards.csv'),
    STATE_DIR: join(data, 'state'),
    KINESIS_ENDPOINT: `http://127.0.0.1:${kinesisPort}`,
    WAREHOUSE_EMBEDDED_PORT: String(warehousePort),
    HTTP_PORT: String(httpPort),
    DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
    S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
    SNAPSHOT_INTERVAL_MS: '2000',
    // Every line a component logs at info, so that the search has lines to read.
    LOG_LEVEL: 'info',
  };
  // 200 cards (20 stolen) at 200 payments/s: every stolen card pays several times a minute.
  const run = await npmStart(t, env, ['--rate', '200', '--cards', '200']);
  await untilRunning(run, 'the local stack');
  const { cards, stolen } = await readCardsFile(env.CARDS_FILE);
  const tokenizer = await loadCardTokenKeyFile(join(data, 'card-token-key.json'));
  const found = (text: string) => cards.filter((c) => text.includes(c));

  // Bad records, each holding a card number of the file (the stream is npm start's one stream).
  const client = createKinesisClient({ region: 'us-east-1', endpoint: env.KINESIS_ENDPOINT });
  t.teardown(() => client.destroy());
  const [s0, s1, s2] = [...stolen];
  const other = cards.find((c) => !stolen.has(c))!;
  const bad = [
    { key: s0!, data: `{"event_type":"PAYMENT_EVENT","data":{"card_number":"${s0}","amount":` },
    { key: other, data: { ...payment(other, Date.now()), extra: `card ${other}` } },
    { key: s1!, data: payment(s1!, Date.now(), { merchant_id: `shop ${s1}` }) },
    { key: 'not-a-card', data: payment(s2!, Date.now()) },
    // Not a bad record: a card off the list reported stolen from a minute ago (its number on the
    // input stream, then kept sealed in the record of recent payments, tokenised in the warehouse).
    {
      key: other,
      data: {
        event_type: 'CARD_STATUS_CHANGED',
        event_id: randomUUID(),
        event_date_origin: new Date().toISOString(),
        data: { card_number: other, status: 'STOLEN', effective_at: new Date(Date.now() - 60_000).toISOString() },
      },
    },
  ];
  await put(client, 'payments', bad);

  // The run: alerts and summaries for the stolen cards, rejects for the bad records, snapshots.
  const stream = async () => {
    const records = await readAllRecords(client, 'payments');
    const events = records.map((r) => ({ r, text: Buffer.from(r.Data!).toString('utf8') }));
    return {
      input: events.filter((e) => !/^\{"event_type":"PAYMENT_(ALERT|ALERT_SUMMARY|EVENT_REJECTED)"/.test(e.text)),
      output: events.filter((e) => /^\{"event_type":"PAYMENT_(ALERT|ALERT_SUMMARY|EVENT_REJECTED)"/.test(e.text)),
    };
  };
  let out = await stream();
  await waitFor(
    'alerts of every stolen card that paid (the reported one too), summaries, two rejects, the misrouted copy alerted',
    async () => {
      out = await stream();
      const texts = out.output.map((e) => e.text);
      const alerted = new Set(
        texts.filter((x) => x.startsWith('{"event_type":"PAYMENT_ALERT"')).map((x) => (JSON.parse(x) as { data: { card_token: string } }).data.card_token),
      );
      return (
        [s0!, s1!, s2!, other].every((c) => alerted.has(tokenizer.token(c))) &&
        texts.some((x) => x.startsWith('{"event_type":"PAYMENT_ALERT_SUMMARY"')) &&
        texts.filter((x) => x.startsWith('{"event_type":"PAYMENT_EVENT_REJECTED"')).length >= 2
      );
    },
    120_000,
    1_000,
  );
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const url = `postgres://postgres:postgres@127.0.0.1:${warehousePort}/postgres`;
  const warehouseText = async () => {
    const db = await connectWarehouse(url);
    try {
      const rows = await db.query(
        `SELECT event_type || ' ' || event_json_data AS text FROM staging.payment_events UNION ALL SELECT raw_data || ' ' || detail || ' ' || reason FROM staging.payment_events_rejects`,
      );
      return rows.rows.map((r) => r.text as string);
    } finally {
      await db.end();
    }
  };
  let landed: string[] = [];
  await waitFor(
    'alerts, summaries and rejects in the warehouse',
    async () => {
      landed = await warehouseText();
      return ['PAYMENT_ALERT ', 'PAYMENT_ALERT_SUMMARY ', 'PAYMENT_EVENT_REJECTED '].every((type) => landed.some((x) => x.startsWith(type)));
    },
    90_000,
    1_000,
  );
  await waitFor('a snapshot in S3', async () => (await filesUnder(join(data, 's3')).catch(() => [])).some((f) => f.includes('snapshots')), 60_000, 1_000);
  run.ctrlC();
  await stoppedCleanly(t, run, kinesisPort, warehousePort, dynamoPort, s3Port);

  // The search works: the card numbers are on the input stream and in the cards file.
  t.ok(found(out.input.map((e) => e.text).join('\n')).length > 0.9 * cards.length, 'the input stream holds the card numbers (the search finds them)');
  t.equal(found(await readFile(env.CARDS_FILE, 'utf8')).length, cards.length, 'and so does the cards file');

  const outputs = out.output.map((e) => e.text).join('\n');
  const types = new Set(out.output.map((e) => /"event_type":"(\w+)"/.exec(e.text)![1]));
  t.same([...types].sort(), ['PAYMENT_ALERT', 'PAYMENT_ALERT_SUMMARY', 'PAYMENT_EVENT_REJECTED'], 'the output stream holds alerts, summaries and rejects');
  t.same(found(outputs), [], `none in the output stream (${out.output.length} records)`);
  t.same(found(out.output.map((e) => e.r.PartitionKey).join('\n')), [], "none as an output record's partition key");
  t.ok(outputs.includes(`"shop ${s1!.slice(0, 6)}${'*'.repeat(s1!.length - 10)}${s1!.slice(-4)}"`), "the merchant id's card number is masked in its alert");
  t.same(found(landed.join('\n')), [], `none in the warehouse (${landed.length} rows)`);
  t.same(found(metrics), [], 'none in /metrics');
  t.same(found(run.output()), [], `none in the ${run.output().split('\n').length} lines every component logged`);

  // The processor's state, read back (LevelDB compresses its tables: a raw search alone proves little).
  const db = new ClassicLevel(env.STATE_DIR, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  let stateText = '';
  let entries = 0;
  for await (const [k, v] of db.iterator()) {
    stateText += `${k}\t${v}\n`;
    entries++;
  }
  await db.close();
  t.ok(stateText.includes(tokenizer.token(s0!)), `the state names stolen cards by token (${entries} entries)`);
  t.same(found(stateText), [], 'none in the LevelDB state');

  const snapshots = (await filesUnder(join(data, 's3'))).filter((f) => f.includes('snapshots') && !f.endsWith('.json'));
  let snapshotText = '';
  for (const f of snapshots) {
    const bytes = await readFile(f);
    snapshotText += bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
  }
  t.ok(snapshotText.length > 0, `snapshots read (${snapshots.length} files)`);
  t.same(found(snapshotText), [], 'none in the snapshots');

  // Every file the run left, raw, but the input stream's (the emulator's data) and the cards file.
  const kept = (await filesUnder(data)).filter((f) => !f.startsWith(join(data, 'kinesis')) && f !== env.CARDS_FILE);
  const withPan: string[] = [];
  for (const f of kept) {
    const bytes = await readFile(f);
    const text = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('latin1') : bytes.toString('latin1');
    if (found(text).length > 0) withPan.push(relative(data, f));
  }
  t.same(withPan, [], `none in the ${kept.length} other files under the data directory (state, snapshots, warehouse, leases, stolen list, key)`);
});
