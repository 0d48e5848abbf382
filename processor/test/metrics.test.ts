import t from 'tap';
import { readFile } from 'node:fs/promises';
import { Registry, register as globalRegistry } from 'prom-client';
import { ALERT_LATENCY_BUCKETS, createMetrics } from '../src/metrics.js';
import { parsePrometheusText, SAMPLE_LINE } from '../../common/src/prom-text.js';

const EXPECTED = {
  payments_records_read_total: { type: 'counter', labels: ['event_type'] },
  payments_records_rejected_total: { type: 'counter', labels: ['reason'] },
  payments_alerts_emitted_total: { type: 'counter', labels: ['late'] },
  payments_summaries_emitted_total: { type: 'counter', labels: [] },
  payments_shard_behind_latest_seconds: { type: 'gauge', labels: ['shard'] },
  payments_shard_watermark_lag_seconds: { type: 'gauge', labels: ['shard'] },
  payments_shard_state: { type: 'gauge', labels: ['shard', 'state'] },
  payments_alert_latency_seconds: { type: 'histogram', labels: [] },
  payments_window_fire_duration_seconds: { type: 'histogram', labels: [] },
  payments_state_keys: { type: 'gauge', labels: [] },
  payments_state_bytes: { type: 'gauge', labels: [] },
  payments_put_records_retries_total: { type: 'counter', labels: [] },
  payments_put_records_total: { type: 'counter', labels: [] },
  payments_leases_held: { type: 'gauge', labels: ['worker'] },
  payments_lease_takes_total: { type: 'counter', labels: [] },
  payments_lease_steals_total: { type: 'counter', labels: [] },
  payments_lease_renew_failures_total: { type: 'counter', labels: [] },
  payments_leases_lost_total: { type: 'counter', labels: [] },
  payments_rebuild_duration_seconds: { type: 'histogram', labels: [] },
  payments_records_replayed_total: { type: 'counter', labels: [] },
  payments_snapshots_total: { type: 'counter', labels: ['result'] },
  payments_snapshot_write_seconds: { type: 'histogram', labels: [] },
  payments_snapshot_bytes_total: { type: 'counter', labels: [] },
  payments_snapshot_restores_total: { type: 'counter', labels: ['result'] },
  payments_irregular_payments_total: { type: 'counter', labels: ['reason'] },
  payments_card_status_changes_total: { type: 'counter', labels: ['status'] },
  payments_retro_alerts_total: { type: 'counter', labels: [] },
  payments_shard_stuck: { type: 'gauge', labels: ['shard'] },
  payments_shard_step_duration_seconds: { type: 'gauge', labels: ['shard'] },
  payments_shard_task_failures_total: { type: 'counter', labels: [] },
  payments_dependency_up: { type: 'gauge', labels: ['dependency'] },
  payments_dependency_errors_total: { type: 'counter', labels: ['dependency'] },
  payments_unhandled_rejections_total: { type: 'counter', labels: [] },
  payments_housekeeping_deletions_total: { type: 'counter', labels: ['kind'] },
  payments_decode_path_total: { type: 'counter', labels: ['path'] },
} as const;

function setup() {
  const registry = new Registry();
  return { registry, metrics: createMetrics(registry) };
}

t.test('every metric is registered on the injected registry, none on the global one', async (t) => {
  const { registry } = setup();
  const ours = (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('payments_'));
  t.same(ours.map((m) => m.name).sort(), Object.keys(EXPECTED).sort());
  for (const m of ours) {
    const expected = EXPECTED[m.name as keyof typeof EXPECTED];
    t.equal(m.type, expected.type, `${m.name} type`);
  }
  t.notOk((await globalRegistry.getMetricsAsJSON()).some((m) => m.name.startsWith('payments_')));
  t.ok(registry.getSingleMetric('process_cpu_user_seconds_total'), 'default metrics on the same registry');
  t.ok(registry.getSingleMetric('nodejs_eventloop_lag_seconds'));
});

t.test('names follow Prometheus conventions', async (t) => {
  const { registry } = setup();
  for (const m of await registry.getMetricsAsJSON()) {
    if (!m.name.startsWith('payments_')) continue;
    t.match(m.name, /^payments_[a-z][a-z0-9_]*[a-z0-9]$/, m.name);
    if (String(m.type) === 'counter') t.match(m.name, /_total$/, `${m.name}: counters end in _total`);
    else t.notMatch(m.name, /_total$/, `${m.name}: only counters end in _total`);
    if (String(m.type) === 'histogram') t.match(m.name, /_seconds$/, `${m.name}: durations in seconds`);
    t.notMatch(m.name, /_(milli|micro)?(millis|ms|milliseconds|minutes|hours|kilobytes|megabytes)(_|$)/, `${m.name}: base units`);
    t.ok(m.help.length > 10, `${m.name} has help`);
  }
});

t.test('labels are bounded and never carry a card number', async (t) => {
  const { registry, metrics } = setup();
  metrics.recordRead('PAYMENT_EVENT');
  metrics.recordRead('PAYMENT_EVENT', 4);
  metrics.recordRead('4111111111111111');
  metrics.recordRead('SOMETHING_NEW');
  metrics.recordRejected('bad_data');
  metrics.recordRejected('card 4111111111111111 unknown');
  metrics.alertEmitted(true);
  metrics.alertEmitted(false, 2);
  const families = parsePrometheusText(await registry.metrics());
  const read = families.get('payments_records_read_total')!.samples;
  t.same(Object.fromEntries(read.map((s) => [s.labels.event_type, s.value])), {
    PAYMENT_EVENT: 5,
    CARD_STATUS_CHANGED: 0,
    PAYMENT_ALERT: 0,
    PAYMENT_ALERT_SUMMARY: 0,
    PAYMENT_EVENT_REJECTED: 0,
    OTHER: 2,
  });
  const rejected = families.get('payments_records_rejected_total')!.samples;
  t.same(Object.fromEntries(rejected.map((s) => [s.labels.reason, s.value])), {
    oversized: 0,
    not_utf8: 0,
    not_json: 0,
    bad_envelope: 0,
    bad_event_time: 0,
    future_event_time: 0,
    bad_card_number: 0,
    bad_amount: 0,
    bad_data: 1,
    other: 1,
  });
  const alerts = families.get('payments_alerts_emitted_total')!.samples;
  t.same(Object.fromEntries(alerts.map((s) => [s.labels.late, s.value])), { true: 1, false: 2 });
  t.notMatch(await registry.metrics(), '4111111111111111', 'the card number is nowhere in the output');
});

t.test('shard gauges are read from the owned shards at each scrape: state, seconds, stuck, and gone when not owned', async (t) => {
  const { registry, metrics } = setup();
  const progress = {
    step: 'send' as const,
    stepMs: 61_500,
    sinceCommitMs: 61_500,
    failures: 0,
    lastError: undefined,
    stuck: 'step "send" has lasted 61.5 s',
  };
  const status = (shardId: string, over: object = {}) => ({
    shardId,
    state: 'RUNNING' as const,
    watermarkMs: 1_000_000,
    idle: false,
    millisBehindLatest: 2_500,
    behindLatestMs: 2_500,
    progress,
    ...over,
  });
  let shards = [
    status('shardId-000000000001'),
    status('shardId-000000000002', {
      state: 'CREATED',
      watermarkMs: null,
      behindLatestMs: null,
      progress: { ...progress, step: 'waiting', stepMs: 10, stuck: undefined },
    }),
  ];
  let nowMs = 1_004_000;
  metrics.observeShards(() => ({ shards, nowMs }));
  let families = parsePrometheusText(await registry.metrics());
  const state = families.get('payments_shard_state')!.samples.filter((s) => s.labels.shard === 'shardId-000000000001');
  t.same(Object.fromEntries(state.map((s) => [s.labels.state, s.value])), { CREATED: 0, RESTORING: 0, RUNNING: 1, CLOSED: 0 });
  t.same(
    families.get('payments_shard_behind_latest_seconds')!.samples.map((s) => [s.labels.shard, s.value]),
    [['shardId-000000000001', 2.5]],
    'no series before a first read',
  );
  t.equal(families.get('payments_shard_watermark_lag_seconds')!.samples[0]?.value, 4);
  t.same(
    families.get('payments_shard_stuck')!.samples.map((s) => [s.labels.shard, s.value]),
    [
      ['shardId-000000000001', 1],
      ['shardId-000000000002', 0],
    ],
  );
  t.equal(families.get('payments_shard_step_duration_seconds')!.samples[0]?.value, 61.5);
  // A blocked shard's lag grows between scrapes with nothing pushed; a shard no longer owned disappears.
  nowMs += 10_000;
  shards = [status('shardId-000000000002', { state: 'RUNNING' })];
  families = parsePrometheusText(await registry.metrics());
  t.equal(families.get('payments_shard_watermark_lag_seconds')!.samples[0]?.value, 14, 'lag read at scrape time');
  for (const name of [
    'payments_shard_state',
    'payments_shard_behind_latest_seconds',
    'payments_shard_watermark_lag_seconds',
    'payments_shard_stuck',
    'payments_shard_step_duration_seconds',
  ]) {
    t.notOk(
      families.get(name)!.samples.some((s) => s.labels.shard === 'shardId-000000000001'),
      `${name} forgets the shard`,
    );
  }
  t.equal(families.get('payments_shard_state')!.samples.filter((s) => s.labels.shard === 'shardId-000000000002').length, 4);
});

t.test('irregular payments and dependencies are counted by bounded labels, from 0', async (t) => {
  const { registry, metrics } = setup();
  let families = parsePrometheusText(await registry.metrics());
  t.same(Object.fromEntries(families.get('payments_irregular_payments_total')!.samples.map((s) => [s.labels.reason, s.value])), {
    clock_ahead: 0,
    misrouted: 0,
  });
  t.same(Object.fromEntries(families.get('payments_dependency_up')!.samples.map((s) => [s.labels.dependency, s.value])), {
    kinesis: 0,
    lease_table: 0,
    state_store: 0,
  });
  metrics.irregularPayment('clock_ahead');
  metrics.irregularPayment('misrouted', 3);
  metrics.setDependency('kinesis', true);
  metrics.setDependency('lease_table', false);
  metrics.setDependency('lease_table', false);
  families = parsePrometheusText(await registry.metrics());
  t.same(Object.fromEntries(families.get('payments_irregular_payments_total')!.samples.map((s) => [s.labels.reason, s.value])), {
    clock_ahead: 1,
    misrouted: 3,
  });
  t.same(Object.fromEntries(families.get('payments_dependency_up')!.samples.map((s) => [s.labels.dependency, s.value])), {
    kinesis: 1,
    lease_table: 0,
    state_store: 0,
  });
  t.same(Object.fromEntries(families.get('payments_dependency_errors_total')!.samples.map((s) => [s.labels.dependency, s.value])), {
    kinesis: 0,
    lease_table: 2,
    state_store: 0,
  });
});

t.test('alert latency lands in the bucket around its target', async (t) => {
  const { registry, metrics } = setup();
  for (const target of [1, 2, 5]) t.ok((ALERT_LATENCY_BUCKETS as readonly number[]).includes(target), `bucket at ${target} s`);
  metrics.observeAlertLatency(10_900, 10_000); // 0.9 s
  metrics.observeAlertLatency(11_800, 10_000); // 1.8 s
  metrics.observeAlertLatency(9_000, 10_000); // clock skew: clamped to 0
  metrics.windowFireDuration.observe(0.002);
  metrics.setStateStats({ keys: 12, approximateBytes: 3456 });
  const families = parsePrometheusText(await registry.metrics());
  const buckets = Object.fromEntries(
    families
      .get('payments_alert_latency_seconds')!
      .samples.filter((s) => s.name.endsWith('_bucket'))
      .map((s) => [s.labels.le, s.value]),
  );
  t.equal(buckets['0.5'], 1);
  t.equal(buckets['1'], 2);
  t.equal(buckets['2'], 3);
  t.equal(buckets['+Inf'], 3);
  t.equal(families.get('payments_state_keys')!.samples[0]?.value, 12);
  t.equal(families.get('payments_state_bytes')!.samples[0]?.value, 3456);
});

t.test('exposition parses strictly, every sample line matches the line format', async (t) => {
  const { registry, metrics } = setup();
  metrics.recordRead('PAYMENT_EVENT');
  metrics.observeShards(() => ({
    shards: [
      {
        shardId: 'shardId-000000000001',
        state: 'RUNNING',
        watermarkMs: 0,
        idle: false,
        millisBehindLatest: 0,
        behindLatestMs: 0,
        progress: { step: 'read', stepMs: 1, sinceCommitMs: 1, failures: 0, lastError: undefined, stuck: undefined },
      },
    ],
    nowMs: 1_000,
  }));
  metrics.putRecords.inc(3);
  metrics.putRecordsRetries.inc();
  metrics.summariesEmitted.inc();
  const text = await registry.metrics();
  for (const line of text.split('\n')) if (line && !line.startsWith('#')) t.match(line, SAMPLE_LINE);
  const families = parsePrometheusText(text);
  for (const name of Object.keys(EXPECTED)) t.ok(families.has(name), name);
  t.throws(() => parsePrometheusText('# TYPE x counter\nx{a="1" 1\n'), /not a sample line/, 'the parser is strict');
  t.throws(() => parsePrometheusText('y 1\n'), /without a TYPE/);
});

t.test('docs/metrics.md documents every metric with its type and labels', async (t) => {
  const doc = await readFile(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  for (const [name, { type, labels }] of Object.entries(EXPECTED)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\``));
    t.ok(row, `${name} has a row`);
    t.match(row ?? '', new RegExp(`\\| ${type} \\|`), `${name} type documented`);
    for (const label of labels) t.match(row ?? '', `\`${label}\``, `${name} label ${label} documented`);
  }
});
