import t from 'tap';
import { CardTokenizer } from '../../common/src/card-token.js';
import { randomUUID } from 'node:crypto';
import { PutRecordsCommand, SplitShardCommand, MergeShardsCommand } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import { waitFor, withKinesis, withWarehouse } from '../../common/test/helpers.js';
import { connectWarehouse } from '../warehouse/schema.js';
import { FirehoseStandin } from '../local/firehose-standin.js';
import { listAllShards } from '../../common/src/shard-reader.js';

const silent = pino({ level: 'silent' });
const KEY = new CardTokenizer('test-1', 'k'.repeat(32));

function payment(card = '4111111111111111', amount = 12.5) {
  return {
    event_type: 'PAYMENT_EVENT',
    event_id: randomUUID(),
    event_date_origin: new Date().toISOString(),
    data: { card_number: card, amount, currency: 'EUR', merchant_id: 'm-1', country: 'DE' },
  };
}

async function put(client: Parameters<typeof listAllShards>[0], stream: string, items: (object | Uint8Array | string)[], key?: (i: number) => string) {
  for (let i = 0; i < items.length; i += 500) {
    const chunk = items.slice(i, i + 500);
    const out = await client.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: chunk.map((item, j) => ({
          Data: item instanceof Uint8Array ? item : Buffer.from(typeof item === 'string' ? item : JSON.stringify(item)),
          PartitionKey: key ? key(i + j) : `k${i + j}`,
        })),
      }),
    );
    if (out.FailedRecordCount) throw new Error('emulator refused records');
  }
}

function startStandin(kinesis: Parameters<typeof listAllShards>[0], stream: string, url: string) {
  const standin = new FirehoseStandin({
    kinesis,
    stream,
    connect: () => connectWarehouse(url),
    log: silent,
    tokenizer: KEY,
    flushIntervalMs: 100,
    shardRefreshMs: 200,
    minCallIntervalMs: 20,
  });
  const controller = new AbortController();
  const done = standin.run(controller.signal);
  return { standin, stop: async () => (controller.abort(), done) };
}

const count = async (client: Awaited<ReturnType<typeof withWarehouse>>['client'], table: string) =>
  Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

t.test('lands every valid event once and every malformed record in rejects, across a restart', async (t) => {
  const k = await withKinesis(t, { shards: 2 });
  const w = await withWarehouse(t);
  const events = Array.from({ length: 300 }, (_, i) => payment(undefined, (i % 50) + 0.99));
  const alert = { event_type: 'SOMETHING_NEW', event_id: randomUUID(), event_date_origin: new Date().toISOString(), data: { x: 1 } };
  const malformed: [string | Uint8Array | object, string][] = [
    ['this is not json', 'not_json'],
    [{ ...payment(), event_id: 'not-a-uuid' }, 'bad_envelope'],
    [{ ...payment(), data: { ...payment().data, card_number: '4111111111111112' } }, 'bad_data'],
    [{ ...payment(), data: { ...payment().data, amount: -5 } }, 'bad_data'],
    [new Uint8Array([0xff, 0xfe, 0x00, 0x41]), 'not_utf8'],
  ];
  await put(k.client, k.stream, [...events.slice(0, 150), alert, ...malformed.map(([m]) => m)]);

  let run = startStandin(k.client, k.stream, w.url);
  await waitFor('first 151 rows', async () => (await count(w.client, 'staging.payment_events')) >= 151);
  await waitFor('5 rejects', async () => (await count(w.client, 'staging.payment_events_rejects')) >= 5);
  await run.stop();

  await put(k.client, k.stream, events.slice(150));
  run = startStandin(k.client, k.stream, w.url);
  await waitFor('all 301 rows', async () => (await count(w.client, 'staging.payment_events')) >= 301);
  await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive in the next flushes
  await run.stop();

  t.equal(await count(w.client, 'staging.payment_events'), 301, 'no row duplicated across the restart');
  const rows = (
    await w.client.query(
      `SELECT event_id, to_char(event_date_origin, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS origin, event_json_data,
              event_dw_regdate >= event_date_origin AS registered_after FROM staging.payment_events WHERE event_type = 'PAYMENT_EVENT'`,
    )
  ).rows;
  const byId = new Map(rows.map((r) => [r.event_id, r]));
  t.equal(byId.size, 300);
  for (const e of events) {
    const row = byId.get(e.event_id);
    if (!row) {
      t.fail(`missing ${e.event_id}`);
      continue;
    }
    t.equal(row.origin, e.event_date_origin);
    const { card_number, ...rest } = e.data;
    t.same(JSON.parse(row.event_json_data), { ...KEY.reference(card_number), ...rest }, 'the payment, its card number tokenised');
    t.notOk(row.event_json_data.includes(card_number), 'no card number lands');
    t.equal(row.registered_after, true);
  }
  const rejects = (await w.client.query('SELECT reason, raw_bytes FROM staging.payment_events_rejects ORDER BY reason')).rows;
  t.same(rejects.map((r) => r.reason).sort(), malformed.map(([, reason]) => reason).sort(), 'each malformed record, with its reason');
  t.equal(await count(w.client, `staging.payment_events WHERE event_type = 'SOMETHING_NEW'`), 1, 'unknown event types land too');
});

t.test('follows a split and a merge, reading children after their parents', async (t) => {
  const k = await withKinesis(t, { shards: 2 });
  const w = await withWarehouse(t);
  const run = startStandin(k.client, k.stream, w.url);
  // One partition key: every record goes to one shard lineage, so order is checkable.
  const card = '4111111111111111';
  const first = Array.from({ length: 50 }, () => payment(card));
  await put(k.client, k.stream, first, () => card);
  const [a, b] = await listAllShards(k.client, k.stream);
  await k.client.send(new SplitShardCommand({ StreamName: k.stream, ShardToSplit: a!.ShardId, NewStartingHashKey: '85070591730234615865843651857942052864' }));
  await waitFor('split done', async () => (await listAllShards(k.client, k.stream)).length === 4, 5000);
  const second = Array.from({ length: 50 }, () => payment(card));
  await put(k.client, k.stream, second, () => card);
  const open = (await listAllShards(k.client, k.stream)).filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber);
  const children = open.filter((s) => s.ParentShardId === a!.ShardId);
  await k.client.send(new MergeShardsCommand({ StreamName: k.stream, ShardToMerge: children[1]!.ShardId, AdjacentShardToMerge: b!.ShardId }));
  await waitFor('merge done', async () => (await listAllShards(k.client, k.stream)).length === 5, 5000);
  const third = Array.from({ length: 50 }, () => payment(card));
  await put(k.client, k.stream, third, () => card);

  await waitFor('150 rows', async () => (await count(w.client, 'staging.payment_events')) >= 150, 20_000);
  await run.stop();
  const ids = (await w.client.query(`SELECT event_id FROM staging.payment_events`)).rows.map((r) => r.event_id);
  t.same(new Set(ids), new Set([...first, ...second, ...third].map((e) => e.event_id)), 'every record from every generation of shards');
  t.equal(ids.length, 150, 'none twice');
});

t.test('regression: records PostgreSQL cannot store (year 0000, NUL bytes that escape past the column) are rejects, not a flush retried forever', async (t) => {
  const k = await withKinesis(t, { shards: 1 });
  const w = await withWarehouse(t);
  const yearZero = { ...payment(), event_date_origin: '0000-06-01T00:00:00.000Z' };
  const nuls = new Uint8Array(16_000); // 16 000 × the 6-character \u0000: 96 000 characters before the fix
  const good = [payment(), payment()];
  await put(k.client, k.stream, [good[0]!, yearZero, nuls, good[1]!]);
  const run = startStandin(k.client, k.stream, w.url);
  await waitFor(
    '2 rows and 2 rejects',
    async () => (await count(w.client, 'staging.payment_events')) + (await count(w.client, 'staging.payment_events_rejects')) >= 4,
    20_000,
  );
  await run.stop();
  t.equal(run.standin.counters.flushFailures, 0, 'no flush failed');
  const rejects = (await w.client.query('SELECT reason, raw_bytes, length(raw_data) AS chars FROM staging.payment_events_rejects ORDER BY reason')).rows;
  t.same(
    rejects.map((r) => r.reason),
    ['bad_event_time', 'not_json'],
  );
  t.equal(rejects[1].raw_bytes, 16_000);
  t.ok(rejects[1].chars <= 65_535, `raw_data is ${rejects[1].chars} characters`);
});
