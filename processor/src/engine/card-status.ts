/**
 * Card status on the stream: the cards a CARD_STATUS_CHANGED record of this shard has named, each
 * with its history in effective time. A card's status at event time t is that of its latest change
 * effective at or before t (of two changes effective at the same instant, the one read last); a
 * card no change covers at t is STOLEN iff the stolen list holds it (the list is "STOLEN since the
 * beginning of time"). This is the versioned table of a Kafka Streams stream–table join: a
 * payment is judged by the status of its own time, not by the latest one.
 *
 * Part of the shard's state: `card/<token>` → { ref, history: [[effectiveAtMs, status], …] },
 * written whole when the card changes. Keys sort before every other entry, so a restore in key
 * order knows the reported cards before it meets their panes.
 */
import { splitCardRef, tokenOfCardRef } from '../../../common/src/card-token.js';
import { upperBound } from './sorted.js';

export const CARD_STATUS_KEY_PREFIX = 'card/';
export const cardStatusKey = (token: string): string => `${CARD_STATUS_KEY_PREFIX}${token}`;

/** A card's status history as stored; times ascending, ties in the order read. */
export interface StoredCardStatus {
  ref: string;
  history: [number, 'STOLEN' | 'ACTIVE'][];
}

/**
 * A card number's truncated form (length, first 6 and last 4 digits) as one number: the part of a
 * card its masked form shows, and what the hot path tests before it pays for a token.
 */
export function truncatedKey(first6: number, length: number, last4: number): number {
  return (first6 * 32 + length) * 10_000 + last4;
}

function truncatedKeyOfMasked(masked: string): number {
  return truncatedKey(Number(masked.slice(0, 6)), masked.length, Number(masked.slice(-4)));
}

/** What the hot path asks of the reported cards (source/shard-cards.ts). */
export interface ReportedCards {
  /** Number of cards reported; 0 lets the hot path skip every other question. */
  readonly size: number;
  /** Whether a reported card has this truncated form (see truncatedKey). */
  hasTruncated(key: number): boolean;
  /** The card ref of a reported card's token, or undefined. */
  refOfToken(token: string): string | undefined;
}

interface CardHistory {
  ref: string;
  /** Effective times, ascending; `stolen` in the same order. */
  times: number[];
  stolen: boolean[];
}

export class CardStatuses implements ReportedCards {
  readonly #cards = new Map<string, CardHistory>();
  readonly #truncated = new Set<number>();
  #dirty = new Set<string>();

  get size(): number {
    return this.#cards.size;
  }

  hasTruncated(key: number): boolean {
    return this.#truncated.has(key);
  }

  refOfToken(token: string): string | undefined {
    return this.#cards.get(token)?.ref;
  }

  /** True when a change of the card has been read. */
  has(token: string): boolean {
    return this.#cards.has(token);
  }

  /** The card's status at event time `t` by its changes: true (STOLEN), false (ACTIVE), undefined when none is effective by `t`. */
  at(token: string, t: number): boolean | undefined {
    const h = this.#cards.get(token);
    if (h === undefined) return undefined;
    const i = upperBound(h.times, t) - 1;
    return i < 0 ? undefined : h.stolen[i];
  }

  /** Records a change read from the stream. */
  record(ref: string, stolen: boolean, effectiveAtMs: number): void {
    const token = tokenOfCardRef(ref);
    let h = this.#cards.get(token);
    if (h === undefined) {
      h = { ref, times: [], stolen: [] };
      this.#cards.set(token, h);
      this.#truncated.add(truncatedKeyOfMasked(splitCardRef(ref).card_masked));
    }
    // After every change effective at the same instant: the last one read wins.
    const i = upperBound(h.times, effectiveAtMs);
    h.times.splice(i, 0, effectiveAtMs);
    h.stolen.splice(i, 0, stolen);
    this.#dirty.add(token);
  }

  /** Takes back one stored card (already checked by the codec). */
  restore(stored: StoredCardStatus): void {
    const token = tokenOfCardRef(stored.ref);
    this.#cards.set(token, { ref: stored.ref, times: stored.history.map(([t]) => t), stolen: stored.history.map(([, s]) => s === 'STOLEN') });
    this.#truncated.add(truncatedKeyOfMasked(splitCardRef(stored.ref).card_masked));
  }

  *entries(): IterableIterator<[string, StoredCardStatus]> {
    for (const token of this.#cards.keys()) yield [cardStatusKey(token), this.#stored(token)];
  }

  takeDirty(): [string, StoredCardStatus][] {
    const out: [string, StoredCardStatus][] = [];
    for (const token of this.#dirty) out.push([cardStatusKey(token), this.#stored(token)]);
    this.#dirty = new Set();
    return out;
  }

  discardDirty(): void {
    this.#dirty = new Set();
  }

  #stored(token: string): StoredCardStatus {
    const h = this.#cards.get(token) as CardHistory;
    return { ref: h.ref, history: h.times.map((t, i) => [t, h.stolen[i] ? 'STOLEN' : 'ACTIVE']) };
  }
}
