/**
 * Pending alert windows: tumbling, epoch-aligned event-time windows [k·size, (k+1)·size) that hold
 * stolen-card payments until the watermark reaches the window end. A late payment (its window
 * already closed) is put in its window too, flagged late, so there is one queue of alerts to emit
 * and one place that persists them; its window is closed, so it goes out in the next drain.
 */
import { insertUnique, lowerBound } from './sorted.js';
import { floorTo, padTime } from './types.js';

/** A payment waiting for its alert (short field names: this is stored per held payment). */
export interface HeldPayment {
  id: string;
  /** Event time, ms. */
  at: number;
  /** The payment's event_date_origin as received. */
  origin: string;
  card: string;
  amount: number;
  currency: string;
  merchant: string;
  late: boolean;
}

export const WINDOW_KEY_PREFIX = 'win/';

export class AlertWindows {
  readonly #size: number;
  /** windowStart → held payments in event-time order, ties in arrival order. */
  readonly #windows = new Map<number, HeldPayment[]>();
  /** windowStart → ids held there: the duplicate check is O(1), not a scan of the window. */
  readonly #ids = new Map<number, Set<string>>();
  /** Window starts, ascending: the first one is the next to close. */
  readonly #starts: number[] = [];
  readonly #dirty = new Set<number>();

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
    const start = this.startOf(payment.at);
    let held = this.#windows.get(start);
    if (!held) {
      held = [];
      this.#windows.set(start, held);
      this.#ids.set(start, new Set());
      insertUnique(this.#starts, start);
    }
    this.#ids.get(start)?.add(payment.id);
    // After every payment with the same or an earlier event time: ties keep arrival order.
    let i = held.length;
    while (i > 0 && (held[i - 1] as HeldPayment).at > payment.at) i--;
    held.splice(i, 0, payment);
    this.#dirty.add(start);
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
      this.#starts.splice(lowerBound(this.#starts, windowStart), 1);
    }
    this.#dirty.add(windowStart);
    return payment;
  }

  get windowCount(): number {
    return this.#windows.size;
  }

  /** Rebuilds one window from its stored entry. */
  restore(windowStart: number, held: HeldPayment[]): void {
    if (held.length === 0) return;
    this.#windows.set(windowStart, held);
    this.#ids.set(windowStart, new Set(held.map((p) => p.id)));
    insertUnique(this.#starts, windowStart);
  }

  /** Every window with held payments, as stored entries. */
  *entries(): IterableIterator<[string, HeldPayment[]]> {
    for (const start of this.#starts) yield [WINDOW_KEY_PREFIX + padTime(start), (this.#windows.get(start) as HeldPayment[]).map((p) => ({ ...p }))];
  }

  /** Changed windows since the last call: [key, value] for live ones, [key, undefined] for removed ones. */
  takeDirty(): [string, HeldPayment[] | undefined][] {
    const out: [string, HeldPayment[] | undefined][] = [];
    for (const start of this.#dirty) {
      const held = this.#windows.get(start);
      out.push([WINDOW_KEY_PREFIX + padTime(start), held?.map((p) => ({ ...p }))]);
    }
    this.#dirty.clear();
    return out;
  }
}
