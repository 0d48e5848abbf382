/**
 * The time index of the panes: pane start → the cards with a pane there. It lets the emitter find
 * the next boundary that has any data with one binary search, and visit only the cards with data
 * in a boundary's range, however far the watermark jumps.
 */
import { lowerBound } from './sorted.js';

export class PaneTimeIndex {
  readonly #every: number;
  readonly #range: number;
  /** paneStart → cards with a pane there (each once: a card's pane at a start is created once). */
  readonly #cards = new Map<number, string[]>();
  /** The keys of #cards, ascending. */
  readonly #starts: number[] = [];
  /** Sorted active cards of the last boundary asked for; any change to the panes invalidates it. */
  #activeCache: { boundary: number; version: number; cards: string[] } | undefined;
  #version = 0;

  constructor(summaryEveryMs: number, summaryRangeMs: number) {
    this.#every = summaryEveryMs;
    this.#range = summaryRangeMs;
  }

  /** Pane starts with at least one pane, ascending. */
  get starts(): readonly number[] {
    return this.#starts;
  }

  /** The cards with a pane at `start`, in the order their panes were made. */
  cardsAt(start: number): readonly string[] {
    return this.#cards.get(start) ?? [];
  }

  /** Notes a new pane of `card` at `start`. */
  add(start: number, card: string): void {
    let cards = this.#cards.get(start);
    if (!cards) {
      this.#cards.set(start, (cards = []));
      const at = lowerBound(this.#starts, start);
      if (at === this.#starts.length) this.#starts.push(start);
      else this.#starts.splice(at, 0, start);
    }
    cards.push(card);
    this.#version++;
  }

  /** Notes that `card` has no pane at `start` any more (a recovered card's panes rebuilt). */
  remove(start: number, card: string): void {
    const cards = this.#cards.get(start);
    const i = cards ? cards.indexOf(card) : -1;
    if (!cards || i < 0) return;
    cards.splice(i, 1);
    if (cards.length === 0) {
      this.#cards.delete(start);
      this.#starts.splice(lowerBound(this.#starts, start), 1);
    }
    this.#version++;
  }

  /** Notes that a pane was replaced by another of the same card and start (a restore). */
  changed(): void {
    this.#version++;
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
      for (const card of this.#cards.get(start) as string[]) set.add(card);
    }
    const cards = [...set].sort();
    this.#activeCache = { boundary, version: this.#version, cards };
    return cards;
  }

  /** Drops every start before `cutoff`, handing each to `purged` with its cards, oldest first. */
  purgeBefore(cutoff: number, purged: (start: number, cards: readonly string[]) => void): void {
    let n = 0;
    while (n < this.#starts.length && (this.#starts[n] as number) < cutoff) {
      const start = this.#starts[n] as number;
      purged(start, this.#cards.get(start) as string[]);
      this.#cards.delete(start);
      n++;
    }
    if (n > 0) {
      this.#starts.splice(0, n);
      this.#version++;
    }
  }
}
