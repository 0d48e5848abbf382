/**
 * The generate-and-publish loop. Paced by a Pacer, gated by the producer's `ready()` (so a slow or
 * throttled stream slows generation instead of growing memory), one `send()` per event so each
 * event's acknowledgement is known on its own (for the count and for --out-events).
 *
 * Stopping (the signal aborts, or --count is reached) ends generation; everything generated is
 * then flushed: the loop returns only when every event is acknowledged or has failed for good.
 * The first ProducerError (a non-retriable refusal) also stops generation: events are never
 * dropped silently, the failure is returned in the totals.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { encodeEvent, type CardStatusEvent, type PaymentEvent } from '../../common/src/events.js';
import type { KinesisProducer } from '../../common/src/producer.js';
import { sleep as defaultSleep } from '../../common/src/retry.js';
import { Pacer } from './pacer.js';
import type { PartitionKeyMode } from './options.js';

/** Events generated per loop turn at most (one PutRecords worth). */
const MAX_PER_TURN = 500;

export interface RunOptions {
  rate: number | 'max';
  count?: number | undefined;
  signal: AbortSignal;
  /** 'card' (the default) keeps a card's events on one shard; 'event-id' scatters them. */
  partitionKey?: PartitionKeyMode | undefined;
}

/** What the simulator publishes: payments, and (with --report-rate) card status changes. Both are keyed by card. */
export type SimulatedEvent = PaymentEvent | CardStatusEvent;

export interface RunDeps {
  producer: KinesisProducer;
  generate: () => PaymentEvent;
  /** Card status changes published beside the payments, `rate` per second (not counted in --count). */
  reports?: { rate: number; generate: () => CardStatusEvent } | undefined;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called once per acknowledged event, in acknowledgement order, with its JSON text. */
  onAcknowledged?: (event: SimulatedEvent, json: string) => void;
}

export interface RunTotals {
  generated: number;
  /** Card status changes generated (--report-rate). */
  reports: number;
  sent: number;
  retried: number;
  failed: number;
  throttles: number;
  errors: number;
  elapsedMs: number;
  /** sent / elapsed seconds. */
  rate: number;
  /** Schedule skipped after stalls (see Pacer). */
  skippedMs: number;
  /** The first delivery failure, if any. */
  error?: Error | undefined;
}

/** Live counters of a run, for the progress line. */
export class RunState {
  generated = 0;
  reports = 0;
  sent = 0;
  failed = 0;
  error: Error | undefined;
}

export async function runSimulation(options: RunOptions, deps: RunDeps, state = new RunState()): Promise<RunTotals> {
  const { producer, generate } = deps;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const { signal } = options;
  const limit = options.count ?? Infinity;
  const started = now();
  const pacer = new Pacer(options.rate, started);
  const reportPacer = deps.reports ? new Pacer(deps.reports.rate, started) : undefined;
  const keyOf = options.partitionKey === 'event-id' ? (e: SimulatedEvent) => e.event_id : (e: SimulatedEvent) => e.data.card_number;

  const publish = (event: SimulatedEvent) => {
    const data = encodeEvent(event);
    producer.send([{ data, partitionKey: keyOf(event) }]).then(
      () => {
        state.sent++;
        deps.onAcknowledged?.(event, Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
      },
      (error: Error) => {
        state.failed++;
        state.error ??= error;
      },
    );
  };

  while (!signal.aborted && state.generated < limit && state.error === undefined) {
    const reports = reportPacer ? Math.min(reportPacer.due(now()), MAX_PER_TURN) : 0;
    for (let i = 0; i < reports; i++) publish(deps.reports!.generate());
    reportPacer?.take(reports);
    state.reports += reports;
    const n = Math.min(pacer.due(now()), limit - state.generated, MAX_PER_TURN);
    if (n <= 0) {
      const wait = Math.min(pacer.waitMs(now()), reportPacer?.waitMs(now()) ?? Infinity);
      await sleep(Math.max(1, Math.ceil(wait)), signal);
      continue;
    }
    await producer.ready(signal);
    if (signal.aborted) break;
    for (let i = 0; i < n; i++) publish(generate());
    pacer.take(n);
    state.generated += n;
    // Unpaced, nothing else would let timers and sockets run between turns.
    if (options.rate === 'max') await yieldToLoop();
  }
  await producer.flush();
  const elapsedMs = now() - started;
  const c = producer.counters;
  return {
    generated: state.generated,
    reports: state.reports,
    sent: state.sent,
    retried: c.recordsRetried,
    failed: state.failed,
    throttles: c.throttles,
    errors: c.errors,
    elapsedMs,
    rate: elapsedMs > 0 ? (state.sent * 1000) / elapsedMs : 0,
    skippedMs: Math.round(pacer.skippedMs),
    error: state.error,
  };
}
