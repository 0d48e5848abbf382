/**
 * Pending alert windows: tumbling, epoch-aligned event-time windows [k·size, (k+1)·size) that hold
 * stolen-card payments until the watermark reaches the window end. A late payment (its window
 * already closed) is put in its window too, flagged late, so there is one queue of alerts to emit
 * and one place that persists them; its window is closed, so it goes out in the next drain.
 * Within a window alerts go out in event-time order, ties by payment id.
 */
import { JsonWriter } from '../../../common/src/json-writer.js';
import { heldKey, writeHeldGroup, type HeldPayment } from './codec.js';
import { insertUnique, removeSorted } from './sorted.js';
import { floorTo } from './time.js';

/** Emission order within a window: event time, ties by payment id (so it never depends on arrival). */
function before(a: HeldPayment, b: HeldPayment): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}

/** One pending window: its payments in emission order, from `next` on, and how they are stored. */
class Window {
  readonly held: HeldPayment[] = [];
  /** Index of the next payment to fire (fired ones are dropped in bulk, not shifted one by one). */
  next = 0;
  readonly ids = new Set<string>();
  /** Keys of the stored groups holding this window's payments. */
  storedKeys: string[] = [];
  /** Payments added since the last takeDirty: the next group to write. */
  fresh: HeldPayment[] = [];
  /** Some payment fired since the last takeDirty: the stored groups no longer match. */
  fired = false;

  constructor(readonly start: number) {}

  get size(): number {
    return this.held.length - this.next;
  }

  /** Drops the fired payments from the list (once per commit, not one shift per alert). */
  compact(): void {
    this.held.splice(0, this.next);
    this.next = 0;
  }
}

export class AlertWindows {
  readonly #size: number;
  readonly #windows = new Map<number, Window>();
  /** Window starts, ascending: the first one is the next to close. */
  readonly #starts: number[] = [];
  /** Windows changed since the last takeDirty (added to or fired from), and keys of windows gone. */
  readonly #dirty = new Set<Window>();
  #deadKeys: string[] = [];

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
    return this.#windows.get(windowStart)?.ids.has(paymentId) ?? false;
  }

  add(payment: HeldPayment): void {
    const w = this.#insert(payment);
    w.fresh.push(payment);
    this.#dirty.add(w);
  }

  /** Start of the earliest window whose end the watermark has reached and that still holds payments. */
  nextClosed(isReached: (endMs: number) => boolean): number | undefined {
    const start = this.#starts[0];
    return start !== undefined && isReached(start + this.#size) ? start : undefined;
  }

  /** Removes and returns the earliest payment of a window; a window emptied is dropped. */
  shift(windowStart: number): HeldPayment {
    const w = this.#windows.get(windowStart);
    const payment = w?.held[w.next];
    if (!w || !payment) throw new Error(`no held payment in window ${windowStart}`);
    w.next++;
    w.ids.delete(payment.id);
    w.fired = true;
    if (w.size === 0) {
      this.#windows.delete(windowStart);
      removeSorted(this.#starts, windowStart);
      this.#dirty.delete(w);
      for (const key of w.storedKeys) this.#deadKeys.push(key);
    } else {
      this.#dirty.add(w);
    }
    return payment;
  }

  get windowCount(): number {
    return this.#windows.size;
  }

  /** Takes back a stored group (under its key as stored), in any order. */
  restoreGroup(key: string, payments: readonly HeldPayment[]): void {
    let w: Window | undefined;
    for (const p of payments) w = this.#insert(p);
    w?.storedKeys.push(key);
  }

  /** Every held payment, as stored entries: one group per window (see discardDirty). */
  *entries(): IterableIterator<[string, HeldPayment[]]> {
    for (const start of this.#starts) {
      const w = this.#windows.get(start) as Window;
      const held = w.held.slice(w.next);
      yield [heldKey(start, held[0] as HeldPayment), held];
    }
  }

  /**
   * Forgets the changes since the last takeDirty, for a state about to be written whole by
   * entries(): from now on each window is stored as the one group entries() gives it, so the
   * keys deleted when it fires are the keys that were written.
   */
  discardDirty(): void {
    for (const w of this.#windows.values()) {
      w.compact();
      w.storedKeys = [heldKey(w.start, w.held[0] as HeldPayment)];
      w.fresh = [];
      w.fired = false;
    }
    this.#dirty.clear();
    this.#deadKeys = [];
  }

  /**
   * Changed keys since the last call: [key, group] to write, [key, undefined] to delete. A window
   * only added to gets one new group; a window fired from is stored again as one group of what
   * is left (rare: a drain stopped by its limit inside a window); a window emptied loses its keys.
   */
  takeDirty(): [string, Uint8Array | undefined][] {
    const out = new Map<string, Uint8Array | undefined>();
    for (const key of this.#deadKeys) out.set(key, undefined);
    // Every group written into one buffer, as JSON (an array of HeldPayment); each value a view of its part.
    const w = new JsonWriter();
    for (const win of this.#dirty) {
      let group: HeldPayment[];
      if (win.fired) {
        for (const key of win.storedKeys) out.set(key, undefined);
        win.compact();
        group = win.held;
        win.storedKeys = [];
        win.fired = false;
      } else {
        group = win.fresh;
        // Fresh payments mostly arrive in order; the group's key is its first in emission order.
        group.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
      }
      const key = heldKey(win.start, group[0] as HeldPayment);
      const at = w.pos;
      writeHeldGroup(w, group);
      out.set(key, w.since(at));
      win.storedKeys.push(key);
      win.fresh = [];
    }
    this.#dirty.clear();
    this.#deadKeys = [];
    return [...out];
  }

  /** Inserts in emission order (usually at the end: payments mostly arrive in event-time order). */
  #insert(payment: HeldPayment): Window {
    const start = this.startOf(payment.at);
    let w = this.#windows.get(start);
    if (!w) {
      w = new Window(start);
      this.#windows.set(start, w);
      insertUnique(this.#starts, start);
    }
    w.ids.add(payment.id);
    const held = w.held;
    let i = held.length;
    while (i > w.next && before(payment, held[i - 1] as HeldPayment)) i--;
    held.splice(i, 0, payment);
    return w;
  }
}
