/**
 * Alerts first (issue 17; source/pane-restore.ts): what an engine restored without its panes keeps
 * until they are all in: the reader that checks pane groups as they come (as any restore checks
 * them), and the pane updates of the stolen payments taken meanwhile, in the order they came.
 */
import { PANE_KEY_PREFIX, type HeldPayment, type StateReader } from './codec.js';
import { EngineStateError } from './errors.js';
import type { PaneStore } from './pane-store.js';

export class PanesLater {
  readonly #reader: StateReader;
  readonly #waiting: HeldPayment[] = [];

  /** `reader`: the restore's own (its sink puts panes into the engine's pane store). */
  constructor(reader: StateReader) {
    this.#reader = reader;
  }

  /** Stored pane groups, in any order and any number of calls; anything else is refused. */
  restore(entries: Iterable<readonly [string, unknown]>): void {
    for (const [key, value] of entries) {
      if (!key.startsWith(PANE_KEY_PREFIX)) throw new EngineStateError(`state entry ${key} is not a pane group`);
      this.#reader.add(key, value);
    }
  }

  /** A stolen payment's pane update, held until `applyTo`. */
  wait(payment: HeldPayment): void {
    this.#waiting.push(payment);
  }

  /** Applies the waiting updates in the order they came (a second delivery changes nothing, as it would have). */
  applyTo(panes: PaneStore): void {
    for (const payment of this.#waiting) panes.add(payment.card, payment);
    this.#waiting.length = 0;
  }
}
