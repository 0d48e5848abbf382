/**
 * The expected output of the processor, computed independently of its engine from the events the
 * simulator reports it published: brute force over every payment, no panes, no watermark.
 */
import type { CardTokenizer } from '../../../common/src/card-token.js';
import { OUTPUT_SCHEMA_VERSION, type PaymentEvent, type SummaryData } from '../../../common/src/events.js';

const HOUR = 3_600_000;
const EVERY = 10_000;

export interface Payment {
  id: string;
  t: number;
  card: string;
  amount: number;
  currency: string;
  merchant: string;
}

export function toPayment(e: PaymentEvent): Payment {
  return {
    id: e.event_id,
    t: Date.parse(e.event_date_origin),
    card: e.data.card_number,
    amount: e.data.amount,
    currency: e.data.currency,
    merchant: e.data.merchant_id,
  };
}

/** Stolen-card payments grouped by card number, deduplicated by id. */
export function byCard(payments: Payment[], stolen: ReadonlySet<string>): Map<string, Payment[]> {
  const out = new Map<string, Map<string, Payment>>();
  for (const p of payments) {
    if (!stolen.has(p.card)) continue;
    let m = out.get(p.card);
    if (!m) out.set(p.card, (m = new Map()));
    m.set(p.id, p);
  }
  return new Map([...out].map(([card, m]) => [card, [...m.values()].sort((a, b) => a.t - b.t || (a.id < b.id ? -1 : 1))]));
}

/** The summary of `card` (a card number) at boundary T, naming the card as `tokenizer` does. */
export function expectedSummary(card: string, payments: Payment[], T: number, tokenizer: CardTokenizer): SummaryData | undefined {
  const inWindow = payments.filter((p) => p.t >= T - HOUR && p.t < T);
  if (inWindow.length === 0) return undefined;
  const amounts: SummaryData['amounts'] = {};
  const cents = new Map<string, number>();
  for (const p of inWindow) {
    const a = (amounts[p.currency] ??= { count: 0, total: 0, min: p.amount, max: p.amount });
    a.count++;
    a.min = Math.min(a.min, p.amount);
    a.max = Math.max(a.max, p.amount);
    cents.set(p.currency, (cents.get(p.currency) ?? 0) + Math.round(p.amount * 100));
  }
  for (const [c, total] of cents) amounts[c]!.total = total / 100;
  return {
    schema_version: OUTPUT_SCHEMA_VERSION,
    ...tokenizer.reference(card),
    window_start: new Date(T - HOUR).toISOString(),
    window_end: new Date(T).toISOString(),
    payment_count: inWindow.length,
    amounts,
    first_payment_at: new Date(inWindow[0]!.t).toISOString(),
    last_payment_at: new Date(inWindow[inWindow.length - 1]!.t).toISOString(),
    merchant_count: new Set(inWindow.map((p) => p.merchant)).size,
    payment_event_ids: inWindow.slice(-100).map((p) => p.id),
  };
}

/** Every boundary at which a card must have a summary, up to and including `cutoff`. */
export function dueBoundaries(payments: Payment[], cutoff: number): number[] {
  const out = new Set<number>();
  for (const p of payments) {
    const first = Math.floor(p.t / EVERY) * EVERY + EVERY;
    for (let T = first; T <= Math.min(cutoff, p.t + HOUR); T += EVERY) out.add(T);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * A summary in a comparable form: currencies in code order (a JSON object's key order carries no
 * meaning) and ids sorted (payments that share one millisecond have no defined order).
 */
export function normalize(s: SummaryData): SummaryData {
  const amounts = Object.fromEntries(Object.entries(s.amounts).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { ...s, amounts, payment_event_ids: [...s.payment_event_ids].sort() };
}
