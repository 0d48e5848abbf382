/**
 * Issue 3, operations: the processor started before its stream exists waits (with a log line)
 * instead of crashing, becomes ready once the stream is there, and alerts from it.
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { startStack } from './harness.js';
import { ensureStream } from '../../../deploy/local/kinesis-emulator.js';
import { ShardReader, listAllShards } from '../../../common/src/shard-reader.js';

t.test('waits for a missing stream, then works', async (t) => {
  const stack = await startStack(t, { cards: 200, shards: 1 });
  const stream = `late-${randomUUID().slice(0, 8)}`;
  const p = await stack.startProcessor({ KINESIS_STREAM: stream, LOG_LEVEL: 'info' });
  const ready = async () => (await fetch(`http://127.0.0.1:${stack.httpPort}/ready`).catch(() => undefined))?.status;
  await stack.waitFor('the wait to be logged', () => /cannot list shards/.test(p.output.stdout), 30_000);
  t.equal(await ready(), 503, 'not ready while the stream is missing');
  t.equal(p.child.exitCode, null, 'still running');

  await ensureStream(stack.kinesis.client, stream, 1);
  const card = [...stack.stolen][0]!;
  const payment = {
    event_type: 'PAYMENT_EVENT',
    event_id: randomUUID(),
    event_date_origin: new Date().toISOString(),
    data: { card_number: card, amount: 99.99, currency: 'USD', merchant_id: 'm-9' },
  };
  await stack.kinesis.client.send(new PutRecordsCommand({ StreamName: stream, Records: [{ Data: Buffer.from(JSON.stringify(payment)), PartitionKey: card }] }));
  await stack.waitFor('ready', async () => (await ready()) === 200, 30_000, 250);
  let alerts: string[] = [];
  await stack.waitFor(
    'an alert in the stream',
    async () => {
      const [shard] = await listAllShards(stack.kinesis.client, stream);
      const batch = await new ShardReader(stack.kinesis.client, stream, shard!.ShardId!, { type: 'TRIM_HORIZON' }, { minCallIntervalMs: 0 }).next();
      alerts = batch.records
        .map((r) => JSON.parse(Buffer.from(r.Data!).toString()))
        .filter((e) => e.event_type === 'PAYMENT_ALERT')
        .map((e) => e.data.payment_event_id);
      return alerts.length > 0;
    },
    30_000,
    500,
  );
  t.same(alerts, [payment.event_id], 'the stolen-card payment is alerted, once');
  p.child.kill('SIGTERM');
  t.equal((await p.exit).code, 0);
});

t.test('regression: SIGTERM during start-up stops cleanly with exit 0 (it used to kill the process before LevelDB closed)', async (t) => {
  const stack = await startStack(t, { cards: 200, shards: 1 });
  const p = await stack.startProcessor({ LOG_LEVEL: 'info' });
  await stack.waitFor('start-up under way', () => /stolen list loaded/.test(p.output.stdout), 30_000, 10);
  p.child.kill('SIGTERM');
  const { code, signal } = await p.exit;
  t.equal(signal, null, 'not killed by the signal');
  t.equal(code, 0, 'exit 0');
  t.match(p.output.stdout, /"msg":"stopped"/, 'ran the orderly stop');
});
