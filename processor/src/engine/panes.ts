/**
 * Summary aggregates of stolen cards, kept per (card, pane) where a pane is one summary period
 * [p, p + every). A summary at boundary T merges the card's panes in [T - range, T). A time index
 * (pane start → cards) lets the emitter find the next boundary that has any data with one binary
 * search, and visit only the cards with data in a boundary's range, however far the watermark
 * jumps.
 */
import type { SummaryData } from '../../../common/src/events.js';
import { insertUnique, lowerBound, upperBound } from './sorted.js';
import { floorTo, iso, padTime } from './types.js';

/** Per currency: [count, total, min, max], amounts in integer minor units (hundredths). */
export type CurrencyAggregate = [number, number, number, number];

/** One card's payments in one pane. */
export interface Pane {
  count: number;
  firstMs: number;
  lastMs: number;
  currencies: Record<string, CurrencyAggregate>;
  /** Distinct merchant ids. */
  merchants: string[];
  /** Every payment [eventTimeMs, event_id], event-time order, ties in arrival order (also the duplicate check). */
  ids: [number, string][];
}

export interface PanePayment {
  id: string;
  at: number;
  amount: number;
  currency: string;
  merchant: string;
}

export const PANE_KEY_PREFIX = 'pane/';

/** Amounts carry at most two decimals (schema), so hundredths are exact integers. */
export function toMinor(amount: number): number {
  return Math.round(amount * 100);
}

/** minor / 100 is the double nearest the decimal, i.e. exactly what the literal would parse to. */
export function fromMinor(minor: number): number {
  return minor / 100;
}

export class PaneStore {
  readonly #every: number;
  readonly #range: number;
  readonly #maxIds: number;
  /** card → paneStart → pane. */
  readonly #panes = new Map<string, Map<number, Pane>>();
  /** card → its pane starts, ascending. */
  readonly #cardStarts = new Map<string, number[]>();
  /** paneStart → cards with a pane there; #starts lists the keys ascending. */
  readonly #index = new Map<number, Set<string>>();
  readonly #starts: number[] = [];
  /** card → pane starts changed since the last takeDirty. */
  readonly #dirty = new Map<string, Set<number>>();
  /** Sorted active cards of the last boundary asked for; a new (card, pane) invalidates it. */
  #activeCache: { boundary: number; version: number; cards: string[] } | undefined;
  #version = 0;
  readonly #isoMemo = new Map<number, string>();

  constructor(summaryEveryMs: number, summaryRangeMs: number, maxSummaryIds: number) {
    this.#every = summaryEveryMs;
    this.#range = summaryRangeMs;
    this.#maxIds = maxSummaryIds;
  }

  paneStartOf(eventTimeMs: number): number {
    return floorTo(eventTimeMs, this.#every);
  }

  has(card: string, paneStart: number, paymentId: string): boolean {
    const pane = this.#panes.get(card)?.get(paneStart);
    return pane !== undefined && pane.ids.some(([, id]) => id === paymentId);
  }

  add(card: string, p: PanePayment): void {
    const start = this.paneStartOf(p.at);
    let byStart = this.#panes.get(card);
    if (!byStart) this.#panes.set(card, (byStart = new Map()));
    let pane = byStart.get(start);
    if (!pane) {
      pane = { count: 0, firstMs: p.at, lastMs: p.at, currencies: {}, merchants: [], ids: [] };
      this.#link(card, start, pane);
    }
    const minor = toMinor(p.amount);
    const agg = pane.currencies[p.currency];
    if (agg) {
      agg[0] += 1;
      agg[1] += minor;
      agg[2] = Math.min(agg[2], minor);
      agg[3] = Math.max(agg[3], minor);
    } else {
      pane.currencies[p.currency] = [1, minor, minor, minor];
    }
    pane.count += 1;
    pane.firstMs = Math.min(pane.firstMs, p.at);
    pane.lastMs = Math.max(pane.lastMs, p.at);
    if (!pane.merchants.includes(p.merchant)) pane.merchants.push(p.merchant);
    let i = pane.ids.length;
    while (i > 0 && (pane.ids[i - 1] as [number, string])[0] > p.at) i--;
    pane.ids.splice(i, 0, [p.at, p.id]);
    this.#markDirty(card, start);
  }

  /**
   * The first boundary T ≥ from (a multiple of every) whose range [T - range, T) holds any pane,
   * or undefined when there is none. The earliest pane p starting at or after from - range is
   * in range of T = max(from, p + every), and no earlier boundary ≥ from has a pane: O(log n).
   */
  nextActiveBoundary(from: number): number | undefined {
    const p = this.#starts[Number.isFinite(from) ? lowerBound(this.#starts, from - this.#range) : 0];
    return p === undefined ? undefined : Math.max(from, p + this.#every);
  }

  /** Cards with at least one pane in [T - range, T), in card-number (string) order. */
  activeCards(boundary: number): readonly string[] {
    const c = this.#activeCache;
    if (c && c.boundary === boundary && c.version === this.#version) return c.cards;
    const set = new Set<string>();
    const last = boundary - this.#every;
    for (let i = lowerBound(this.#starts, boundary - this.#range); i < this.#starts.length; i++) {
      const start = this.#starts[i] as number;
      if (start > last) break;
      for (const card of this.#index.get(start) ?? []) set.add(card);
    }
    const cards = [...set].sort();
    this.#activeCache = { boundary, version: this.#version, cards };
    return cards;
  }

  /** The card's summary at boundary T, or undefined when it has no pane in [T - range, T). */
  summarize(card: string, boundary: number): SummaryData | undefined {
    const starts = this.#cardStarts.get(card);
    const byStart = this.#panes.get(card);
    if (!starts || !byStart) return undefined;
    const lo = lowerBound(starts, boundary - this.#range);
    const hi = upperBound(starts, boundary - this.#every);
    if (lo >= hi) return undefined;

    // Hot path of a large catch-up (one summary per active card per boundary): few allocations.
    let count = 0;
    let firstMs = Infinity;
    let lastMs = -Infinity;
    const currencies: Record<string, CurrencyAggregate> = {};
    const merchants = hi - lo === 1 ? undefined : new Set<string>();
    let merchantCount = 0;
    // Newest panes first, so the id list stops growing once it has maxIds.
    const idChunks: [number, string][][] = [];
    let idCount = 0;
    for (let i = hi - 1; i >= lo; i--) {
      const pane = byStart.get(starts[i] as number) as Pane;
      count += pane.count;
      if (pane.firstMs < firstMs) firstMs = pane.firstMs;
      if (pane.lastMs > lastMs) lastMs = pane.lastMs;
      for (const cur in pane.currencies) {
        const [n, total, min, max] = pane.currencies[cur] as CurrencyAggregate;
        const agg = currencies[cur];
        if (agg) {
          agg[0] += n;
          agg[1] += total;
          if (min < agg[2]) agg[2] = min;
          if (max > agg[3]) agg[3] = max;
        } else currencies[cur] = [n, total, min, max];
      }
      if (merchants) for (const m of pane.merchants) merchants.add(m);
      else merchantCount = pane.merchants.length;
      if (idCount < this.#maxIds) {
        idChunks.push(pane.ids);
        idCount += pane.ids.length;
      }
    }
    const amounts: SummaryData['amounts'] = {};
    const curs = Object.keys(currencies);
    if (curs.length > 1) curs.sort();
    for (const cur of curs) {
      const [n, total, min, max] = currencies[cur] as CurrencyAggregate;
      amounts[cur] = { count: n, total: fromMinor(total), min: fromMinor(min), max: fromMinor(max) };
    }
    // The newest maxIds ids, oldest first: chunks are newest-first, each chunk oldest-first.
    const take = Math.min(idCount, this.#maxIds);
    const paymentIds = new Array<string>(take);
    let at = take;
    for (let c = 0; c < idChunks.length && at > 0; c++) {
      const chunk = idChunks[c] as [number, string][];
      for (let j = chunk.length - 1; j >= 0 && at > 0; j--) paymentIds[--at] = (chunk[j] as [number, string])[1];
    }
    return {
      card_number: card,
      window_start: this.#iso(boundary - this.#range),
      window_end: this.#iso(boundary),
      payment_count: count,
      amounts,
      first_payment_at: this.#iso(firstMs),
      last_payment_at: this.#iso(lastMs),
      merchant_count: merchants ? merchants.size : merchantCount,
      payment_event_ids: paymentIds,
    };
  }

  /**
   * Date#toISOString is a large share of a summary's cost, and the same instants recur in up to
   * range / every summaries, so they are memoised (bounded; a full memo is simply dropped).
   */
  #iso(t: number): string {
    let s = this.#isoMemo.get(t);
    if (s === undefined) {
      if (this.#isoMemo.size >= 200_000) this.#isoMemo.clear();
      s = iso(t);
      this.#isoMemo.set(t, s);
    }
    return s;
  }

  /** Drops every pane starting before `cutoff` (they can count in no boundary still to emit). */
  purgeBefore(cutoff: number): void {
    let n = 0;
    while (n < this.#starts.length && (this.#starts[n] as number) < cutoff) {
      const start = this.#starts[n] as number;
      for (const card of this.#index.get(start) ?? []) {
        const byStart = this.#panes.get(card);
        byStart?.delete(start);
        const starts = this.#cardStarts.get(card);
        // The purged start is this card's earliest, so it sits at the front.
        if (starts?.[0] === start) starts.shift();
        if (byStart?.size === 0) {
          this.#panes.delete(card);
          this.#cardStarts.delete(card);
        }
        this.#markDirty(card, start);
      }
      this.#index.delete(start);
      n++;
    }
    if (n > 0) {
      this.#starts.splice(0, n);
      this.#version++;
    }
  }

  get paneCount(): number {
    let n = 0;
    for (const byStart of this.#panes.values()) n += byStart.size;
    return n;
  }

  restore(card: string, paneStart: number, pane: Pane): void {
    let byStart = this.#panes.get(card);
    if (!byStart) this.#panes.set(card, (byStart = new Map()));
    this.#link(card, paneStart, pane);
  }

  /** Changed panes since the last call: [key, value] for live ones, [key, undefined] for removed ones. */
  takeDirty(): [string, Pane | undefined][] {
    const out: [string, Pane | undefined][] = [];
    for (const [card, starts] of this.#dirty) {
      const byStart = this.#panes.get(card);
      for (const start of starts) {
        const pane = byStart?.get(start);
        out.push([paneKey(card, start), pane && clonePane(pane)]);
      }
    }
    this.#dirty.clear();
    return out;
  }

  #link(card: string, start: number, pane: Pane): void {
    (this.#panes.get(card) as Map<number, Pane>).set(start, pane);
    let starts = this.#cardStarts.get(card);
    if (!starts) this.#cardStarts.set(card, (starts = []));
    insertUnique(starts, start);
    let cards = this.#index.get(start);
    if (!cards) {
      this.#index.set(start, (cards = new Set()));
      insertUnique(this.#starts, start);
    }
    cards.add(card);
    this.#version++;
  }

  #markDirty(card: string, start: number): void {
    let starts = this.#dirty.get(card);
    if (!starts) this.#dirty.set(card, (starts = new Set()));
    starts.add(start);
  }
}

export function paneKey(card: string, paneStart: number): string {
  return `${PANE_KEY_PREFIX}${card}/${padTime(paneStart)}`;
}

function clonePane(p: Pane): Pane {
  return {
    count: p.count,
    firstMs: p.firstMs,
    lastMs: p.lastMs,
    currencies: Object.fromEntries(Object.entries(p.currencies).map(([c, a]) => [c, [...a]])),
    merchants: [...p.merchants],
    ids: p.ids.map(([t, id]) => [t, id]),
  };
}
