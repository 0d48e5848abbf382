/**
 * Reading stored entries back. Values were written by takeChanges() as JSON; they are checked
 * here, once, at restore, so a corrupt or foreign store fails loudly instead of skewing results.
 */
import { z } from 'zod';
import type { HeldPayment } from './alerts.js';
import type { EngineMeta } from './shard-engine.js';
import type { Pane } from './panes.js';
import { EngineStateError, type EngineConfig } from './types.js';

const time = z.number().int();

const metaSchema = z.strictObject({
  version: z.literal(1),
  geometry: z.strictObject({ alertWindowMs: z.number(), summaryEveryMs: z.number(), summaryRangeMs: z.number() }),
  maxEventTimeMs: time.nullable(),
  watermarkMs: time.nullable(),
  summariesDoneThrough: time.nullable(),
  summaryCursor: z.strictObject({ boundary: time, afterCard: z.string() }).nullable(),
});

const heldSchema = z.array(
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

const paneSchema = z.strictObject({
  count: z.number().int().positive(),
  firstMs: time,
  lastMs: time,
  currencies: z.record(z.string(), z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()])),
  merchants: z.array(z.string()),
  ids: z.array(z.tuple([time, z.string()])),
});

const WINDOW_KEY = /^win\/(-?\d+)$/;
const PANE_KEY = /^pane\/(\d+)\/(-?\d+)$/;

export interface RestoredState {
  meta: EngineMeta | undefined;
  windows: [number, HeldPayment[]][];
  panes: [string, number, Pane][];
}

export function restoreEntries(entries: Iterable<readonly [string, unknown]>, config: EngineConfig): RestoredState {
  const state: RestoredState = { meta: undefined, windows: [], panes: [] };
  for (const [key, value] of entries) {
    const parse = <T>(schema: z.ZodType<T>): T => {
      const r = schema.safeParse(value);
      if (!r.success) throw new EngineStateError(`state entry ${key} is invalid: ${r.error.issues[0]?.message ?? ''}`);
      return r.data;
    };
    let m: RegExpExecArray | null;
    if (key === 'meta') {
      state.meta = parse(metaSchema);
    } else if ((m = WINDOW_KEY.exec(key))) {
      state.windows.push([Number(m[1]), parse(heldSchema)]);
    } else if ((m = PANE_KEY.exec(key))) {
      state.panes.push([m[1] as string, Number(m[2]), parse(paneSchema)]);
    } else {
      throw new EngineStateError(`unknown state entry ${key}`);
    }
  }
  const g = state.meta?.geometry;
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
  return state;
}
