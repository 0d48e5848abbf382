/**
 * Contracts of the event-time engine: what it takes in, what it gives back, and the shape of the
 * state changes the runtime persists with its checkpoint. Types only; the configuration is in
 * options.ts, the stored format in codec.ts.
 */
import type { AlertEvent, SummaryEvent } from '../../../common/src/events.js';
import type { CardPayment } from '../../../common/src/payment-fast-path.js';
import type { SipKey } from './recent.js';

export type { EngineConfig } from './options.js';

/**
 * What the engine reads of a validated PAYMENT_EVENT of a stolen card. The card is named by its
 * card ref (token, masked form, route, key id: common/src/card-token.ts), never by its number:
 * nothing the engine holds, stores or emits can give the number back.
 */
export type PaymentInput = CardPayment;

/**
 * The stolen cards' refs by token (StolenCards). Stored panes name their card by token only (the
 * other ~50 characters of a ref, random to a compressor, were most of a stored pane's bytes), so
 * a restore takes each ref back from here; a card no longer on the stolen list has none.
 */
export interface CardDirectory {
  refOfToken(token: string): string | undefined;
  /**
   * The key of the cards' hashes in the engine's record of recent payments (for retro alerts):
   * derived from the processor's card key. Without it the engine keeps no such record.
   */
  readonly recordKey?: SipKey;
}

/**
 * What became of one payment, for the runtime's metrics (the engine keeps no counters: a restart
 * would reset them anyway, as Prometheus counters expect).
 * - not_stolen: only advanced the watermark.
 * - held: waits in its alert window until the watermark closes it.
 * - late: its window had closed on arrival; its alert (late: true) is queued at once.
 * - duplicate: this event_id was already taken in; nothing changed.
 * - clock_ahead: its event time was too far ahead of its arrival to be trusted; alerted at the
 *   next drain (clock_ahead_ms set), no window, no summary, no watermark move.
 * `summarized` is false when the payment is too old for any summary still to be emitted.
 */
export interface PaymentOutcome {
  readonly status: 'not_stolen' | 'held' | 'late' | 'duplicate' | 'clock_ahead';
  readonly summarized: boolean;
}

/** A CARD_STATUS_CHANGED as the engine takes it (ShardEngine.onStatus). */
export interface StatusInput {
  /** The card's ref (common/src/card-token.ts). */
  readonly card: string;
  /**
   * The card number, as ASCII digits: matched against the record of recent payments, which knows
   * cards only by their numbers, and never kept.
   */
  readonly number: Uint8Array;
  /** STOLEN (true) or ACTIVE (false). */
  readonly stolen: boolean;
  /** From when the status holds (epoch ms). */
  readonly effectiveAtMs: number;
}

/** What a report did to payments already read: held for their window, or alerted now as retro. */
export interface StatusOutcome {
  readonly held: number;
  readonly retro: number;
}

export interface IdleInput {
  /** Wall clock now (ms since the epoch). */
  readonly nowMs: number;
  /** True when the last GetRecords said MillisBehindLatest = 0 (no backlog). */
  readonly caughtUp: boolean;
  /**
   * Wall-clock instant of the shard's last event-time progress: the last payment that moved its
   * watermark (or when it started being read, if none has). Any other record (the processor's
   * own output, rejects, other event types, payments older than stream time) is not progress.
   */
  readonly lastProgressAtMs: number;
}

export type Emission = AlertEvent | SummaryEvent;

/**
 * State entries changed since the last `takeChanges()`: keys to write and keys to delete. A value
 * is JSON-able, or a Uint8Array holding its JSON text already encoded as UTF-8 (the store writes
 * those bytes as they are). Keys and values are described in codec.ts.
 */
export interface StateChanges {
  readonly puts: [string, unknown][];
  readonly dels: string[];
}
