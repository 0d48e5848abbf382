/**
 * The summary aggregates of stolen cards, kept per (card, pane) (layout: pane.ts), with their time
 * index (pane-index.ts) and what persisting them needs: which panes changed since the last commit,
 * which stored entries hold each pane start, and the number of the next group written (stored
 * form: codec.ts). A summary at boundary T merges the card's panes in [T - range, T)
 * (summaries.ts).
 */
import { JsonWriter } from '../../../common/src/json-writer.js';
import { paneGroupKey, storedPane, writePaneGroup, WHOLE_GROUP, type CurrencyAggregate, type StoredPane } from './codec.js';
import { splitCardRef, tokenOfCardRef } from '../../../common/src/card-token.js';
import { EngineStateError } from './errors.js';
import { Interner, Pane, paneAt, toMinor } from './pane.js';
import { PaneTimeIndex } from './pane-index.js';
import { floorTo } from './time.js';

/** What a pane reads of a payment (a held payment satisfies it). */
export interface PanePayment {
  id: string;
  at: number;
  amount: number;
  currency: string;
  merchant: string;
}

export class PaneStore {
  readonly #every: number;
  /** card → its newest pane (the head of its list, newest first). */
  readonly #cards = new Map<string, Pane>();
  readonly #index: PaneTimeIndex;
  /** Panes changed since the last takeDirty (each once, see Pane.dirty) and keys of purged groups. */
  #dirty: Pane[] = [];
  #purged: string[] = [];
  /** pane start → the stored keys holding its panes. */
  readonly #storedKeys = new Map<number, string[]>();
  /** Number of the next group written (above every group restored). */
  #nextGroup = WHOLE_GROUP + 1;
  /** Panes removed by `rebuild` since the last takeDirty: stored as removed (null) unless their card has one there again. */
  #removed: Pane[] = [];
  /** Removals read by a restore, `<start>/<card>` → group: a pane of an earlier group read after it stays removed. */
  readonly #removals = new Map<string, number>();
  readonly #merchants = new Interner(100_000);
  readonly #currencies = new Interner(1_000);

  constructor(summaryEveryMs: number, summaryRangeMs: number) {
    this.#every = summaryEveryMs;
    this.#index = new PaneTimeIndex(summaryEveryMs, summaryRangeMs);
  }

  paneStartOf(eventTimeMs: number): number {
    return floorTo(eventTimeMs, this.#every);
  }

  /** The card's newest pane, the head of its list (undefined when it has none). */
  newestOf(card: string): Pane | undefined {
    return this.#cards.get(card);
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
    // A card's panes, its map key and its index entries share one string, the first one handed in
    // (StolenCards.refOfAscii gives a new string per payment).
    pane ??= this.#link(new Pane(newest?.card ?? card, start, p.at, this.#currencies.get(p.currency), this.#merchants.get(p.merchant)), newest);
    pane.addAmount(pane.n === 0 ? pane.currency : this.#currencies.get(p.currency), toMinor(p.amount));
    if (p.merchant !== pane.merchant) pane.addMerchant(this.#merchants.get(p.merchant));
    pane.addPayment(p.at, p.id);
    if (!pane.dirty) {
      pane.dirty = true;
      this.#dirty.push(pane);
    }
    return true;
  }

  /**
   * Replaces every pane of `card` from `fromStart` on with the panes of `payments` (a recovered
   * card: only the payments made while it was stolen count). Removed panes are stored as such.
   */
  rebuild(card: string, fromStart: number, payments: readonly PanePayment[]): void {
    for (let pane = this.#cards.get(card); pane !== undefined && pane.start >= fromStart; pane = pane.older) {
      this.#unlink(pane);
      this.#removed.push(pane);
    }
    for (const p of payments) this.add(card, p);
  }

  /** See PaneTimeIndex.nextActiveBoundary. */
  nextActiveBoundary(from: number): number | undefined {
    return this.#index.nextActiveBoundary(from);
  }

  /** Cards with at least one pane in [T - range, T), in card-ref (string) order, which is token order. */
  activeCards(boundary: number): readonly string[] {
    return this.#index.activeCards(boundary);
  }

  /** Drops every pane starting before `cutoff` (they can count in no boundary still to emit). */
  purgeBefore(cutoff: number): void {
    this.#index.purgeBefore(cutoff, (start, cards) => {
      for (const card of cards) {
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
    });
    for (const key of this.#removals.keys()) if (Number(key.slice(0, key.indexOf('/'))) < cutoff) this.#removals.delete(key);
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
   * Takes back one stored pane (already checked by the codec) from group `group`. A pane restored
   * from an earlier group is replaced; one from a later group is kept, so the result does not
   * depend on the order entries come in.
   */
  restore(card: string, paneStart: number, stored: StoredPane | null, group: number): void {
    const known = paneAt(this.#cards.get(card), paneStart);
    if (known && known.group === group)
      throw new EngineStateError(`pane of card ${splitCardRef(card).card_masked} at ${paneStart} restored twice from one entry`);
    if (known && known.group > group) return;
    const removal = `${paneStart}/${card}`;
    if ((this.#removals.get(removal) ?? -1) > group) return;
    if (stored === null) {
      // Removed in this group (rebuild): any pane of an earlier group is not the card's any more.
      if (known) this.#unlink(known);
      this.#removals.set(removal, group);
      return;
    }
    const codes = Object.keys(stored.currencies);
    // One string per card (the ref comes from the stolen cards, not from the stored entry).
    const own = this.#cards.get(card)?.card ?? card;
    const pane = new Pane(own, paneStart, stored.firstMs, this.#currencies.get(codes[0] as string), this.#merchants.get(stored.merchants[0] as string));
    for (const code of codes) {
      const [n, total, min, max] = stored.currencies[code] as CurrencyAggregate;
      pane.addAmount(this.#currencies.get(code), 0, n, total, min, max);
    }
    for (let i = 1; i < stored.merchants.length; i++) pane.addMerchant(this.#merchants.get(stored.merchants[i] as string));
    for (const [at, id] of stored.ids) pane.addPayment(at, id);
    pane.group = group;
    if (known) this.#replace(known, pane);
    else this.#link(pane);
  }

  /** Notes a stored entry holding panes of `paneStart` (deleted when the start is purged). */
  addStoredKey(paneStart: number, key: string, group: number): void {
    const keys = this.#storedKeys.get(paneStart);
    if (keys) keys.push(key);
    else this.#storedKeys.set(paneStart, [key]);
    if (group >= this.#nextGroup) this.#nextGroup = group + 1;
  }

  /** Every live pane as stored entries: one group per pane start, numbered WHOLE_GROUP (see discardDirty). */
  *entries(): IterableIterator<[string, Record<string, StoredPane>]> {
    for (const start of this.#index.starts) {
      const group: Record<string, StoredPane> = {};
      for (const card of this.#index.cardsAt(start)) group[tokenOfCardRef(card)] = storedPane(paneAt(this.#cards.get(card), start) as Pane);
      yield [paneGroupKey(start, WHOLE_GROUP), group];
    }
  }

  /**
   * Changes since the last call: [key, JSON bytes of a new group] for each pane start with changed
   * panes, [key, undefined] for the groups of purged starts.
   */
  takeDirty(): [string, Uint8Array | undefined][] {
    const out: [string, Uint8Array | undefined][] = [];
    for (const key of this.#purged) out.push([key, undefined]);
    // Panes removed and not made again, of starts still stored: written as removed in their start's group.
    const removedByStart = new Map<number, string[]>();
    for (const pane of this.#removed) {
      if (!this.#storedKeys.has(pane.start) || paneAt(this.#cards.get(pane.card), pane.start)) continue;
      const tokens = removedByStart.get(pane.start);
      if (tokens) tokens.push(tokenOfCardRef(pane.card));
      else removedByStart.set(pane.start, [tokenOfCardRef(pane.card)]);
    }
    this.#removed = [];
    const byStart = new Map<number, Pane[]>();
    for (const pane of this.#dirty) {
      // Not dirty any more: purged since it changed (its start's keys are among the purged ones).
      if (!pane.dirty) continue;
      pane.dirty = false;
      const panes = byStart.get(pane.start);
      if (panes) panes.push(pane);
      else byStart.set(pane.start, [pane]);
    }
    for (const start of removedByStart.keys()) if (!byStart.has(start)) byStart.set(start, []);
    if (byStart.size > 0) {
      const number = this.#nextGroup++;
      // Every group written into one buffer; each value is a view of its part.
      const w = new JsonWriter(this.#dirty.length * 200);
      for (const [start, panes] of byStart) {
        const at = w.pos;
        writePaneGroup(w, panes, removedByStart.get(start));
        const key = paneGroupKey(start, number);
        out.push([key, w.since(at)]);
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
    this.#removed = [];
    this.#purged = [];
    this.#storedKeys.clear();
    for (const start of this.#index.starts) this.#storedKeys.set(start, [paneGroupKey(start, WHOLE_GROUP)]);
  }

  /** Takes `pane` out of its card's list and the index. */
  #unlink(pane: Pane): void {
    const newest = this.#cards.get(pane.card) as Pane;
    if (newest === pane) {
      if (pane.older) this.#cards.set(pane.card, pane.older);
      else this.#cards.delete(pane.card);
    } else {
      let newer = newest;
      while (newer.older !== pane) newer = newer.older as Pane;
      newer.older = pane.older;
    }
    pane.dirty = false;
    this.#index.remove(pane.start, pane.card);
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
    this.#index.changed();
  }

  /** Links a new pane into its card's list (`newest`: the card's current head, when the caller has it). */
  #link(pane: Pane, newest = this.#cards.get(pane.card)): Pane {
    const { card, start } = pane;
    if (newest === undefined || newest.start < start) {
      pane.older = newest;
      this.#cards.set(card, pane);
    } else {
      let newer = newest;
      while (newer.older !== undefined && newer.older.start > start) newer = newer.older;
      pane.older = newer.older;
      newer.older = pane;
    }
    this.#index.add(start, card);
    return pane;
  }
}
