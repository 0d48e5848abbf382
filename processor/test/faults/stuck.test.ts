/**
 * Issue 13, point 6: a stuck shard looked healthy. Lag gauges moved only after a successful
 * GetRecords, /health ignored the shards. Now a shard blocked with work to do fails /health after
 * STUCK_AFTER_MS, says why, its lag gauges keep growing, and it recovers without losing anything.
 *   1. sends blocked: the output stream does not exist yet (PutRecords fails, retried forever);
 *   2. reads blocked while alerts are held: GetRecords refused by the endpoint (through a proxy).
 */
import t from 'tap';
import { CreateStreamCommand } from '@aws-sdk/client-kinesis';
import { startStack } from '../integration/harness.js';
import { startChaosProxy } from '../../../common/test/chaos-proxy.js';
import { getJson, payment, put, sample, samples, sleep } from './helpers.js';

const STUCK_AFTER_MS = 4_000;

t.test('sends blocked (output stream missing): /health fails naming the shard, gauges grow, then it recovers', async (t) => {
  const stack = await startStack(t, { cards: 200, shards: 2 });
  const k = stack.kinesis;
  const processor = await stack.startProcessor({ OUTPUT_STREAM: 'alerts-not-yet', STUCK_AFTER_MS: String(STUCK_AFTER_MS) });
  await stack.untilServing();
  t.equal((await getJson(stack.httpPort, '/health')).status, 200, 'live while nothing is owed');

  // Stolen-card payments: their alerts fall due within seconds and cannot be sent.
  const cards = [...stack.stolen].slice(0, 20);
  const events = cards.map((c) => payment(c, Date.now()));
  await put(
    k.client,
    k.stream,
    events.map((e) => ({ data: e, key: e.data.card_number })),
  );
  const publishedAt = Date.now();

  let health = await getJson(stack.httpPort, '/health');
  await stack.waitFor('/health to fail', async () => (health = await getJson(stack.httpPort, '/health')).status === 503, 30_000, 200);
  const failedAfter = Date.now() - publishedAt;
  t.equal(health.body.status, 'stuck');
  t.ok(health.body.stuck.length >= 1, `stuck shards named: ${JSON.stringify(health.body.stuck)}`);
  t.match(health.body.stuck[0].reason, /step "send" has lasted/, 'and why');
  t.comment(
    `/health failed ${(failedAfter / 1000).toFixed(1)} s after the payments were published (alert window + idle advance + STUCK_AFTER_MS ${STUCK_AFTER_MS / 1000} s)`,
  );
  t.ok(failedAfter < 5_000 + 5_000 + STUCK_AFTER_MS + 5_000, 'within window + idle + STUCK_AFTER_MS (+5 s slack)');
  const stuckShard = health.body.stuck[0].shardId as string;
  t.equal(await sample(stack.httpPort, 'payments_shard_stuck', { shard: stuckShard }), 1, 'payments_shard_stuck = 1');
  t.equal((await getJson(stack.httpPort, '/ready')).status, 503, 'not ready either');

  const lag1 = await sample(stack.httpPort, 'payments_shard_watermark_lag_seconds', { shard: stuckShard });
  const behind1 = await sample(stack.httpPort, 'payments_shard_behind_latest_seconds', { shard: stuckShard });
  await sleep(2_000);
  const lag2 = await sample(stack.httpPort, 'payments_shard_watermark_lag_seconds', { shard: stuckShard });
  const behind2 = await sample(stack.httpPort, 'payments_shard_behind_latest_seconds', { shard: stuckShard });
  t.ok(lag2! >= lag1! + 1.5, `watermark lag keeps growing while blocked (${lag1} → ${lag2} s)`);
  t.ok(behind2! >= behind1! + 1.5, `behind-latest keeps growing while blocked (${behind1} → ${behind2} s)`);

  // The output stream appears: the retried sends go through, the shard moves, /health is 200 again.
  await k.client.send(new CreateStreamCommand({ StreamName: 'alerts-not-yet', ShardCount: 1 }));
  await stack.waitFor('/health to recover', async () => (await getJson(stack.httpPort, '/health')).status === 200, 60_000, 250);
  t.pass('/health answers 200 again once the shard moves');
  const alerted = await stack
    .waitFor(
      'every alert delivered',
      async () => (await samples(stack.httpPort, 'payments_alerts_emitted_total')).reduce((s, x) => s + x.value, 0) >= events.length,
      30_000,
      250,
    )
    .then(() => true);
  t.ok(alerted, `all ${events.length} alerts acknowledged after the stall`);
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});

t.test('reads refused while alerts are held: stuck after STUCK_AFTER_MS, /ready names Kinesis; recovers', async (t) => {
  const stack = await startStack(t, { cards: 200, shards: 1 });
  const k = stack.kinesis;
  const proxy = await startChaosProxy(t, k.endpoint);
  // Long idle settings: the payments stay held in their window for a while after being read.
  const processor = await stack.startProcessor({
    KINESIS_ENDPOINT: proxy.endpoint,
    STUCK_AFTER_MS: String(STUCK_AFTER_MS),
    IDLE_TIMEOUT_MS: '20000',
    IDLE_LAG_MS: '20000',
  });
  await stack.untilServing();
  await stack.waitFor('the shard RUNNING', async () => (await getJson(stack.httpPort, '/ready')).body?.shards?.[0]?.state === 'RUNNING', 30_000, 200);
  const events = [...stack.stolen].slice(0, 5).map((c) => payment(c, Date.now()));
  await put(
    k.client,
    k.stream,
    events.map((e) => ({ data: e, key: e.data.card_number })),
  );
  await stack.waitFor(
    'the payments read',
    async () => (await sample(stack.httpPort, 'payments_records_read_total', { event_type: 'PAYMENT_EVENT' }))! >= events.length,
    20_000,
    200,
  );

  proxy.setMode('refuse');
  const cutAt = Date.now();
  let health = await getJson(stack.httpPort, '/health');
  await stack.waitFor('/health to fail', async () => (health = await getJson(stack.httpPort, '/health')).status === 503, 30_000, 200);
  t.comment(`/health failed ${((Date.now() - cutAt) / 1000).toFixed(1)} s after Kinesis was cut`);
  t.match(health.body.stuck?.[0]?.reason, /no records read for .* while holding alerts/);
  const ready = await getJson(stack.httpPort, '/ready');
  t.equal(ready.status, 503);
  t.match(ready.body.reason, /waiting for kinesis/, `/ready says what it waits for: ${ready.body.reason}`);
  t.equal(await sample(stack.httpPort, 'payments_dependency_up', { dependency: 'kinesis' }), 0, 'payments_dependency_up{kinesis} = 0');
  t.equal(processor.child.exitCode, null, 'the process is still up');

  proxy.setMode('pass');
  await stack.waitFor('/health to recover', async () => (await getJson(stack.httpPort, '/health')).status === 200, 60_000, 250);
  t.equal(await sample(stack.httpPort, 'payments_dependency_up', { dependency: 'kinesis' }), 1, 'Kinesis up again');
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
