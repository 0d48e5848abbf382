/**
 * Summary aggregates of stolen cards, kept per (card, pane) where a pane is one summary period
 * [p, p + every). A summary at boundary T merges the card's panes in [T - range, T). A time index
 * (pane start → cards) lets the emitter find the next boundary that has any data with one binary
 * search, and visit only the cards with data in a boundary's range, however far the watermark
 * jumps.
 *
 * Memory is the constraint here: one shard at 1 000 events/s holds ~360 000 panes of ~100 000
 * cards for the hour, and nearly every pane holds one payment. So a pane is one fixed-shape object
 * with its first currency, first merchant and a lone id kept inline (arrays only appear when a
 * pane gets a second one), merchant and currency strings are interned, and a card's panes are one
 * array sorted by start. The stored (JSON) form is `StoredPane`, unchanged by this layout.
 *
 * Panes are stored in groups: the panes of one pane start changed since the last commit are one
 * entry `panes/<paneStart>/<group>` (an object card → StoredPane), so a commit writes one entry per
 * pane start it touched, not one per card (a put per stolen payment was most of a commit's cost,
 * docs/benchmarks.md). A pane changed again later is written again in a later group; the latest
 * group wins at restore. All of a start's groups are deleted when the start is purged. Group 0 is
 * a state written whole (entries()); a pane under its own key `pane/<card>/<paneStart>` (the
 * format before groups) is still read, as older than any group.
 */
import type { SummaryData } from '../../../common/src/events.js';
import { ownString } from '../../../common/src/strings.js';
import { lowerBound } from './sorted.js';
import { EngineStateError, floorTo, iso, padTime } from './types.js';
import { JsonBytes } from '../state/json-bytes.js';
import { JsonWriter } from '../../../common/src/json-writer.js';

/** Per currency: [count, total, min, max], amounts in integer minor units (hundredths). */
export type CurrencyAggregate = [number, number, number, number];

/** A pane as stored (a card's value in a `panes/<start>/<group>` entry, or a whole `pane/<card>/<start>` entry). */
export interface StoredPane {
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

/** Prefix of a pane stored under its own key (the format before groups). */
export const PANE_KEY_PREFIX = 'pane/';
export const PANE_GROUP_PREFIX = 'panes/';

/** The key of one group of panes of one pane start; zero-padded so a start's groups sort by number. */
export function paneGroupKey(paneStart: number, group: number): string {
  return `${PANE_GROUP_PREFIX}${padTime(paneStart)}/${padTime(group)}`;
}

/** paneGroupKey's format read back: pane start, group number. Its value: card → StoredPane. */
export const PANE_GROUP_KEY = /^panes\/(\d{13})\/(\d{13})$/;
/** A pane under its own key (the format before groups): card, pane start. */
export const PANE_KEY = /^pane\/(\d+)\/(-?\d+)$/;

/** The group number a state written whole is stored under; commits number theirs from 1. */
const WHOLE_GROUP = 0;
/** The group number of a pane under its own key: older than any group. */
export const OWN_KEY_GROUP = -1;

/** Amounts carry at most two decimals (schema), so hundredths are exact integers. */
export function toMinor(amount: number): number {
  return Math.round(amount * 100);
}

/** minor / 100 is the double nearest the decimal, i.e. exactly what the literal would parse to. */
export function fromMinor(minor: number): number {
  return minor / 100;
}

/** Totals of one more currency in a pane (the first one is inline in the pane). */
class CurrencyTotals {
  constructor(
    readonly code: string,
    public n: number,
    public total: number,
    public min: number,
    public max: number,
  ) {}
}

/** What only a pane with more than one payment needs. */
interface PaneMore {
  currencies: CurrencyTotals[];
  merchants: string[];
  /** Event times of `ids`, same order. */
  times: number[];
}

/**
 * One card's payments in one pane. Times are kept as offsets from the pane start (small integers
 * live in the object; epoch milliseconds would each be a separate heap number).
 */
class Pane {
  /** The card's next older pane: a card's panes are a list, newest first. */
  older: Pane | undefined = undefined;
  count = 0;
  firstOffset: number;
  lastOffset: number;
  currency: string;
  n = 0;
  total = 0;
  min = 0;
  max = 0;
  merchant: string;
  /** The event ids, event-time order: a lone string for one payment, else an array (times in `more`). */
  ids: string | string[] = '';
  more: PaneMore | undefined = undefined;
  /** Listed in the store's dirty list since the last takeDirty. */
  dirty = false;
  /** The stored group this pane was restored from (a later one replaces it at restore). */
  group = OWN_KEY_GROUP;

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
    const others = this.#more().currencies;
    const c = others.find((o) => o.code === currency);
    if (c) {
      c.n += n;
      c.total += total;
      if (min < c.min) c.min = min;
      if (max > c.max) c.max = max;
    } else others.push(new CurrencyTotals(currency, n, total, min, max));
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

  get merchantCount(): number {
    return 1 + (this.more?.merchants.length ?? 0);
  }

  /** JSON.stringify(this.toStored()), written straight into `w`. */
  writeJson(w: JsonWriter): void {
    w.bytes(J_COUNT);
    w.number(this.count);
    w.bytes(J_FIRST);
    w.number(this.firstMs);
    w.bytes(J_LAST);
    w.number(this.lastMs);
    w.bytes(J_CURRENCIES);
    writeCurrency(w, this.currency, this.n, this.total, this.min, this.max);
    const more = this.more;
    if (more) {
      for (const c of more.currencies) {
        w.byte(COMMA);
        writeCurrency(w, c.code, c.n, c.total, c.min, c.max);
      }
    }
    w.bytes(J_MERCHANTS);
    w.string(this.merchant);
    if (more) {
      for (const m of more.merchants) {
        w.byte(COMMA);
        w.string(m);
      }
    }
    w.bytes(J_IDS);
    if (typeof this.ids === 'string') writeId(w, this.firstMs, this.ids);
    else {
      const times = (more as PaneMore).times;
      for (let i = 0; i < this.ids.length; i++) {
        if (i > 0) w.byte(COMMA);
        writeId(w, times[i] as number, this.ids[i] as string);
      }
    }
    w.bytes(J_END);
  }

  toStored(): StoredPane {
    const currencies: Record<string, CurrencyAggregate> = { [this.currency]: [this.n, this.total, this.min, this.max] };
    for (const c of this.more?.currencies ?? []) currencies[c.code] = [c.n, c.total, c.min, c.max];
    const ids: [number, string][] =
      typeof this.ids === 'string' ? [[this.firstMs, this.ids]] : this.ids.map((id, i) => [this.more!.times[i] as number, id]);
    const others = this.more?.merchants ?? [];
    return {
      count: this.count,
      firstMs: this.firstMs,
      lastMs: this.lastMs,
      currencies,
      merchants: others.length > 0 ? [this.merchant, ...others] : [this.merchant],
      ids,
    };
  }
}

// StoredPane's JSON around its values, in toStored()'s key order.
const J_COUNT = Buffer.from('{"count":', 'latin1');
const J_FIRST = Buffer.from(',"firstMs":', 'latin1');
const J_LAST = Buffer.from(',"lastMs":', 'latin1');
const J_CURRENCIES = Buffer.from(',"currencies":{', 'latin1');
const J_MERCHANTS = Buffer.from('},"merchants":[', 'latin1');
const J_IDS = Buffer.from('],"ids":[', 'latin1');
const J_END = Buffer.from(']}', 'latin1');
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** `"code":[n,total,min,max]` */
function writeCurrency(w: JsonWriter, code: string, n: number, total: number, min: number, max: number): void {
  w.string(code);
  w.byte(COLON);
  w.byte(OPEN_BRACKET);
  w.number(n);
  w.byte(COMMA);
  w.number(total);
  w.byte(COMMA);
  w.number(min);
  w.byte(COMMA);
  w.number(max);
  w.byte(CLOSE_BRACKET);
}

/** `[at,"id"]` */
function writeId(w: JsonWriter, at: number, id: string): void {
  w.byte(OPEN_BRACKET);
  w.number(at);
  w.byte(COMMA);
  w.string(id);
  w.byte(CLOSE_BRACKET);
}

/** The pane at `start` in a card's list (newest first), if any; most payments land in the newest. */
function paneAt(newest: Pane | undefined, start: number): Pane | undefined {
  for (let p = newest; p !== undefined && p.start >= start; p = p.older) if (p.start === start) return p;
  return undefined;
}

function addTotals(totals: CurrencyTotals[], code: string, n: number, total: number, min: number, max: number): void {
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

/** Bounded string interning: equal merchant ids and currency codes share one string. */
class Interner {
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

export class PaneStore {
  readonly #every: number;
  readonly #range: number;
  readonly #maxIds: number;
  /** card → its newest pane (the head of its list, newest first). */
  readonly #cards = new Map<string, Pane>();
  /** paneStart → cards with a pane there (each once: a card's pane at a start is created once). */
  readonly #index = new Map<number, string[]>();
  /** The keys of #index, ascending. */
  readonly #starts: number[] = [];
  /** Panes changed since the last takeDirty (each once, see Pane.dirty) and keys of purged groups. */
  #dirty: Pane[] = [];
  #purged: string[] = [];
  /** pane start → the stored keys holding its panes (groups, or panes under their own keys). */
  readonly #storedKeys = new Map<number, string[]>();
  /** Number of the next group written (above every group restored). */
  #nextGroup = WHOLE_GROUP + 1;
  /** Sorted active cards of the last boundary asked for; a new (card, pane) invalidates it. */
  #activeCache: { boundary: number; version: number; cards: string[] } | undefined;
  #version = 0;
  readonly #merchants = new Interner(100_000);
  readonly #currencies = new Interner(1_000);

  constructor(summaryEveryMs: number, summaryRangeMs: number, maxSummaryIds: number) {
    this.#every = summaryEveryMs;
    this.#range = summaryRangeMs;
    this.#maxIds = maxSummaryIds;
  }

  paneStartOf(eventTimeMs: number): number {
    return floorTo(eventTimeMs, this.#every);
  }

  #pane(card: string, start: number): Pane | undefined {
    return paneAt(this.#cards.get(card), start);
  }

  /**
   * Adds a payment to its card's pane; false, changing nothing, when that pane already holds its
   * id (a second delivery). One lookup of the card: with 100 000 cards each is a cache miss.
   */
  add(card: string, p: PanePayment): boolean {
    const start = this.paneStartOf(p.at);
    const newest = this.#cards.get(card);
    let pane = paneAt(newest, start);
    if (pane?.hasId(p.id)) return false;
    pane ??= this.#link(card, new Pane(newest?.card ?? card, start, p.at, this.#currencies.get(p.currency), this.#merchants.get(p.merchant)), newest);
    pane.addAmount(pane.n === 0 ? pane.currency : this.#currencies.get(p.currency), toMinor(p.amount));
    if (p.merchant !== pane.merchant) pane.addMerchant(this.#merchants.get(p.merchant));
    pane.addPayment(p.at, p.id);
    this.#markDirty(pane);
    return true;
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
      for (const card of this.#index.get(start) as string[]) set.add(card);
    }
    const cards = [...set].sort();
    this.#activeCache = { boundary, version: this.#version, cards };
    return cards;
  }

  /** The card's summary at boundary T, or undefined when it has no pane in [T - range, T). */
  summarize(card: string, boundary: number): SummaryData | undefined {
    const oldest = boundary - this.#range;
    const newest = boundary - this.#every;
    let pane = this.#cards.get(card);
    while (pane !== undefined && pane.start > newest) pane = pane.older;
    if (pane === undefined || pane.start < oldest) return undefined;
    const single = pane.older === undefined || pane.older.start < oldest;
    if (single && pane.more === undefined) return this.#summarizeOne(card, boundary, pane);

    // Hot path of a large catch-up (one summary per active card per boundary): few allocations.
    let count = 0;
    let firstMs = Infinity;
    let lastMs = -Infinity;
    // Per currency, in first-seen order; a card rarely pays in more than one or two.
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
    return {
      card_number: card,
      window_start: this.#windowStartIso(boundary),
      window_end: this.#windowEndIso(boundary),
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
    return {
      card_number: card,
      window_start: this.#windowStartIso(boundary),
      window_end: this.#windowEndIso(boundary),
      payment_count: pane.count,
      amounts: { [pane.currency]: { count: pane.n, total: fromMinor(pane.total), min: fromMinor(pane.min), max: fromMinor(pane.max) } },
      first_payment_at: first,
      last_payment_at: pane.lastMs === pane.firstMs ? first : iso(pane.lastMs),
      merchant_count: 1,
      payment_event_ids: this.#maxIds > 0 ? [pane.ids as string] : [],
    };
  }

  /** A boundary's window bounds as ISO strings, kept for the boundary's summaries (one per card). */
  #boundsOf: number | undefined;
  #boundsStart = '';
  #boundsEnd = '';

  #windowStartIso(boundary: number): string {
    if (this.#boundsOf !== boundary) this.#setBounds(boundary);
    return this.#boundsStart;
  }

  #windowEndIso(boundary: number): string {
    if (this.#boundsOf !== boundary) this.#setBounds(boundary);
    return this.#boundsEnd;
  }

  #setBounds(boundary: number): void {
    this.#boundsOf = boundary;
    this.#boundsStart = iso(boundary - this.#range);
    this.#boundsEnd = iso(boundary);
  }

  /** Drops every pane starting before `cutoff` (they can count in no boundary still to emit). */
  purgeBefore(cutoff: number): void {
    let n = 0;
    while (n < this.#starts.length && (this.#starts[n] as number) < cutoff) {
      const start = this.#starts[n] as number;
      for (const card of this.#index.get(start) as string[]) {
        // The purged start is this card's earliest, so its pane is the list's last.
        let newer: Pane | undefined;
        let pane = this.#cards.get(card) as Pane;
        while (pane.older !== undefined) {
          newer = pane;
          pane = pane.older;
        }
        pane.dirty = false;
        if (newer) newer.older = undefined;
        else this.#cards.delete(card);
      }
      for (const key of this.#storedKeys.get(start) ?? []) this.#purged.push(key);
      this.#storedKeys.delete(start);
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
    for (const newest of this.#cards.values()) for (let p: Pane | undefined = newest; p !== undefined; p = p.older) n++;
    return n;
  }

  get cardCount(): number {
    return this.#cards.size;
  }

  /**
   * Takes back one stored pane (already checked by the caller), from group `group` (OWN_KEY_GROUP
   * for a pane under its own key). A pane restored from an earlier group is replaced; one from a
   * later group is kept, so the result does not depend on the order entries come in.
   */
  restore(card: string, paneStart: number, stored: StoredPane, group = OWN_KEY_GROUP): void {
    const known = this.#pane(card, paneStart);
    if (known && known.group === group) throw new EngineStateError(`pane of card …${card.slice(-4)} at ${paneStart} restored twice from one entry`);
    if (known && known.group > group) return;
    const codes = Object.keys(stored.currencies);
    // One string per card, and not a slice of the stored key (which it would keep alive).
    const own = this.#cards.get(card)?.card ?? ownString(card);
    const pane = new Pane(own, paneStart, stored.firstMs, this.#currencies.get(codes[0] as string), this.#merchants.get(stored.merchants[0] as string));
    for (const code of codes) {
      const [n, total, min, max] = stored.currencies[code] as CurrencyAggregate;
      pane.addAmount(this.#currencies.get(code), 0, n, total, min, max);
    }
    for (let i = 1; i < stored.merchants.length; i++) pane.addMerchant(this.#merchants.get(stored.merchants[i] as string));
    for (const [at, id] of stored.ids) pane.addPayment(at, id);
    pane.group = group;
    if (known) this.#replace(known, pane);
    else this.#link(own, pane);
  }

  /** Notes a stored entry holding panes of `paneStart` (deleted when the start is purged). */
  addStoredKey(paneStart: number, key: string, group = OWN_KEY_GROUP): void {
    const keys = this.#storedKeys.get(paneStart);
    if (keys) keys.push(key);
    else this.#storedKeys.set(paneStart, [key]);
    if (group >= this.#nextGroup) this.#nextGroup = group + 1;
  }

  /** Every live pane as stored entries: one group per pane start, numbered WHOLE_GROUP (see discardDirty). */
  *entries(): IterableIterator<[string, Record<string, StoredPane>]> {
    for (const start of this.#starts) {
      const group: Record<string, StoredPane> = {};
      for (const card of this.#index.get(start) as string[]) group[card] = (this.#pane(card, start) as Pane).toStored();
      yield [paneGroupKey(start, WHOLE_GROUP), group];
    }
  }

  /**
   * Changes since the last call: [key, group] for each pane start with changed panes (one new
   * group of them), [key, undefined] for the groups of purged starts.
   */
  takeDirty(): [string, JsonBytes | undefined][] {
    const out: [string, JsonBytes | undefined][] = [];
    for (const key of this.#purged) out.push([key, undefined]);
    const byStart = new Map<number, Pane[]>();
    for (const pane of this.#dirty) {
      // Not dirty any more: purged since it changed (its start's keys are among the purged ones).
      if (!pane.dirty) continue;
      pane.dirty = false;
      const panes = byStart.get(pane.start);
      if (panes) panes.push(pane);
      else byStart.set(pane.start, [pane]);
    }
    if (byStart.size > 0) {
      const number = this.#nextGroup++;
      // Each group as JSON (card → StoredPane), written from the panes themselves into one buffer.
      const w = new JsonWriter(this.#dirty.length * 200);
      for (const [start, panes] of byStart) {
        const at = w.pos;
        w.byte(OPEN_BRACE);
        for (let i = 0; i < panes.length; i++) {
          const pane = panes[i] as Pane;
          if (i > 0) w.byte(COMMA);
          w.string(pane.card);
          w.byte(COLON);
          pane.writeJson(w);
        }
        w.byte(CLOSE_BRACE);
        const key = paneGroupKey(start, number);
        out.push([key, new JsonBytes(w.since(at))]);
        this.addStoredKey(start, key, number);
      }
    }
    this.#dirty = [];
    this.#purged = [];
    return out;
  }

  /**
   * Forgets the changes since the last takeDirty, for a state about to be written whole by
   * entries(): from now on each start is stored as entries()' one group, and later groups are
   * numbered above it.
   */
  discardDirty(): void {
    for (const pane of this.#dirty) pane.dirty = false;
    this.#dirty = [];
    this.#purged = [];
    this.#storedKeys.clear();
    for (const start of this.#starts) this.#storedKeys.set(start, [paneGroupKey(start, WHOLE_GROUP)]);
  }

  /** Puts `pane` where `old` (same card and start) was in the card's list. */
  #replace(old: Pane, pane: Pane): void {
    pane.older = old.older;
    const newest = this.#cards.get(old.card) as Pane;
    if (newest === old) this.#cards.set(old.card, pane);
    else {
      let newer = newest;
      while (newer.older !== old) newer = newer.older as Pane;
      newer.older = pane;
    }
    this.#version++;
  }

  /** Links a new pane into its card's list (`newest`: the card's current head, when the caller has it). */
  #link(card: string, pane: Pane, newest = this.#cards.get(card)): Pane {
    const start = pane.start;
    if (newest === undefined || newest.start < start) {
      pane.older = newest;
      this.#cards.set(card, pane);
    } else {
      let newer = newest;
      while (newer.older !== undefined && newer.older.start > start) newer = newer.older;
      pane.older = newer.older;
      newer.older = pane;
    }
    let cards = this.#index.get(start);
    if (!cards) {
      this.#index.set(start, (cards = []));
      const at = lowerBound(this.#starts, start);
      if (at === this.#starts.length) this.#starts.push(start);
      else this.#starts.splice(at, 0, start);
    }
    cards.push(card);
    this.#version++;
    return pane;
  }

  #markDirty(pane: Pane): void {
    if (pane.dirty) return;
    pane.dirty = true;
    this.#dirty.push(pane);
  }
}
