/**
 * The processor's Prometheus metrics, on a registry the caller injects (never prom-client's
 * global one, so that tests read their own). Every metric is listed in docs/metrics.md.
 *
 * Conventions: `payments_` prefix, base units (seconds, bytes), counters end in `_total`.
 * Labels are bounded: event_type is one of EVENT_TYPES or OTHER, reason one of PAYMENT_REJECT_REASONS or
 * other, shard one of the shards this process owns (call `removeShard` when one is released), and
 * no label or help text ever carries a card number.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { EVENT_TYPES, PAYMENT_REJECT_REASONS, type EventType, type PaymentRejectReason } from '../../common/src/events.js';
import { SHARD_STATES, type ShardState } from './http/status.js';

export type EventTypeLabel = EventType | 'OTHER';
export type RejectReasonLabel = PaymentRejectReason | 'other';

/** Seconds. Bucket edges at 1, 2 and 5 s, around the alerting latency targets. */
export const ALERT_LATENCY_BUCKETS = [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60] as const;
/** Seconds. Firing the due windows of one batch is expected to take milliseconds. */
export const WINDOW_FIRE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] as const;

export function eventTypeLabel(eventType: string): EventTypeLabel {
  return (EVENT_TYPES as readonly string[]).includes(eventType) ? (eventType as EventType) : 'OTHER';
}

export function rejectReasonLabel(reason: string): RejectReasonLabel {
  return (PAYMENT_REJECT_REASONS as readonly string[]).includes(reason) ? (reason as PaymentRejectReason) : 'other';
}

export interface PaymentsMetrics {
  readonly registry: Registry;
  readonly recordsRead: Counter<'event_type'>;
  readonly recordsRejected: Counter<'reason'>;
  readonly alertsEmitted: Counter<'late'>;
  readonly summariesEmitted: Counter;
  readonly shardBehindLatest: Gauge<'shard'>;
  readonly shardWatermarkLag: Gauge<'shard'>;
  readonly shardState: Gauge<'shard' | 'state'>;
  readonly alertLatency: Histogram;
  readonly windowFireDuration: Histogram;
  readonly stateKeys: Gauge;
  readonly stateBytes: Gauge;
  readonly putRecordsRetries: Counter;
  readonly putRecords: Counter;
  readonly leasesHeld: Gauge<'worker'>;
  readonly leaseTakes: Counter;
  readonly leaseSteals: Counter;
  readonly leaseRenewFailures: Counter;
  readonly leasesLost: Counter;
  readonly rebuildDuration: Histogram;
  readonly recordsReplayed: Counter;

  /** Counts one record read, its type folded to OTHER unless known. */
  recordRead(eventType: string, count?: number): void;
  /** Counts one rejected record, its reason folded to `other` unless known. */
  recordRejected(reason: string, count?: number): void;
  alertEmitted(late: boolean, count?: number): void;
  /** Alert latency = alert creation − payment event time (negative skew is clamped to 0). */
  observeAlertLatency(alertCreatedMs: number, paymentEventMs: number): void;
  /** Sets 1 for the shard's current state and 0 for the others. */
  setShardState(shard: string, state: ShardState): void;
  setBehindLatest(shard: string, millisBehindLatest: number): void;
  /** Watermark lag = now − watermark; not set while the shard has no watermark. */
  setWatermarkLag(shard: string, watermarkMs: number, nowMs: number): void;
  /** Drops every series of a shard this process no longer owns (keeps `shard` bounded). */
  removeShard(shard: string): void;
  setStateStats(stats: { keys: number; approximateBytes: number }): void;
}

/** Defines every metric, plus Node's default process metrics, on `registry`. Call once per registry. */
export function createMetrics(registry: Registry): PaymentsMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const recordsRead = new Counter({
    name: 'payments_records_read_total',
    help: 'Records read from the input stream, by event type (unknown types as OTHER).',
    labelNames: ['event_type'] as const,
    registers,
  });
  const recordsRejected = new Counter({
    name: 'payments_records_rejected_total',
    help: 'Input records rejected (emitted as PAYMENT_EVENT_REJECTED), by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const alertsEmitted = new Counter({
    name: 'payments_alerts_emitted_total',
    help: 'PAYMENT_ALERT records acknowledged by the output stream, by whether the payment was late.',
    labelNames: ['late'] as const,
    registers,
  });
  const summariesEmitted = new Counter({
    name: 'payments_summaries_emitted_total',
    help: 'PAYMENT_ALERT_SUMMARY records acknowledged by the output stream.',
    registers,
  });
  const shardBehindLatest = new Gauge({
    name: 'payments_shard_behind_latest_seconds',
    help: "How far the last read of a shard was behind the shard's tip (Kinesis MillisBehindLatest, in seconds).",
    labelNames: ['shard'] as const,
    registers,
  });
  const shardWatermarkLag = new Gauge({
    name: 'payments_shard_watermark_lag_seconds',
    help: "Wall-clock now minus the shard's event-time watermark, in seconds.",
    labelNames: ['shard'] as const,
    registers,
  });
  const shardState = new Gauge({
    name: 'payments_shard_state',
    help: 'Lifecycle state of each owned shard: 1 for the current state, 0 for the others.',
    labelNames: ['shard', 'state'] as const,
    registers,
  });
  const alertLatency = new Histogram({
    name: 'payments_alert_latency_seconds',
    help: 'Alert creation time minus the payment event time, in seconds.',
    buckets: [...ALERT_LATENCY_BUCKETS],
    registers,
  });
  const windowFireDuration = new Histogram({
    name: 'payments_window_fire_duration_seconds',
    help: 'Time to fire the windows and panes that closed after one batch of records, in seconds.',
    buckets: [...WINDOW_FIRE_BUCKETS],
    registers,
  });
  const stateKeys = new Gauge({
    name: 'payments_state_keys',
    help: 'Keys in the state store (engine entries, checkpoints and stolen cards).',
    registers,
  });
  const stateBytes = new Gauge({
    name: 'payments_state_bytes',
    help: 'Approximate size of the state store in bytes (LevelDB: on disk, excluding the unflushed write buffer).',
    registers,
  });
  const putRecordsRetries = new Counter({
    name: 'payments_put_records_retries_total',
    help: 'Records resent to the output stream because a PutRecords request did not deliver them (throttling, partial failure, unavailability).',
    registers,
  });
  const putRecords = new Counter({
    name: 'payments_put_records_total',
    help: 'PutRecords requests sent to the output stream, retries included.',
    registers,
  });

  const leasesHeld = new Gauge({
    name: 'payments_leases_held',
    help: 'Shard leases this worker holds now (label: the worker id, one per process).',
    labelNames: ['worker'] as const,
    registers,
  });
  const leaseTakes = new Counter({
    name: 'payments_lease_takes_total',
    help: 'Leases this worker won because they were free or expired.',
    registers,
  });
  const leaseSteals = new Counter({
    name: 'payments_lease_steals_total',
    help: 'Leases this worker took from a live worker to even the spread.',
    registers,
  });
  const leaseRenewFailures = new Counter({
    name: 'payments_lease_renew_failures_total',
    help: 'Lease renewals that failed for another reason than a conflict (throttling, network).',
    registers,
  });
  const leasesLost = new Counter({
    name: 'payments_leases_lost_total',
    help: 'Leases this worker lost (taken by another worker, or not renewed in time).',
    registers,
  });
  const rebuildDuration = new Histogram({
    name: 'payments_rebuild_duration_seconds',
    help: "Time to rebuild a shard's state by replaying the shard (a take-over, a lost disk, a parent).",
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const recordsReplayed = new Counter({
    name: 'payments_records_replayed_total',
    help: 'Records replayed to rebuild shard state (nothing is emitted for them).',
    registers,
  });

  // Known label values start at 0, so rates and absent-series alerts work from the first scrape.
  for (const t of [...EVENT_TYPES, 'OTHER']) recordsRead.inc({ event_type: t }, 0);
  for (const r of [...PAYMENT_REJECT_REASONS, 'other']) recordsRejected.inc({ reason: r }, 0);
  for (const late of ['true', 'false']) alertsEmitted.inc({ late }, 0);

  return {
    registry,
    recordsRead,
    recordsRejected,
    alertsEmitted,
    summariesEmitted,
    shardBehindLatest,
    shardWatermarkLag,
    shardState,
    alertLatency,
    windowFireDuration,
    stateKeys,
    stateBytes,
    putRecordsRetries,
    putRecords,
    leasesHeld,
    leaseTakes,
    leaseSteals,
    leaseRenewFailures,
    leasesLost,
    rebuildDuration,
    recordsReplayed,

    recordRead(eventType, count = 1) {
      recordsRead.inc({ event_type: eventTypeLabel(eventType) }, count);
    },
    recordRejected(reason, count = 1) {
      recordsRejected.inc({ reason: rejectReasonLabel(reason) }, count);
    },
    alertEmitted(late, count = 1) {
      alertsEmitted.inc({ late: late ? 'true' : 'false' }, count);
    },
    observeAlertLatency(alertCreatedMs, paymentEventMs) {
      alertLatency.observe(Math.max(0, alertCreatedMs - paymentEventMs) / 1000);
    },
    setShardState(shard, state) {
      for (const s of SHARD_STATES) shardState.set({ shard, state: s }, s === state ? 1 : 0);
    },
    setBehindLatest(shard, millisBehindLatest) {
      shardBehindLatest.set({ shard }, millisBehindLatest / 1000);
    },
    setWatermarkLag(shard, watermarkMs, nowMs) {
      shardWatermarkLag.set({ shard }, (nowMs - watermarkMs) / 1000);
    },
    removeShard(shard) {
      shardBehindLatest.remove({ shard });
      shardWatermarkLag.remove({ shard });
      for (const state of SHARD_STATES) shardState.remove({ shard, state });
    },
    setStateStats(stats) {
      stateKeys.set(stats.keys);
      stateBytes.set(stats.approximateBytes);
    },
  };
}
