/**
 * Pending alert windows: tumbling, epoch-aligned event-time windows [k·size, (k+1)·size) that hold
 * stolen-card payments until the watermark reaches the window end. A late payment (its window
 * already closed) is put in its window too, flagged late, so there is one queue of alerts to emit
 * and one place that persists them; its window is closed, so it goes out in the next drain.
 * Within a window alerts go out in event-time order, ties by payment id.
 */
import { insertUnique, removeSorted } from './sorted.js';
import { floorTo, padTime } from './types.js';

/** A held payment as stored: its key `win/<windowStart>/<at>/<id>` carries the rest. */
export interface StoredHeld {
  /** The payment's event_date_origin as received. */
  origin: string;
  card: string;
  amount: number;
  currency: string;
  merchant: string;
  late: boolean;
}

/** A payment waiting for its alert. */
export interface HeldPayment extends StoredHeld {
  id: string;
  /** Event time, ms. */
  at: number;
}

export const WINDOW_KEY_PREFIX = 'win/';

/**
 * The key of one held payment. Each payment has its own key, written once when it is held and
 * deleted when its alert is drained: storing a window whole rewrote every payment already in it
 * at each commit (a 5-s window spans several GetRecords batches), which was a quarter of the
 * engine's time (docs/benchmarks.md). Zero-padded times make the store's key order the order
 * alerts are emitted in.
 */
export function heldKey(windowStart: number, p: { at: number; id: string }): string {
  return `${WINDOW_KEY_PREFIX}${padTime(windowStart)}/${padTime(p.at)}/${p.id}`;
}

/** heldKey's format, read back: window start, event time, payment id. */
export const HELD_KEY = /^win\/(\d{13})\/(\d{13})\/(.+)$/;
/** A window stored whole under `win/<windowStart>`, the format before one key per payment. */
export const WHOLE_WINDOW_KEY = /^win\/(-?\d+)$/;

export function storedHeld(p: HeldPayment): StoredHeld {
  return { origin: p.origin, card: p.card, amount: p.amount, currency: p.currency, merchant: p.merchant, late: p.late };
}

/** Emission order within a window: event time, ties by payment id (so it never depends on arrival). */
function before(a: HeldPayment, b: HeldPayment): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}

export class AlertWindows {
  readonly #size: number;
  /** windowStart → held payments in emission order (see `before`). */
  readonly #windows = new Map<number, HeldPayment[]>();
  /** windowStart → ids held there: the duplicate check is O(1), not a scan of the window. */
  readonly #ids = new Map<number, Set<string>>();
  /** Window starts, ascending: the first one is the next to close. */
  readonly #starts: number[] = [];
  /** Keys changed since the last takeDirty: the payment to put, or undefined to delete. */
  readonly #dirty = new Map<string, HeldPayment | undefined>();

  constructor(windowSizeMs: number) {
    this.#size = windowSizeMs;
  }

  startOf(eventTimeMs: number): number {
    return floorTo(eventTimeMs, this.#size);
  }

  endOf(windowStart: number): number {
    return windowStart + this.#size;
  }

  holds(windowStart: number, paymentId: string): boolean {
    return this.#ids.get(windowStart)?.has(paymentId) ?? false;
  }

  add(payment: HeldPayment): void {
    const start = this.#insert(payment);
    this.#dirty.set(heldKey(start, payment), payment);
  }

  /** Start of the earliest window whose end the watermark has reached and that still holds payments. */
  nextClosed(isReached: (endMs: number) => boolean): number | undefined {
    const start = this.#starts[0];
    return start !== undefined && isReached(start + this.#size) ? start : undefined;
  }

  /** Removes and returns the earliest payment of a window; a window emptied is dropped. */
  shift(windowStart: number): HeldPayment {
    const held = this.#windows.get(windowStart);
    const payment = held?.shift();
    if (!held || !payment) throw new Error(`no held payment in window ${windowStart}`);
    this.#ids.get(windowStart)?.delete(payment.id);
    if (held.length === 0) {
      this.#windows.delete(windowStart);
      this.#ids.delete(windowStart);
      removeSorted(this.#starts, windowStart);
    }
    this.#dirty.set(heldKey(windowStart, payment), undefined);
    return payment;
  }

  get windowCount(): number {
    return this.#windows.size;
  }

  /** Takes back one stored payment (in any order). */
  restore(payment: HeldPayment): void {
    this.#insert(payment);
  }

  /**
   * Takes back a window stored whole under `win/<windowStart>` (the format before one key per
   * payment); its payments are rewritten under their own keys and the old key deleted at the next
   * commit.
   */
  restoreWholeWindow(windowStart: number, held: HeldPayment[]): void {
    for (const p of held) this.add(p);
    this.#dirty.set(WINDOW_KEY_PREFIX + padTime(windowStart), undefined);
  }

  /** Every held payment, as stored entries. */
  *entries(): IterableIterator<[string, StoredHeld]> {
    for (const start of this.#starts) {
      for (const p of this.#windows.get(start) as HeldPayment[]) yield [heldKey(start, p), storedHeld(p)];
    }
  }

  /** Changed keys since the last call: [key, value] for held payments, [key, undefined] for drained ones. */
  takeDirty(): [string, StoredHeld | undefined][] {
    const out: [string, StoredHeld | undefined][] = [];
    for (const [key, p] of this.#dirty) out.push([key, p && storedHeld(p)]);
    this.#dirty.clear();
    return out;
  }

  /** Inserts in emission order (usually at the end: payments mostly arrive in event-time order). */
  #insert(payment: HeldPayment): number {
    const start = this.startOf(payment.at);
    let held = this.#windows.get(start);
    let ids = this.#ids.get(start);
    if (!held || !ids) {
      held = [];
      ids = new Set();
      this.#windows.set(start, held);
      this.#ids.set(start, ids);
      insertUnique(this.#starts, start);
    }
    ids.add(payment.id);
    let i = held.length;
    while (i > 0 && before(payment, held[i - 1] as HeldPayment)) i--;
    held.splice(i, 0, payment);
    return start;
  }
}
