/**
 * Stolen-card payments whose event time cannot be trusted: stamped further ahead of their Kinesis
 * arrival than the allowed clock skew (a producer with a wrong clock). Such a payment must never
 * drive stream time (one of them would move the watermark hours ahead and make every later
 * payment late), so it cannot wait in an event-time window either. It is alerted promptly
 * instead: queued here and emitted at the next drain, before anything else, in arrival order.
 * It counts in no summary (summaries place payments by event time, and this one's is wrong).
 *
 * Rare by nature, so each is stored under its own key: `prompt/<arrivalMs>/<paymentId>`, put when
 * queued, deleted when drained. Zero-padded arrival times make key order the emission order, so a
 * restore continues exactly where the drain stopped.
 */
import { promptKey, type PromptPayment } from './codec.js';

function before(a: PromptPayment, b: PromptPayment): boolean {
  return a.arrivalMs < b.arrivalMs || (a.arrivalMs === b.arrivalMs && a.id < b.id);
}

export class PromptAlerts {
  /** In emission order (arrival, then payment id). */
  readonly #queue: PromptPayment[] = [];
  readonly #ids = new Set<string>();
  #dirty: Array<[string, PromptPayment | undefined]> = [];

  get size(): number {
    return this.#queue.length;
  }

  holds(paymentId: string): boolean {
    return this.#ids.has(paymentId);
  }

  /** Queues a payment (a second delivery while it is queued is ignored: false). */
  add(p: PromptPayment): boolean {
    if (this.#ids.has(p.id)) return false;
    this.#insert(p);
    this.#dirty.push([promptKey(p), p]);
    return true;
  }

  /** The next payment to alert, removed from the queue; undefined when none. */
  shift(): PromptPayment | undefined {
    const p = this.#queue.shift();
    if (!p) return undefined;
    this.#ids.delete(p.id);
    this.#dirty.push([promptKey(p), undefined]);
    return p;
  }

  /** Takes back a stored payment (restore), in any order. */
  restore(p: PromptPayment): void {
    if (!this.#ids.has(p.id)) this.#insert(p);
  }

  *entries(): IterableIterator<[string, PromptPayment]> {
    for (const p of this.#queue) yield [promptKey(p), p];
  }

  /** Changed keys since the last call: [key, payment] to write, [key, undefined] to delete. */
  takeDirty(): Array<[string, PromptPayment | undefined]> {
    const out = this.#dirty;
    this.#dirty = [];
    // The last change of each key wins (a payment queued and drained since the last commit is a
    // delete of a key that may never have been written: harmless).
    return [...new Map(out)];
  }

  discardDirty(): void {
    this.#dirty = [];
  }

  #insert(p: PromptPayment): void {
    let i = this.#queue.length;
    while (i > 0 && before(p, this.#queue[i - 1]!)) i--;
    this.#queue.splice(i, 0, p);
    this.#ids.add(p.id);
  }
}
