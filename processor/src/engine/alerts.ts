/**
 * Pending alert windows: tumbling, epoch-aligned event-time windows [k·size, (k+1)·size) that hold
 * stolen-card payments until the watermark reaches the window end. A late payment (its window
 * already closed) is put in its window too, flagged late, so there is one queue of alerts to emit
 * and one place that persists them; its window is closed, so it goes out in the next drain.
 * Within a window alerts go out in event-time order, ties by payment id.
 */
import { insertUnique, removeSorted } from './sorted.js';
import { floorTo, padTime } from './types.js';
import { JsonBytes } from '../state/json-bytes.js';
import { JsonWriter } from '../../../common/src/json-writer.js';

/** A held payment as stored by the per-payment format (one key each, value without id and time). */
export interface StoredHeld {
  /** The payment's event_date_origin as received. */
  origin: string;
  card: string;
  amount: number;
  currency: string;
  merchant: string;
  late: boolean;
}

/** A payment waiting for its alert (also how a group of held payments is stored: an array of these). */
export interface HeldPayment extends StoredHeld {
  id: string;
  /** Event time, ms. */
  at: number;
}

export const WINDOW_KEY_PREFIX = 'win/';

/**
 * The key of a group of held payments of one window: the key of its first payment. Payments are
 * written in groups, one per window per commit (the payments that arrived since the last commit),
 * and a window's groups are deleted when its alerts are drained. One key per payment, put when
 * held and deleted when fired, was two of the three store writes of every stolen payment, and
 * a window stored whole was rewritten at every commit (docs/benchmarks.md). Zero-padded times
 * keep a window's groups in key order.
 */
export function heldKey(windowStart: number, p: { at: number; id: string }): string {
  return `${WINDOW_KEY_PREFIX}${padTime(windowStart)}/${padTime(p.at)}/${p.id}`;
}

/**
 * heldKey's format, read back: window start, first event time, first payment id. Its value is a
 * group (an array of HeldPayment), or, as written before groups, one StoredHeld.
 */
export const HELD_KEY = /^win\/(\d{13})\/(\d{13})\/(.+)$/;
/** A window stored whole under `win/<windowStart>` (the first format): read as one group. */
export const WHOLE_WINDOW_KEY = /^win\/(-?\d+)$/;

// HeldPayment's JSON around its values, in the order its objects are built (JSON.stringify's).
const H_ID = Buffer.from('{"id":', 'latin1');
const H_AT = Buffer.from(',"at":', 'latin1');
const H_ORIGIN = Buffer.from(',"origin":', 'latin1');
const H_CARD = Buffer.from(',"card":', 'latin1');
const H_AMOUNT = Buffer.from(',"amount":', 'latin1');
const H_CURRENCY = Buffer.from(',"currency":', 'latin1');
const H_MERCHANT = Buffer.from(',"merchant":', 'latin1');
const H_LATE = Buffer.from(',"late":', 'latin1');
const H_TRUE = Buffer.from('true}', 'latin1');
const H_FALSE = Buffer.from('false}', 'latin1');

/** JSON.stringify(group), written straight into `w` (held payments are a share of every commit). */
export function writeHeldGroup(w: JsonWriter, group: readonly HeldPayment[]): void {
  w.byte(0x5b);
  for (let i = 0; i < group.length; i++) {
    const p = group[i] as HeldPayment;
    if (i > 0) w.byte(0x2c);
    w.bytes(H_ID);
    w.string(p.id);
    w.bytes(H_AT);
    w.number(p.at);
    w.bytes(H_ORIGIN);
    w.string(p.origin);
    w.bytes(H_CARD);
    w.string(p.card);
    w.bytes(H_AMOUNT);
    w.number(p.amount);
    w.bytes(H_CURRENCY);
    w.string(p.currency);
    w.bytes(H_MERCHANT);
    w.string(p.merchant);
    w.bytes(H_LATE);
    w.bytes(p.late ? H_TRUE : H_FALSE);
  }
  w.byte(0x5d);
}

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

  /** Takes back a stored group (`key` as stored: any of the three formats), in any order. */
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
  takeDirty(): [string, JsonBytes | undefined][] {
    const out = new Map<string, JsonBytes | undefined>();
    for (const key of this.#deadKeys) out.set(key, undefined);
    // Every group written into one buffer, as JSON (an array of HeldPayment).
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
      out.set(key, new JsonBytes(w.since(at)));
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
