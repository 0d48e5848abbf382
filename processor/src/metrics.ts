/**
 * The processor's Prometheus metrics, on a registry the caller injects (never prom-client's
 * global one, so that tests read their own). Every metric is listed in docs/metrics.md.
 *
 * Conventions: `payments_` prefix, base units (seconds, bytes), counters end in `_total`.
 * Labels are bounded: event_type is one of EVENT_TYPES or OTHER, reason one of PAYMENT_REJECT_REASONS or
 * other, shard one of the shards this process owns now, and no label or help text ever carries a
 * card number. The per-shard gauges are read from the shards' status at each scrape
 * (`observeShards`), not pushed: a shard that is blocked still shows its lag growing, and a shard
 * released or gone has no series left.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CARD_STATUSES, EVENT_TYPES, PAYMENT_REJECT_REASONS, type EventType, type PaymentRejectReason } from '../../common/src/events.js';
import { SHARD_STATES, type ShardStatus } from './http/status.js';
import { DEPENDENCIES, type DependencyName } from './dependencies.js';
import { DECODE_PATHS, decodePathCounts } from './source/classify.js';
import type { Emission } from './engine/index.js';

/** Why a valid payment was not processed as usual on the shard it was read from (see classify.ts). */
export const IRREGULAR_REASONS = ['clock_ahead', 'misrouted'] as const;
export type IrregularReason = (typeof IRREGULAR_REASONS)[number];

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
  readonly snapshotsWritten: Counter<'result'>;
  readonly snapshotWriteDuration: Histogram;
  readonly snapshotBytes: Counter;
  readonly snapshotRestores: Counter<'result'>;
  readonly irregularPayments: Counter<'reason'>;
  readonly cardStatusChanges: Counter<'status'>;
  readonly retroAlerts: Counter;
  readonly shardStuck: Gauge<'shard'>;
  readonly shardStepDuration: Gauge<'shard'>;
  readonly shardTaskFailures: Counter;
  readonly dependencyUp: Gauge<'dependency'>;
  readonly dependencyErrors: Counter<'dependency'>;
  readonly unhandledRejections: Counter;
  readonly housekeepingDeletions: Counter<'kind'>;

  /** Counts one record read, its type folded to OTHER unless known. */
  recordRead(eventType: string, count?: number): void;
  /** Counts one rejected record, its reason folded to `other` unless known. */
  recordRejected(reason: string, count?: number): void;
  alertEmitted(late: boolean, count?: number): void;
  /** Counts what one chunk sent: alerts on time and late (and their latency), summaries. */
  /** Counts a chunk of emissions once Kinesis acknowledged them (`tallyEmissions` taken before sending). */
  emissionsSent(sent: EmissionTally, nowMs: number): void;
  /** Alert latency = alert creation − payment event time (negative skew is clamped to 0). */
  observeAlertLatency(alertCreatedMs: number, paymentEventMs: number): void;
  /** Counts a valid payment set aside on the shard it was read from. */
  irregularPayment(reason: IrregularReason, count?: number): void;
  /**
   * The per-shard gauges (state, behind latest, watermark lag, stuck, step duration) are read from
   * `shards` at every scrape: the shards this process owns now, as they are now.
   */
  observeShards(shards: () => { shards: readonly ShardStatus[]; nowMs: number }): void;
  setDependency(dependency: DependencyName, up: boolean): void;
  setStateStats(stats: { keys: number; approximateBytes: number }): void;
}

/**
 * What the metrics need of a chunk of emissions, taken before it is sent, so that the emissions
 * themselves can be dropped during Kinesis's round trip (see ShardTask#emitAndCommit).
 */
export interface EmissionTally {
  summaries: number;
  onTime: number;
  late: number;
  retro: number;
  /** The payment event time of each alert but the retro ones, for the alert latency. */
  alertPaymentTimesMs: number[];
}

export function tallyEmissions(emissions: readonly Emission[]): EmissionTally {
  const t: EmissionTally = { summaries: 0, onTime: 0, late: 0, retro: 0, alertPaymentTimesMs: [] };
  for (const e of emissions) {
    if (e.event_type !== 'PAYMENT_ALERT') {
      t.summaries++;
      continue;
    }
    if (e.data.late) t.late++;
    else t.onTime++;
    if (e.data.retro) t.retro++;
    else t.alertPaymentTimesMs.push(Date.parse(e.data.payment_date_origin));
  }
  return t;
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
  let shardsNow: () => { shards: readonly ShardStatus[]; nowMs: number } = () => ({ shards: [], nowMs: Date.now() });
  const shardBehindLatest = new Gauge({
    name: 'payments_shard_behind_latest_seconds',
    help: "How far an owned shard may be behind its tip: the last read's Kinesis MillisBehindLatest, plus the time since that read once it is over a second old (grows while the shard is not read), in seconds.",
    labelNames: ['shard'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of shardsNow().shards) if (s.behindLatestMs !== null) this.set({ shard: s.shardId }, s.behindLatestMs / 1000);
    },
  });
  const shardWatermarkLag = new Gauge({
    name: 'payments_shard_watermark_lag_seconds',
    help: "Wall-clock now minus an owned shard's event-time watermark, in seconds.",
    labelNames: ['shard'] as const,
    registers,
    collect() {
      this.reset();
      const { shards, nowMs } = shardsNow();
      for (const s of shards) if (s.watermarkMs !== null) this.set({ shard: s.shardId }, (nowMs - s.watermarkMs) / 1000);
    },
  });
  const shardState = new Gauge({
    name: 'payments_shard_state',
    help: 'Lifecycle state of each owned shard: 1 for the current state, 0 for the others.',
    labelNames: ['shard', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of shardsNow().shards) for (const state of SHARD_STATES) this.set({ shard: s.shardId, state }, state === s.state ? 1 : 0);
    },
  });
  const shardStuck = new Gauge({
    name: 'payments_shard_stuck',
    help: 'An owned shard that made no progress for STUCK_AFTER_MS although it had work (1), else 0; any 1 fails /health.',
    labelNames: ['shard'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of shardsNow().shards) this.set({ shard: s.shardId }, s.progress.stuck ? 1 : 0);
    },
  });
  const shardStepDuration = new Gauge({
    name: 'payments_shard_step_duration_seconds',
    help: "How long an owned shard's current step (read, process, send, commit, restore, or waiting for a task) has lasted, in seconds.",
    labelNames: ['shard'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of shardsNow().shards) this.set({ shard: s.shardId }, s.progress.stepMs / 1000);
    },
  });
  const shardTaskFailures = new Counter({
    name: 'payments_shard_task_failures_total',
    help: 'Shard tasks that ended with an error (each is logged and started again from its checkpoint).',
    registers,
  });
  const cardStatusChanges = new Counter({
    name: 'payments_card_status_changes_total',
    help: 'CARD_STATUS_CHANGED records taken in, by the status they report (STOLEN or ACTIVE).',
    labelNames: ['status'] as const,
    registers,
  });
  const retroAlerts = new Counter({
    name: 'payments_retro_alerts_total',
    help: 'Alerts sent with retro: true: payments read before their card was reported stolen (also counted in payments_alerts_emitted_total, left out of the alert latency).',
    registers,
  });
  const irregularPayments = new Counter({
    name: 'payments_irregular_payments_total',
    help: 'Valid payments not processed as usual where they were read, by reason: clock_ahead (event time too far ahead of arrival: alerted at once if stolen, no stream time), misrouted (not keyed by card: re-published keyed by card).',
    labelNames: ['reason'] as const,
    registers,
  });
  const dependencyUp = new Gauge({
    name: 'payments_dependency_up',
    help: 'Whether a dependency answered its last call: 1 yes, 0 no (waited for with retries).',
    labelNames: ['dependency'] as const,
    registers,
  });
  const dependencyErrors = new Counter({
    name: 'payments_dependency_errors_total',
    help: 'Failed calls to a dependency (each retried).',
    labelNames: ['dependency'] as const,
    registers,
  });
  // Read at each scrape from classify.ts's process-wide tally (it counts every record it decides).
  new Counter({
    name: 'payments_decode_path_total',
    help: 'Input records by what decided them: scanner (canonical payment, hand scanner), compiled (checks compiled from the zod schemas), zod (those refused; zod gave the verdict), parse (not UTF-8 or JSON, a repeated key, too deep), skipped (oversized, or our own output known by its first bytes).',
    labelNames: ['path'] as const,
    registers,
    collect() {
      this.reset();
      for (const path of DECODE_PATHS) this.inc({ path }, decodePathCounts[path]);
    },
  });
  const housekeepingDeletions = new Counter({
    name: 'payments_housekeeping_deletions_total',
    help: 'Housekeeping deletions: kind="lease" a finished lease whose children took over, kind="state" the local state of a shard no longer owned.',
    labelNames: ['kind'] as const,
    registers,
  });
  const unhandledRejections = new Counter({
    name: 'payments_unhandled_rejections_total',
    help: 'Promise rejections no code handled (a bug): logged, never fatal.',
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

  const snapshotsWritten = new Counter({
    name: 'payments_snapshots_total',
    help: 'State snapshots of a shard written to the snapshot store (result: written, failed).',
    labelNames: ['result'] as const,
    registers,
  });
  const snapshotWriteDuration = new Histogram({
    name: 'payments_snapshot_write_seconds',
    help: "Time to export, compress and upload one shard's state snapshot (in the background of its task).",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const snapshotBytes = new Counter({
    name: 'payments_snapshot_bytes_total',
    help: 'Bytes of state snapshots uploaded (gzip); its rate is the upload bandwidth snapshots take.',
    registers,
  });
  const snapshotRestores = new Counter({
    name: 'payments_snapshot_restores_total',
    help: 'Snapshots a new owner started from (used), refused as invalid (invalid), or could not list (unreadable).',
    labelNames: ['result'] as const,
    registers,
  });

  // Known label values start at 0, so rates and absent-series alerts work from the first scrape.
  for (const t of [...EVENT_TYPES, 'OTHER']) recordsRead.inc({ event_type: t }, 0);
  for (const r of [...PAYMENT_REJECT_REASONS, 'other']) recordsRejected.inc({ reason: r }, 0);
  for (const late of ['true', 'false']) alertsEmitted.inc({ late }, 0);
  for (const reason of IRREGULAR_REASONS) irregularPayments.inc({ reason }, 0);
  for (const status of CARD_STATUSES) cardStatusChanges.inc({ status }, 0);
  for (const kind of ['lease', 'state']) housekeepingDeletions.inc({ kind }, 0);
  for (const result of ['written', 'failed']) snapshotsWritten.inc({ result }, 0);
  for (const result of ['used', 'invalid', 'unreadable']) snapshotRestores.inc({ result }, 0);
  for (const dependency of DEPENDENCIES) {
    dependencyErrors.inc({ dependency }, 0);
    dependencyUp.set({ dependency }, 0);
  }

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
    snapshotsWritten,
    snapshotWriteDuration,
    snapshotBytes,
    snapshotRestores,
    irregularPayments,
    cardStatusChanges,
    retroAlerts,
    shardStuck,
    shardStepDuration,
    shardTaskFailures,
    dependencyUp,
    dependencyErrors,
    unhandledRejections,
    housekeepingDeletions,

    recordRead(eventType, count = 1) {
      recordsRead.inc({ event_type: eventTypeLabel(eventType) }, count);
    },
    recordRejected(reason, count = 1) {
      recordsRejected.inc({ reason: rejectReasonLabel(reason) }, count);
    },
    alertEmitted(late, count = 1) {
      alertsEmitted.inc({ late: late ? 'true' : 'false' }, count);
    },
    emissionsSent(sent, nowMs) {
      // A retro alert's delay is the report's, not the processor's: its time is not in the tally.
      for (const eventMs of sent.alertPaymentTimesMs) alertLatency.observe(Math.max(0, nowMs - eventMs) / 1000);
      // Labelled counters once per chunk, not per alert.
      if (sent.onTime > 0) alertsEmitted.inc({ late: 'false' }, sent.onTime);
      if (sent.late > 0) alertsEmitted.inc({ late: 'true' }, sent.late);
      if (sent.summaries > 0) summariesEmitted.inc(sent.summaries);
      if (sent.retro > 0) retroAlerts.inc(sent.retro);
    },
    observeAlertLatency(alertCreatedMs, paymentEventMs) {
      alertLatency.observe(Math.max(0, alertCreatedMs - paymentEventMs) / 1000);
    },
    irregularPayment(reason, count = 1) {
      irregularPayments.inc({ reason }, count);
    },
    observeShards(shards) {
      shardsNow = shards;
    },
    setDependency(dependency, up) {
      dependencyUp.set({ dependency }, up ? 1 : 0);
      if (!up) dependencyErrors.inc({ dependency });
    },
    setStateStats(stats) {
      stateKeys.set(stats.keys);
      stateBytes.set(stats.approximateBytes);
    },
  };
}
