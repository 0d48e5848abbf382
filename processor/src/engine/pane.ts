/**
 * The memory layout of the summary aggregates: one `Pane` per (stolen card, pane start), where a
 * pane is one summary period [p, p + every).
 *
 * Memory is the constraint here: one shard at 1 000 events/s holds ~360 000 panes of ~100 000
 * cards for the hour, and nearly every pane holds one payment. So a pane is one fixed-shape object
 * with its first currency, first merchant and a lone id kept inline (arrays only appear when a
 * pane gets a second one), times are small offsets from the pane start, merchant and currency
 * strings are interned, and a card's panes are a list, newest first. The stored form (codec.ts)
 * does not depend on this layout.
 */

/** Amounts carry at most two decimals (schema), so hundredths are exact integers. */
export function toMinor(amount: number): number {
  return Math.round(amount * 100);
}

/** minor / 100 is the double nearest the decimal, i.e. exactly what the literal would parse to. */
export function fromMinor(minor: number): number {
  return minor / 100;
}

/** Totals of one currency: in a pane beyond its first (inline) one, and while summing panes. */
export class CurrencyTotals {
  constructor(
    readonly code: string,
    public n: number,
    public total: number,
    public min: number,
    public max: number,
  ) {}
}

/** Adds totals of `code` to the list (a card rarely pays in more than one or two currencies). */
export function addTotals(totals: CurrencyTotals[], code: string, n: number, total: number, min: number, max: number): void {
  for (const t of totals) {
    if (t.code === code) {
      t.n += n;
      t.total += total;
      if (min < t.min) t.min = min;
      if (max > t.max) t.max = max;
      return;
    }
  }
  totals.push(new CurrencyTotals(code, n, total, min, max));
}

/** What only a pane with more than one payment needs. */
export interface PaneMore {
  currencies: CurrencyTotals[];
  merchants: string[];
  /** Event times of the pane's `ids`, same order. */
  times: number[];
}

/** The group a pane that was not restored carries (stored groups are numbered from 0). */
export const NOT_RESTORED = -1;

/** One card's payments in one pane. */
export class Pane {
  /** The card's next older pane: a card's panes are a list, newest first. */
  older: Pane | undefined = undefined;
  count = 0;
  firstOffset: number;
  lastOffset: number;
  /** The first currency's code and totals (amounts in hundredths). */
  currency: string;
  n = 0;
  total = 0;
  min = 0;
  max = 0;
  /** The first merchant. */
  merchant: string;
  /** The event ids, event-time order: a lone string for one payment, else an array (times in `more`). */
  ids: string | string[] = '';
  more: PaneMore | undefined = undefined;
  /** Listed in the store's dirty list since it last took its changes. */
  dirty = false;
  /** The stored group this pane was restored from (a later one replaces it at restore). */
  group = NOT_RESTORED;

  constructor(
    readonly card: string,
    readonly start: number,
    firstMs: number,
    currency: string,
    merchant: string,
  ) {
    this.firstOffset = firstMs - start;
    this.lastOffset = this.firstOffset;
    this.currency = currency;
    this.merchant = merchant;
  }

  get firstMs(): number {
    return this.start + this.firstOffset;
  }

  get lastMs(): number {
    return this.start + this.lastOffset;
  }

  get merchantCount(): number {
    return 1 + (this.more?.merchants.length ?? 0);
  }

  #more(): PaneMore {
    return (this.more ??= { currencies: [], merchants: [], times: [] });
  }

  hasId(id: string): boolean {
    return typeof this.ids === 'string' ? this.ids === id : this.ids.includes(id);
  }

  addAmount(currency: string, minor: number, n = 1, total = minor, min = minor, max = minor): void {
    if (this.n === 0 || currency === this.currency) {
      if (this.n === 0) {
        this.currency = currency;
        this.min = min;
        this.max = max;
      } else {
        if (min < this.min) this.min = min;
        if (max > this.max) this.max = max;
      }
      this.n += n;
      this.total += total;
      return;
    }
    addTotals(this.#more().currencies, currency, n, total, min, max);
  }

  addMerchant(merchant: string): void {
    if (merchant === this.merchant) return;
    const others = this.#more().merchants;
    if (!others.includes(merchant)) others.push(merchant);
  }

  /** Adds a payment's time and id: after every id with the same or an earlier time (ties keep arrival order). */
  addPayment(at: number, id: string): void {
    this.count++;
    if (this.count === 1) {
      this.ids = id;
      this.firstOffset = this.lastOffset = at - this.start;
      return;
    }
    const more = this.#more();
    if (typeof this.ids === 'string') {
      this.ids = [this.ids];
      more.times.push(this.firstMs);
    }
    const ids = this.ids;
    const times = more.times;
    let i = ids.length;
    while (i > 0 && (times[i - 1] as number) > at) i--;
    ids.splice(i, 0, id);
    times.splice(i, 0, at);
    if (at - this.start < this.firstOffset) this.firstOffset = at - this.start;
    if (at - this.start > this.lastOffset) this.lastOffset = at - this.start;
  }

  /** The time of the i-th id (event-time order). */
  timeOf(i: number): number {
    return typeof this.ids === 'string' ? this.firstMs : ((this.more as PaneMore).times[i] as number);
  }
}

/** The pane at `start` in a card's list (newest first), if any; most payments land in the newest. */
export function paneAt(newest: Pane | undefined, start: number): Pane | undefined {
  for (let p = newest; p !== undefined && p.start >= start; p = p.older) if (p.start === start) return p;
  return undefined;
}

/** Bounded string interning: equal merchant ids and currency codes share one string. */
export class Interner {
  readonly #map = new Map<string, string>();
  constructor(readonly limit: number) {}
  get(s: string): string {
    const known = this.#map.get(s);
    if (known !== undefined) return known;
    if (this.#map.size >= this.limit) this.#map.clear();
    this.#map.set(s, s);
    return s;
  }
}
