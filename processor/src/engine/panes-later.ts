/**
 * Alerts first (issue 17; source/pane-restore.ts): what an engine restored without its panes keeps
 * until they are all in: the reader that checks pane groups as they come (as any restore checks
 * them), and the pane updates of the stolen payments taken meanwhile, in the order they came.
 */
import { PANE_KEY_PREFIX, type HeldPayment, type StateReader } from './codec.js';
import { EngineStateError } from './errors.js';
import type { PanePayment, PaneStore } from './pane-store.js';

/** A recovered card's panes from `fromStart` on, to be made of these payments (PaneStore.rebuild). */
interface Rebuild {
  card: string;
  fromStart: number;
  payments: readonly PanePayment[];
}

export class PanesLater {
  readonly #reader: StateReader;
  readonly #waiting: Array<HeldPayment | Rebuild> = [];

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

  /** A recovered card's pane rebuild, held until `applyTo`. */
  waitRebuild(card: string, fromStart: number, payments: readonly PanePayment[]): void {
    this.#waiting.push({ card, fromStart, payments });
  }

  /** Applies the waiting updates in the order they came (a second delivery changes nothing, as it would have). */
  applyTo(panes: PaneStore): void {
    for (const u of this.#waiting) {
      if ('fromStart' in u) panes.rebuild(u.card, u.fromStart, u.payments);
      else panes.add(u.card, u);
    }
    this.#waiting.length = 0;
  }
}
