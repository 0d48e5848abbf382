/**
 * Contracts of the event-time engine: its configuration (validated once, frozen), what it takes in,
 * what it gives back, and the shape of the state changes the runtime persists with its checkpoint.
 */
import { z } from 'zod';
import { ConfigError } from '../../../common/src/errors.js';
import type { AlertEvent, PaymentData, SummaryEvent } from '../../../common/src/events.js';

const ms = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();

export const engineConfigSchema = z
  .strictObject({
    /** How far behind the highest event time seen the watermark trails (Kafka Streams' grace). */
    outOfOrdernessMs: ms,
    /** Quiet time after which a caught-up shard's watermark follows the wall clock. */
    idleTimeoutMs: ms,
    /** How far behind the wall clock an idle shard's watermark stays. */
    idleLagMs: ms,
    /** Tumbling alert window size; windows are aligned to the epoch. */
    alertWindowMs: positiveMs,
    /** Summary boundary period; also the pane size of the summary aggregates. */
    summaryEveryMs: positiveMs,
    /** Look-back of one summary: [T - summaryRangeMs, T). */
    summaryRangeMs: positiveMs,
    /** Most payment ids listed in one summary (the event schema allows 100). */
    maxSummaryIds: z.number().int().min(1).max(100),
  })
  .refine((c) => c.summaryRangeMs % c.summaryEveryMs === 0, {
    message: 'summaryRangeMs must be a multiple of summaryEveryMs (panes tile the summary range)',
    path: ['summaryRangeMs'],
  });

export type EngineConfig = Readonly<z.infer<typeof engineConfigSchema>>;

export const DEFAULT_ENGINE_CONFIG: EngineConfig = Object.freeze({
  outOfOrdernessMs: 1_000,
  idleTimeoutMs: 5_000,
  idleLagMs: 3_000,
  alertWindowMs: 5_000,
  summaryEveryMs: 10_000,
  summaryRangeMs: 3_600_000,
  maxSummaryIds: 100,
});

/** Defaults overlaid with `overrides`, validated (every problem listed in one ConfigError) and frozen. */
export function engineConfig(overrides: Partial<EngineConfig> = {}): EngineConfig {
  const result = engineConfigSchema.safeParse({ ...DEFAULT_ENGINE_CONFIG, ...overrides });
  if (!result.success) {
    throw new ConfigError(
      'engine',
      result.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`),
    );
  }
  return Object.freeze(result.data);
}

/** The part of a validated PAYMENT_EVENT the engine reads; a PaymentEvent satisfies it. */
export interface PaymentInput {
  readonly event_id: string;
  /** The payment's event time (ISO-8601 UTC, already validated). */
  readonly event_date_origin: string;
  readonly data: PaymentData;
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
 * State entries changed since the last `takeChanges()`: keys to write (with JSON-able values) and
 * keys to delete. Keys: `meta`, `win/<windowStart>/<eventTime>/<paymentId>` (a group of held
 * payments of one window), `panes/<paneStart>/<group>` (a group of panes of one pane start); times
 * and numbers zero-padded to 13 digits. See alerts.ts and panes.ts.
 */
export interface StateChanges {
  readonly puts: [string, unknown][];
  readonly dels: string[];
}

/** Stored state that cannot be read back: not retriable, the store needs attention. */
export class EngineStateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineStateError';
  }
}

/** Fixed-width decimal time for state keys (lexicographic order = numeric order for t ≥ 0). */
export function padTime(t: number): string {
  return String(t).padStart(13, '0');
}

export function floorTo(t: number, size: number): number {
  return Math.floor(t / size) * size;
}

/** The ISO text is written here, then made one flat string (a template of padded parts was a chain of pieces). */
const isoText = Buffer.allocUnsafeSlow(24) as Buffer & { latin1Slice(start: number, end: number): string };
/** The day (days since the epoch) whose `YYYY-MM-DDT` is in isoText[0, 11): instants mostly share a day. */
let isoDay = Number.NaN;

/** `n` as `width` decimal digits at `at` in isoText (n < 10^width). */
function putDigits(at: number, width: number, n: number): void {
  for (let i = at + width - 1; i >= at; i--) {
    const q = (n / 10) | 0;
    isoText[i] = 0x30 + n - q * 10;
    n = q;
  }
}

/**
 * Date#toISOString without the Date, for 1970..9999 (the hot path of summaries and alerts): days →
 * civil date as in H. Hinnant's `civil_from_days`, once per day seen; the time of day as digits.
 * Other instants go through Date, so the result is always exactly toISOString's.
 */
export function iso(t: number): string {
  if (!(t >= 0 && t < 253_402_300_800_000) || !Number.isInteger(t)) return new Date(t).toISOString();
  const days = Math.floor(t / 86_400_000);
  if (days !== isoDay) {
    const z = days + 719_468;
    const era = Math.floor(z / 146_097);
    const doe = z - era * 146_097;
    const yoe = Math.floor((doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const m = mp < 10 ? mp + 3 : mp - 9;
    const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
    putDigits(0, 4, y);
    isoText[4] = 0x2d;
    putDigits(5, 2, m);
    isoText[7] = 0x2d;
    putDigits(8, 2, d);
    isoText[10] = 0x54;
    isoDay = days;
  }
  let ms = t - days * 86_400_000;
  const h = (ms / 3_600_000) | 0;
  ms -= h * 3_600_000;
  const min = (ms / 60_000) | 0;
  ms -= min * 60_000;
  const sec = (ms / 1000) | 0;
  ms -= sec * 1000;
  putDigits(11, 2, h);
  isoText[13] = 0x3a;
  putDigits(14, 2, min);
  isoText[16] = 0x3a;
  putDigits(17, 2, sec);
  isoText[19] = 0x2e;
  putDigits(20, 3, ms);
  isoText[23] = 0x5a;
  return isoText.latin1Slice(0, 24);
}
