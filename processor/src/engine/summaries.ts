/**
 * A card's summary at a boundary T: its panes in [T - range, T) merged into one SummaryData
 * (count, per-currency totals exact to the cent, first and last payment, distinct merchants, the
 * newest ids). The hot path of a large catch-up: one summary per active card per boundary.
 */
import { splitCardRef } from '../../../common/src/card-token.js';
import { OUTPUT_SCHEMA_VERSION, type SummaryData } from '../../../common/src/events.js';
import { addTotals, fromMinor, type CurrencyTotals, type Pane } from './pane.js';
import { iso } from './time.js';

export class Summarizer {
  readonly #every: number;
  readonly #range: number;
  readonly #maxIds: number;
  /** A boundary's window bounds as ISO text, kept for the boundary's summaries (one per card). */
  #boundsOf: number | undefined;
  #boundsStart = '';
  #boundsEnd = '';

  constructor(summaryEveryMs: number, summaryRangeMs: number, maxSummaryIds: number) {
    this.#every = summaryEveryMs;
    this.#range = summaryRangeMs;
    this.#maxIds = maxSummaryIds;
  }

  /** The summary of the card whose newest pane is `newest` at `boundary`; undefined without a pane in range. */
  summarize(card: string /* its card ref */, newest: Pane | undefined, boundary: number): SummaryData | undefined {
    const oldest = boundary - this.#range;
    let pane = newest;
    while (pane !== undefined && pane.start > boundary - this.#every) pane = pane.older;
    if (pane === undefined || pane.start < oldest) return undefined;
    const single = pane.older === undefined || pane.older.start < oldest;
    if (single && pane.more === undefined) return this.#summarizeOne(card, boundary, pane);

    let count = 0;
    let firstMs = Infinity;
    let lastMs = -Infinity;
    // Per currency, in first-seen order.
    const totals: CurrencyTotals[] = [];
    let merchants: Set<string> | undefined;
    let merchantCount = 0;
    // Newest panes first, so the id list stops growing once it has maxIds.
    const take = this.#maxIds;
    const newestFirst: string[] = [];
    for (; pane !== undefined && pane.start >= oldest; pane = pane.older) {
      count += pane.count;
      if (pane.firstMs < firstMs) firstMs = pane.firstMs;
      if (pane.lastMs > lastMs) lastMs = pane.lastMs;
      addTotals(totals, pane.currency, pane.n, pane.total, pane.min, pane.max);
      if (pane.more) for (const o of pane.more.currencies) addTotals(totals, o.code, o.n, o.total, o.min, o.max);
      if (single) merchantCount = pane.merchantCount;
      else {
        merchants ??= new Set();
        merchants.add(pane.merchant);
        if (pane.more) for (const m of pane.more.merchants) merchants.add(m);
      }
      if (newestFirst.length < take) {
        const ids = pane.ids;
        if (typeof ids === 'string') newestFirst.push(ids);
        else for (let j = ids.length - 1; j >= 0 && newestFirst.length < take; j--) newestFirst.push(ids[j] as string);
      }
    }
    const amounts: SummaryData['amounts'] = {};
    if (totals.length > 1) totals.sort((a, b) => (a.code < b.code ? -1 : 1));
    for (const t of totals) amounts[t.code] = { count: t.n, total: fromMinor(t.total), min: fromMinor(t.min), max: fromMinor(t.max) };
    this.#setBounds(boundary);
    const { card_token, card_key_id, card_masked } = splitCardRef(card);
    return {
      schema_version: OUTPUT_SCHEMA_VERSION,
      card_token,
      card_key_id,
      card_masked,
      window_start: this.#boundsStart,
      window_end: this.#boundsEnd,
      payment_count: count,
      amounts,
      first_payment_at: iso(firstMs),
      last_payment_at: iso(lastMs),
      merchant_count: merchants ? merchants.size : merchantCount,
      // The newest maxIds ids, oldest first.
      payment_event_ids: newestFirst.reverse(),
    };
  }

  /**
   * summarize for the usual case, one pane in range with one payment's worth of detail (one
   * currency, one merchant, one id): the same result without the per-currency merge, the merchant
   * set or the id list's reversal.
   */
  #summarizeOne(card: string, boundary: number, pane: Pane): SummaryData {
    const first = iso(pane.firstMs);
    this.#setBounds(boundary);
    const { card_token, card_key_id, card_masked } = splitCardRef(card);
    return {
      schema_version: OUTPUT_SCHEMA_VERSION,
      card_token,
      card_key_id,
      card_masked,
      window_start: this.#boundsStart,
      window_end: this.#boundsEnd,
      payment_count: pane.count,
      amounts: { [pane.currency]: { count: pane.n, total: fromMinor(pane.total), min: fromMinor(pane.min), max: fromMinor(pane.max) } },
      first_payment_at: first,
      last_payment_at: pane.lastMs === pane.firstMs ? first : iso(pane.lastMs),
      merchant_count: 1,
      payment_event_ids: this.#maxIds > 0 ? [pane.ids as string] : [],
    };
  }

  #setBounds(boundary: number): void {
    if (this.#boundsOf === boundary) return;
    this.#boundsOf = boundary;
    this.#boundsStart = iso(boundary - this.#range);
    this.#boundsEnd = iso(boundary);
  }
}
