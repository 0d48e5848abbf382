/**
 * What one GetRecords batch becomes, record by record (step 1 of the shard task's loop): a valid
 * payment or card status change of this shard goes to the engine, a payment with an untrusted clock is alerted without
 * touching stream time, a payment keyed by something else than its card is re-published keyed by
 * it, a bad record becomes a reject, any other event is counted and skipped. Counted per batch, not
 * per record: a labelled counter update per record was a measurable share of the hot path.
 */
import type { _Record } from '@aws-sdk/client-kinesis';
import type { Logger } from 'pino';
import type { ShardEngine } from '../engine/index.js';
import type { PaymentsMetrics } from '../metrics.js';
import type { OutputEvent, RepublishedRecord } from '../sink/output.js';
import { classifyKinesisRecord, rejectedEvent, type ClassifyOptions } from './classify.js';
import { splitCardRef } from '../../../common/src/card-token.js';

export interface IntakeContext {
  shardId: string;
  engine: ShardEngine;
  /** Once per batch, not per record: the hot loop allocates nothing it can avoid. */
  options: ClassifyOptions;
  metrics: PaymentsMetrics;
  log: Logger;
}

/** One batch taken in: what it leaves to send before its commit. */
export interface Intake {
  /** PAYMENT_EVENT_REJECTED events, one per bad record. */
  rejects: OutputEvent[];
  /** Payments of another shard's card, to write again keyed by it. */
  republish: RepublishedRecord[];
}

/** Feeds `records` to the engine, in sequence order, and counts them by type. */
export function takeRecords(records: readonly _Record[], c: IntakeContext): Intake {
  const batch = new Batch(c);
  for (const record of records) batch.take(record);
  return batch.finish();
}

class Batch implements Intake {
  readonly rejects: OutputEvent[] = [];
  readonly republish: RepublishedRecord[] = [];
  readonly #c: IntakeContext;
  readonly #read = new Map<string, number>();
  #payments = 0;
  /** Payments whose clock was ahead of their arrival (counted once per batch). */
  #clockAhead = 0;

  constructor(c: IntakeContext) {
    this.#c = c;
  }

  /** Takes one record. A valid payment of this shard is counted as read, a misrouted one where it lands. */
  take(record: _Record): void {
    const { engine, options } = this.#c;
    const c = classifyKinesisRecord(record, options);
    // With the stolen set given, classify says `payment` for a stolen card's payment only.
    switch (c.kind) {
      case 'not_stolen':
        engine.onNotStolenPayment(c.eventTimeMs);
        this.#payments++;
        return;
      case 'payment':
        engine.onPayment(c.event, true, c.eventTimeMs);
        this.#payments++;
        return;
      case 'skip':
        this.#read.set(c.eventType, (this.#read.get(c.eventType) ?? 0) + 1);
        return;
      case 'clock_ahead':
        this.#clockAhead++;
        if (c.event) engine.onClockAheadPayment(c.event, c.eventTimeMs, c.arrivalMs);
        if (c.reject) this.#reject(record, c.reject.reason, c.reject.detail);
        this.#payments++;
        return;
      case 'status': {
        const { held, retro } = engine.onStatus(c);
        const status = c.stolen ? 'STOLEN' : 'ACTIVE';
        this.#read.set('CARD_STATUS_CHANGED', (this.#read.get('CARD_STATUS_CHANGED') ?? 0) + 1);
        this.#c.metrics.cardStatusChanges.inc({ status });
        // Rare, and the risk team's business: each one is logged, its card by token and masked form only.
        const { card_token, card_masked } = splitCardRef(c.card);
        this.#c.log.info(
          { shardId: this.#c.shardId, card_token, card_masked, status, effectiveAt: new Date(c.effectiveAtMs).toISOString(), held, retro },
          'card status changed',
        );
        return;
      }
      case 'misrouted':
        this.republish.push({ data: record.Data!, partitionKey: c.card });
        return;
      case 'reject':
        this.#reject(record, c.reason, c.detail);
        return;
    }
  }

  finish(): Intake {
    const { metrics, log, shardId } = this.#c;
    if (this.#payments > 0) this.#read.set('PAYMENT_EVENT', this.#payments);
    for (const [eventType, count] of this.#read) metrics.recordRead(eventType, count);
    if (this.#clockAhead > 0) {
      metrics.irregularPayment('clock_ahead', this.#clockAhead);
      log.debug({ shardId, payments: this.#clockAhead }, 'payments with a clock ahead of their arrival');
    }
    if (this.republish.length > 0) metrics.irregularPayment('misrouted', this.republish.length);
    return { rejects: this.rejects, republish: this.republish };
  }

  #reject(record: _Record, reason: Parameters<typeof rejectedEvent>[2], detail: string): void {
    const { metrics, log, shardId, options } = this.#c;
    metrics.recordRejected(reason);
    this.rejects.push(rejectedEvent(record, shardId, reason, detail, options.nowMs));
    log.debug({ shardId, reason, sequenceNumber: record.SequenceNumber }, 'record rejected');
  }
}
