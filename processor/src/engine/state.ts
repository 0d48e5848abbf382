/**
 * Reading stored entries back. Values were written by takeChanges() as JSON; they are checked
 * here, once, at restore, so a corrupt or foreign store fails loudly instead of skewing results.
 * Entries are taken one at a time (`StateReader.add`), so a restore never needs the whole stored
 * state in memory beside the engine it builds.
 */
import { z } from 'zod';
import { HELD_KEY, WHOLE_WINDOW_KEY, type HeldPayment, type StoredHeld } from './alerts.js';
import type { EngineMeta } from './shard-engine.js';
import { OWN_KEY_GROUP, PANE_GROUP_KEY, PANE_KEY, type CurrencyAggregate, type StoredPane } from './panes.js';
import { PROMPT_KEY, type PromptPayment } from './prompt.js';
import { EngineStateError, floorTo, type EngineConfig } from './types.js';

const time = z.number().int();

const metaSchema = z.strictObject({
  version: z.literal(1),
  geometry: z.strictObject({ alertWindowMs: z.number(), summaryEveryMs: z.number(), summaryRangeMs: z.number() }),
  maxEventTimeMs: time.nullable(),
  watermarkMs: time.nullable(),
  summariesDoneThrough: time.nullable(),
  summaryCursor: z.strictObject({ boundary: time, afterCard: z.string() }).nullable(),
});

/** A group of held payments (see heldKey), and a window stored whole in the first format. */
const heldGroupSchema = z.array(
  z.strictObject({
    id: z.string(),
    at: time,
    origin: z.string(),
    card: z.string(),
    amount: z.number(),
    currency: z.string(),
    merchant: z.string(),
    late: z.boolean(),
  }),
);

/** A payment to alert at once (prompt.ts): a held payment plus its arrival time. */
const promptSchema = heldGroupSchema.element.extend({ arrivalMs: time });

const isInt = Number.isSafeInteger;
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Why a stored pane is not one takeChanges() could have written, or undefined when it is. Written
 * by hand rather than with zod: a shard holds ~360 000 panes, and zod's checks and copies were most
 * of a restore's time and twice its memory (docs/benchmarks.md).
 */
function paneProblem(v: unknown): string | undefined {
  if (!isPlain(v)) return 'not an object';
  const keys = Object.keys(v);
  if (keys.length !== 6) return `has keys ${keys.join(',')}`;
  const { count, firstMs, lastMs, currencies, merchants, ids } = v;
  if (!isInt(count) || (count as number) < 1) return 'count is not a positive integer';
  if (!isInt(firstMs) || !isInt(lastMs) || (firstMs as number) > (lastMs as number)) return 'firstMs/lastMs are not ordered integers';
  if (!isPlain(currencies) || Object.keys(currencies).length === 0) return 'currencies is not a non-empty object';
  for (const code in currencies) {
    const a = currencies[code] as CurrencyAggregate;
    if (!Array.isArray(a) || a.length !== 4 || !a.every(isInt) || a[0] < 1) return `currency ${code} is not [count, total, min, max]`;
  }
  if (!Array.isArray(merchants) || merchants.length === 0 || !merchants.every((m) => typeof m === 'string')) return 'merchants is not a non-empty list of strings';
  if (!Array.isArray(ids) || ids.length !== count) return 'ids does not list count payments';
  let prev = firstMs as number;
  for (const entry of ids as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || !isInt(entry[0]) || typeof entry[1] !== 'string') return 'an id is not [time, id]';
    if (entry[0] < prev || entry[0] > (lastMs as number)) return 'ids are not in event-time order within [firstMs, lastMs]';
    prev = entry[0];
  }
  if ((ids as [number, string][])[0]![0] !== firstMs) return 'the first id is not at firstMs';
  return undefined;
}

/** Why a stored held payment is not one takeChanges() could have written, or undefined when it is. */
function heldProblem(v: unknown): string | undefined {
  if (!isPlain(v)) return 'not an object';
  const keys = Object.keys(v);
  if (keys.length !== 6) return `has keys ${keys.join(',')}`;
  const { origin, card, amount, currency, merchant, late } = v;
  if (typeof origin !== 'string' || typeof card !== 'string' || typeof currency !== 'string' || typeof merchant !== 'string') {
    return 'origin, card, currency and merchant are not all strings';
  }
  if (typeof amount !== 'number' || !Number.isFinite(amount)) return 'amount is not a number';
  if (typeof late !== 'boolean') return 'late is not a boolean';
  return undefined;
}

export interface StateReader {
  /** Takes one stored entry; throws EngineStateError on an entry takeChanges() cannot have written. */
  add(key: string, value: unknown): void;
}

export interface StateSink {
  /** A stored group of held payments of one window, under its key as stored. */
  heldGroup(key: string, payments: HeldPayment[]): void;
  /** One stored pane, from group `group` (OWN_KEY_GROUP: a pane under its own key, the format before groups). */
  pane(card: string, start: number, pane: StoredPane, group: number): void;
  /** A stored entry holding panes of `start`, once per entry. */
  paneEntry(start: number, key: string, group: number): void;
  /** A stored payment to alert at once (a clock ahead of its arrival). */
  prompt(payment: PromptPayment): void;
}

/** Checks entries as they come and hands windows and panes to `sink`; `finish` checks the meta. */
export function stateReader(sink: StateSink, config: EngineConfig): StateReader & { finish(): EngineMeta | undefined } {
  let meta: EngineMeta | undefined;
  return {
    add(key, value) {
      let m: RegExpExecArray | null;
      if (key === 'meta') {
        const r = metaSchema.safeParse(value);
        if (!r.success) throw new EngineStateError(`state entry ${key} is invalid: ${r.error.issues[0]?.message ?? ''}`);
        meta = r.data;
      } else if ((m = PANE_GROUP_KEY.exec(key))) {
        const [start, group] = [Number(m[1]), Number(m[2])];
        if (!isPlain(value) || Object.keys(value).length === 0) throw new EngineStateError(`state entry ${key} is invalid: not a non-empty object of panes by card`);
        for (const card in value) {
          const problem = /^\d+$/.test(card) ? paneProblem(value[card]) : 'a key is not a card number';
          if (problem) throw new EngineStateError(`state entry ${key} is invalid: card …${card.slice(-4)}: ${problem}`);
        }
        for (const card in value) sink.pane(card, start, value[card] as StoredPane, group);
        sink.paneEntry(start, key, group);
      } else if ((m = PANE_KEY.exec(key))) {
        const problem = paneProblem(value);
        if (problem) throw new EngineStateError(`state entry ${key} is invalid: ${problem}`);
        sink.pane(m[1] as string, Number(m[2]), value as StoredPane, OWN_KEY_GROUP);
        sink.paneEntry(Number(m[2]), key, OWN_KEY_GROUP);
      } else if ((m = PROMPT_KEY.exec(key))) {
        const r = promptSchema.safeParse(value);
        if (!r.success) throw new EngineStateError(`state entry ${key} is invalid: ${r.error.issues[0]?.message ?? ''}`);
        if (r.data.arrivalMs !== Number(m[1]) || r.data.id !== m[2]) throw new EngineStateError(`state entry ${key} is invalid: its arrival time or id is not its key's`);
        sink.prompt(r.data);
      } else if ((m = HELD_KEY.exec(key)) || (m = WHOLE_WINDOW_KEY.exec(key))) {
        const start = Number(m[1]);
        let payments: HeldPayment[];
        if (Array.isArray(value)) {
          const r = heldGroupSchema.safeParse(value);
          if (!r.success) throw new EngineStateError(`state entry ${key} is invalid: ${r.error.issues[0]?.message ?? ''}`);
          if (r.data.length === 0) throw new EngineStateError(`state entry ${key} is invalid: an empty group`);
          payments = r.data;
        } else {
          // One payment under its own key (the format before groups): id and time are in the key.
          const problem = m[2] === undefined ? 'not a group' : heldProblem(value);
          if (problem) throw new EngineStateError(`state entry ${key} is invalid: ${problem}`);
          payments = [{ id: m[3] as string, at: Number(m[2]), ...(value as StoredHeld) }];
        }
        if (payments.some((p) => floorTo(p.at, config.alertWindowMs) !== start)) {
          throw new EngineStateError(`state entry ${key} is invalid: a payment's time is not in its window`);
        }
        sink.heldGroup(key, payments);
      } else {
        throw new EngineStateError(`unknown state entry ${key}`);
      }
    },
    finish() {
      const g = meta?.geometry;
      if (
        g &&
        (g.alertWindowMs !== config.alertWindowMs ||
          g.summaryEveryMs !== config.summaryEveryMs ||
          g.summaryRangeMs !== config.summaryRangeMs)
      ) {
        throw new EngineStateError(
          `state was written with windows ${JSON.stringify(g)}; the configuration has different ones (clear the state to change them)`,
        );
      }
      return meta;
    },
  };
}
