/**
 * The cards one shard's hot path asks about: the stolen list (StolenCards, one per process) and
 * the cards reported stolen or recovered on this shard (its engine's, growing as reports are
 * read). A payment of either is a candidate: it is named by its card ref and handed to the engine,
 * which judges it by the card's status at the payment's time. Any other payment is answered "no"
 * by the list's filter and a set of the reported cards' truncated forms, without a token.
 */
import type { AsciiCardSet } from '../../../common/src/payment-fast-path.js';
import { truncatedKey, type ReportedCards } from '../engine/card-status.js';
import type { StolenCards } from './stolen-cards.js';

/** What classify asks of the cards (StolenCards alone answers it too: a shard with no reports). */
export interface CandidateCards extends AsciiCardSet {
  /** The card ref of a candidate card number, else undefined. */
  refOf(card: string): string | undefined;
  /** The card ref of any card number (a reported card). */
  cardRefOf(card: string): string;
}

/** The truncated form of the card written as ASCII in bytes[start, end) (see truncatedKey), or -1. */
function truncatedKeyOfAscii(bytes: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n < 12 || n > 19) return -1;
  let first6 = 0;
  let last4 = 0;
  for (let i = start; i < start + 6; i++) first6 = first6 * 10 + (bytes[i] as number) - 0x30;
  for (let i = end - 4; i < end; i++) last4 = last4 * 10 + (bytes[i] as number) - 0x30;
  return truncatedKey(first6, n, last4);
}

export class ShardCards implements CandidateCards {
  readonly #stolen: StolenCards;
  readonly #reported: ReportedCards;

  constructor(stolen: StolenCards, reported: ReportedCards) {
    this.#stolen = stolen;
    this.#reported = reported;
  }

  mayHaveAscii(bytes: Uint8Array, start: number, end: number): boolean {
    if (this.#stolen.mayHaveAscii(bytes, start, end)) return true;
    return this.#reported.size > 0 && this.#reported.hasTruncated(truncatedKeyOfAscii(bytes, start, end));
  }

  refOfAscii(bytes: Uint8Array, start: number, end: number): string | undefined {
    // One token for both questions: it is the costly part.
    const token = this.#stolen.digestOfAscii(bytes, start, end);
    return this.#stolen.refOfDigest(token) ?? (this.#reported.size > 0 ? this.#reported.refOfToken(token.toString('base64url')) : undefined);
  }

  refOf(card: string): string | undefined {
    const bytes = Buffer.from(card, 'latin1');
    if (bytes.length !== card.length || !this.mayHaveAscii(bytes, 0, bytes.length)) return undefined;
    return this.refOfAscii(bytes, 0, bytes.length);
  }

  cardRefOf(card: string): string {
    return this.#stolen.cardRefOf(card);
  }
}
