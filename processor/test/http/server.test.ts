import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createMetrics } from '../../src/metrics.js';
import { buildHttpServer, type ProcessorStatus, type ShardStatus } from '../../src/http/server.js';
import { parsePrometheusText, SAMPLE_LINE } from '../../../common/src/prom-text.js';

const NOW = Date.parse('2026-11-27T04:31:34.123Z');

const progress = (over: Partial<ShardStatus['progress']> = {}): ShardStatus['progress'] => ({
  step: 'read',
  stepMs: 100,
  sinceCommitMs: 200,
  failures: 0,
  lastError: undefined,
  stuck: undefined,
  ...over,
});

const shard = (over: Partial<ShardStatus> = {}): ShardStatus => ({
  shardId: 'shardId-000000000000',
  state: 'RUNNING',
  watermarkMs: NOW - 1_000,
  idle: false,
  millisBehindLatest: 200,
  behindLatestMs: 200,
  progress: progress(),
  ...over,
});

/** A server over a mutable status; closed when the test ends. */
function serve(t: Test, initial: Partial<ProcessorStatus> = {}) {
  let current: ProcessorStatus = { shards: [shard()], nowMs: NOW, shuttingDown: false, dependencies: [], ...initial };
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const app = buildHttpServer({ registry, status: () => current });
  t.teardown(() => app.close());
  return {
    app,
    metrics,
    set(next: Partial<ProcessorStatus>) {
      current = { ...current, ...next };
    },
  };
}

t.test('GET /health', async (t) => {
  const s = serve(t);
  let res = await s.app.inject({ method: 'GET', url: '/health' });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { status: 'ok' });
  t.match(res.headers['content-type'], /^application\/json/);
  t.equal(res.headers['cache-control'], 'no-store');
  s.set({ shards: [shard({ state: 'RESTORING' })] });
  t.equal((await s.app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'alive even when not ready');
  s.set({ shuttingDown: true });
  res = await s.app.inject({ method: 'GET', url: '/health' });
  t.equal(res.statusCode, 503);
  t.same(res.json(), { status: 'shutting_down' });
});

t.test('GET /health fails while an owned shard is stuck, and says which and why', async (t) => {
  const s = serve(t, {
    shards: [
      shard(),
      shard({
        shardId: 'shardId-000000000001',
        progress: progress({ step: 'send', stepMs: 61_000, stuck: 'step "send" has lasted 61.0 s' }),
      }),
    ],
  });
  let res = await s.app.inject({ method: 'GET', url: '/health' });
  t.equal(res.statusCode, 503);
  t.same(res.json(), { status: 'stuck', stuck: [{ shardId: 'shardId-000000000001', reason: 'step "send" has lasted 61.0 s' }] });
  const ready = await s.app.inject({ method: 'GET', url: '/ready' });
  t.equal(ready.statusCode, 503, 'a stuck shard is not ready either');
  t.match(ready.json().shards[1].reason, /^stuck: step "send"/);
  s.set({ shards: [shard()] });
  res = await s.app.inject({ method: 'GET', url: '/health' });
  t.equal(res.statusCode, 200, 'live again once it moves');
  s.set({ dependencies: [{ name: 'kinesis', up: false, sinceMs: NOW - 20_000, error: 'ECONNREFUSED' }] });
  t.equal((await s.app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'a dependency down is waited for: live, not ready');
});

t.test('GET /ready', async (t) => {
  const ready = async (status: Partial<ProcessorStatus>) => {
    const s = serve(t, status);
    const res = await s.app.inject({ method: 'GET', url: '/ready' });
    return {
      code: res.statusCode,
      body: res.json() as { status: string; reason?: string; shards: Array<{ shardId: string; ready: boolean; reason?: string }> },
    };
  };

  t.test('every shard RUNNING with a fresh watermark: 200', async (t) => {
    const r = await ready({ shards: [shard(), shard({ shardId: 'shardId-000000000001', watermarkMs: NOW - 30_000 })] });
    t.equal(r.code, 200);
    t.equal(r.body.status, 'ready');
    t.same(
      r.body.shards.map((s) => s.ready),
      [true, true],
    );
    t.notOk('reason' in r.body);
  });

  for (const state of ['CREATED', 'RESTORING', 'CLOSED'] as const) {
    t.test(`a shard ${state}: 503 naming it`, async (t) => {
      const r = await ready({ shards: [shard(), shard({ shardId: 'shardId-000000000001', state })] });
      t.equal(r.code, 503);
      t.equal(r.body.status, 'not_ready');
      t.match(r.body.reason, '1 of 2 shards not ready');
      t.match(r.body.shards, [
        { shardId: 'shardId-000000000000', ready: true },
        { shardId: 'shardId-000000000001', ready: false, reason: `state is ${state}` },
      ]);
    });
  }

  t.test('a watermark more than 30 s old while behind the tip: 503 with the lag', async (t) => {
    const r = await ready({ shards: [shard({ watermarkMs: NOW - 45_000, millisBehindLatest: 60_000 })] });
    t.equal(r.code, 503);
    t.match(r.body.shards[0]?.reason, /watermark 45\.0 s behind now.*60000 ms behind the shard's tip/);
  });

  t.test('an old watermark on an idle shard: 200', async (t) => {
    const r = await ready({ shards: [shard({ watermarkMs: NOW - 3_600_000, idle: true })] });
    t.equal(r.code, 200);
  });

  t.test('a caught-up or idle shard that has not been read for longer than the bound: 503', async (t) => {
    const r = await ready({ shards: [shard({ watermarkMs: NOW - 3_600_000, millisBehindLatest: 0, idle: true, behindLatestMs: 45_000 })] });
    t.equal(r.code, 503);
    t.match(r.body.shards[0]?.reason, /up to 45\.0 s behind the shard's tip \(no read for that long\)/);
  });

  t.test('an old watermark on a caught-up shard (old records): 200', async (t) => {
    const r = await ready({ shards: [shard({ watermarkMs: NOW - 3_600_000, millisBehindLatest: 0 })] });
    t.equal(r.code, 200);
  });

  t.test('no watermark yet: ready only when idle or caught up', async (t) => {
    t.equal((await ready({ shards: [shard({ watermarkMs: null, millisBehindLatest: 5_000 })] })).code, 503);
    t.match((await ready({ shards: [shard({ watermarkMs: null, millisBehindLatest: 5_000 })] })).body.shards[0]?.reason, 'no watermark yet');
    t.equal((await ready({ shards: [shard({ watermarkMs: null, idle: true })] })).code, 200);
    t.equal((await ready({ shards: [shard({ watermarkMs: null, millisBehindLatest: 0 })] })).code, 200);
  });

  t.test('a dependency down: 503 naming it, what failed and for how long', async (t) => {
    const r = await ready({
      dependencies: [
        { name: 'lease_table', up: false, sinceMs: NOW - 12_500, error: 'Error ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:4568' },
        { name: 'kinesis', up: true, sinceMs: NOW - 1 },
      ],
    });
    t.equal(r.code, 503);
    t.match(r.body.reason, /^waiting for lease_table \(Error ECONNREFUSED/);
    t.match(r.body, { dependenciesDown: [{ name: 'lease_table', forSeconds: 12.5 }] });
  });

  t.test('while start-up waits (the state store): 503 saying for what', async (t) => {
    const r = await ready({ shards: [], starting: 'opening the state store' });
    t.equal(r.code, 503);
    t.equal(r.body.reason, 'starting: opening the state store');
  });

  t.test('exactly 30 s is within bound, 30.001 s is not', async (t) => {
    t.equal((await ready({ shards: [shard({ watermarkMs: NOW - 30_000 })] })).code, 200);
    t.equal((await ready({ shards: [shard({ watermarkMs: NOW - 30_001 })] })).code, 503);
  });

  t.test('no shard owned: 503', async (t) => {
    const r = await ready({ shards: [] });
    t.equal(r.code, 503);
    t.equal(r.body.reason, 'no shard owned yet');
  });

  t.test('shutting down: 503 even with healthy shards', async (t) => {
    const r = await ready({ shuttingDown: true });
    t.equal(r.code, 503);
    t.equal(r.body.reason, 'shutting down');
    t.same(
      r.body.shards.map((s) => s.ready),
      [true],
    );
  });

  t.test('readiness follows the status as it changes', async (t) => {
    const s = serve(t, { shards: [shard({ state: 'RESTORING' })] });
    t.equal((await s.app.inject({ method: 'GET', url: '/ready' })).statusCode, 503);
    s.set({ shards: [shard({ state: 'RUNNING' })] });
    t.equal((await s.app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
  });
});

t.test('GET /metrics: Prometheus text with every product metric', async (t) => {
  const s = serve(t);
  s.metrics.recordRead('PAYMENT_EVENT', 3);
  s.metrics.alertEmitted(false);
  s.metrics.observeShards(() => ({ shards: [shard({ behindLatestMs: 1200, watermarkMs: NOW - 2_000 })], nowMs: NOW }));
  s.metrics.observeAlertLatency(NOW, NOW - 1_500);
  const res = await s.app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4; charset=utf-8$/);
  for (const line of res.body.split('\n')) {
    if (line !== '' && !line.startsWith('#')) t.match(line, SAMPLE_LINE, 'name{labels} value');
  }
  const families = parsePrometheusText(res.body);
  for (const name of [
    'payments_records_read_total',
    'payments_records_rejected_total',
    'payments_alerts_emitted_total',
    'payments_summaries_emitted_total',
    'payments_shard_behind_latest_seconds',
    'payments_shard_watermark_lag_seconds',
    'payments_shard_state',
    'payments_alert_latency_seconds',
    'payments_window_fire_duration_seconds',
    'payments_state_keys',
    'payments_state_bytes',
    'payments_put_records_retries_total',
    'payments_put_records_total',
  ]) {
    t.ok(families.has(name), name);
  }
  t.equal(families.get('payments_records_read_total')?.samples.find((x) => x.labels.event_type === 'PAYMENT_EVENT')?.value, 3);
  t.equal(families.get('payments_shard_behind_latest_seconds')?.samples[0]?.value, 1.2);
  t.equal(families.get('payments_shard_watermark_lag_seconds')?.samples[0]?.value, 2);
  t.ok(families.has('process_cpu_user_seconds_total'), 'default metrics included');
});

t.test('unknown routes are 404 and probes accept HEAD', async (t) => {
  const s = serve(t);
  t.equal((await s.app.inject({ method: 'GET', url: '/nope' })).statusCode, 404);
  t.equal((await s.app.inject({ method: 'HEAD', url: '/health' })).statusCode, 200);
});

t.test('a pino logger is accepted and probes are not logged', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const registry = new Registry();
  const app = buildHttpServer({
    registry,
    status: () => ({ shards: [shard()], nowMs: NOW, shuttingDown: false, dependencies: [] }),
    logger: pino(sink),
  });
  t.teardown(() => app.close());
  t.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
  t.same(lines, []);
});

t.test('a bad readiness bound is refused at construction', async (t) => {
  t.throws(
    () =>
      buildHttpServer({
        registry: new Registry(),
        status: () => ({ shards: [], nowMs: 0, shuttingDown: false, dependencies: [] }),
        maxWatermarkLagMs: 0,
      }),
    RangeError,
  );
});
