/**
 * What the risk console holds in memory, all of it bounded: the latest alerts (newest first), the
 * latest 60-minute summary of each card seen, and alerts per minute for the last hour. Built only
 * from the output stream (feed.ts); never from the processor's state. Cards are named by token
 * and masked number only: the output stream holds no card number (docs/events.md).
 */
import type { AlertEvent, SummaryEvent } from '../../common/src/events.js';

/** An alert as the page shows it. */
export interface ConsoleAlert {
  event_id: string;
  /** When the processor created the alert (its event_date_origin). */
  created_at: string;
  payment_event_id: string;
  payment_date_origin: string;
  card_token: string;
  card_masked: string;
  amount: number;
  currency: string;
  merchant_id: string;
  window_start: string;
  window_end: string;
  late: boolean;
  retro: boolean;
}

export interface ViewLimits {
  /** Alerts kept, newest first. */
  alerts: number;
  /** Cards whose latest summary is kept (the least recently summarised go first). */
  cards: number;
}

export const DEFAULT_LIMITS: ViewLimits = { alerts: 1_000, cards: 20_000 };

const MINUTE_MS = 60_000;
const MINUTES_KEPT = 60;

export class ConsoleView {
  readonly #limits: ViewLimits;
  /** Oldest first (pushed at the end, trimmed at the front); read newest first. */
  #alerts: ConsoleAlert[] = [];
  readonly #alertIds = new Set<string>();
  /** Card token → its latest summary; Map order is least recently summarised first. */
  readonly #summaries = new Map<string, SummaryEvent['data']>();
  /** Minute start (ms) → alerts created in it. */
  readonly #perMinute = new Map<number, number>();
  readonly #listeners = new Set<(alert: ConsoleAlert) => void>();

  constructor(limits: Partial<ViewLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Adds an alert (a repeat of an event id already held, as after a processor crash, is dropped). Returns whether it was new. */
  addAlert(event: AlertEvent): boolean {
    if (this.#alertIds.has(event.event_id)) return false;
    const d = event.data;
    const alert: ConsoleAlert = {
      event_id: event.event_id,
      created_at: event.event_date_origin,
      payment_event_id: d.payment_event_id,
      payment_date_origin: d.payment_date_origin,
      card_token: d.card_token,
      card_masked: d.card_masked,
      amount: d.amount,
      currency: d.currency,
      merchant_id: d.merchant_id,
      window_start: d.window_start,
      window_end: d.window_end,
      late: d.late,
      retro: d.retro === true,
    };
    this.#alerts.push(alert);
    this.#alertIds.add(alert.event_id);
    // Trimmed in blocks, not one by one: shift() on a large array at 100 alerts/s is a copy each time.
    if (this.#alerts.length > this.#limits.alerts * 1.25) {
      const dropped = this.#alerts.splice(0, this.#alerts.length - this.#limits.alerts);
      for (const a of dropped) this.#alertIds.delete(a.event_id);
    }
    const minute = Math.floor(Date.parse(alert.created_at) / MINUTE_MS) * MINUTE_MS;
    if (Number.isFinite(minute)) {
      this.#perMinute.set(minute, (this.#perMinute.get(minute) ?? 0) + 1);
      for (const m of this.#perMinute.keys()) if (m <= minute - MINUTES_KEPT * MINUTE_MS) this.#perMinute.delete(m);
    }
    for (const listener of this.#listeners) listener(alert);
    return true;
  }

  /** Keeps the card's summary if it is its latest (by window end). */
  setSummary(event: SummaryEvent): void {
    const d = event.data;
    const held = this.#summaries.get(d.card_token);
    if (held && held.window_end > d.window_end) return;
    this.#summaries.delete(d.card_token);
    this.#summaries.set(d.card_token, d);
    if (this.#summaries.size > this.#limits.cards) this.#summaries.delete(this.#summaries.keys().next().value as string);
  }

  /** The latest alerts, newest first. */
  latestAlerts(limit = this.#limits.alerts): ConsoleAlert[] {
    const out: ConsoleAlert[] = [];
    for (let i = this.#alerts.length - 1; i >= 0 && out.length < Math.min(limit, this.#limits.alerts); i--) out.push(this.#alerts[i] as ConsoleAlert);
    return out;
  }

  /** A card's latest summary and the alerts held for it, newest first. */
  card(token: string): { summary: SummaryEvent['data'] | undefined; alerts: ConsoleAlert[] } {
    return { summary: this.#summaries.get(token), alerts: this.latestAlerts().filter((a) => a.card_token === token) };
  }

  /** Alerts per minute, oldest first, for the minutes that had any. */
  alertsPerMinute(): Array<{ minute: string; alerts: number }> {
    return [...this.#perMinute.entries()].sort(([a], [b]) => a - b).map(([m, n]) => ({ minute: new Date(m).toISOString(), alerts: n }));
  }

  get sizes(): { alerts: number; cards: number } {
    return { alerts: Math.min(this.#alerts.length, this.#limits.alerts), cards: this.#summaries.size };
  }

  /** Calls `listener` with every new alert until the returned function is called. */
  subscribe(listener: (alert: ConsoleAlert) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
