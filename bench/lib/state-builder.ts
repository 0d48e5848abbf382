/**
 * Builds a shard's stored state directly (the entries a restart loads), so a benchmark can start
 * from "100 000 stolen cards active in the 60-minute window" in seconds instead of replaying it.
 */
import { paneGroupKey, type StoredPane as Pane, META_VERSION } from '../../processor/src/engine/codec.js';
import { tokenOfCardRef } from '../../common/src/card-token.js';

export interface BuiltState {
  entries: [string, unknown][];
  payments: number;
  watermarkMs: number;
}

/**
 * `paymentsPerCard` payments for each card (a card ref), their times spread evenly over [endMs − 60 min, endMs)
 * and interleaved across cards, every card in one currency and a few merchants. The meta says the
 * watermark is at endMs − 1 s and every boundary up to it has been summarised.
 */
export function buildActiveState(cards: readonly string[], paymentsPerCard: number, endMs: number): BuiltState {
  const total = cards.length * paymentsPerCard;
  const panes = new Map<string, Pane>();
  const rangeMs = 3_600_000;
  for (let k = 0; k < total; k++) {
    const at = endMs - rangeMs + Math.floor((k * rangeMs) / total);
    const card = cards[(k * 7_919) % cards.length] as string;
    const start = Math.floor(at / 10_000) * 10_000;
    const key = `${card}/${start}`;
    const minor = 100 + ((k * 37) % 20_000);
    const id = `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`;
    const merchant = `mrc-${String(1 + (k % 500)).padStart(6, '0')}`;
    let p = panes.get(key);
    if (!p) {
      p = { count: 0, firstMs: at, lastMs: at, currencies: {}, merchants: [], ids: [] };
      panes.set(key, p);
    }
    p.count++;
    p.lastMs = Math.max(p.lastMs, at);
    const agg = p.currencies.EUR;
    if (agg) {
      agg[0]++;
      agg[1] += minor;
      agg[2] = Math.min(agg[2], minor);
      agg[3] = Math.max(agg[3], minor);
    } else p.currencies.EUR = [1, minor, minor, minor];
    if (!p.merchants.includes(merchant)) p.merchants.push(merchant);
    p.ids.push([at, id]);
  }
  const watermarkMs = endMs - 1_000;
  // As a state written whole is stored: one group of panes per pane start (group 0).
  const groups = new Map<string, Record<string, Pane>>();
  for (const [key, pane] of panes) {
    const [card, start] = key.split('/') as [string, string];
    const groupKey = paneGroupKey(Number(start), 0);
    let group = groups.get(groupKey);
    if (!group) groups.set(groupKey, (group = {}));
    // A stored pane names its card by token (codec.ts).
    group[tokenOfCardRef(card)] = pane;
  }
  const entries: [string, unknown][] = [...groups];
  entries.push([
    'meta',
    {
      version: META_VERSION,
      geometry: { alertWindowMs: 5_000, summaryEveryMs: 10_000, summaryRangeMs: 3_600_000 },
      maxEventTimeMs: endMs,
      watermarkMs,
      summariesDoneThrough: Math.floor(watermarkMs / 10_000) * 10_000,
      summaryCursor: null,
    },
  ]);
  return { entries, payments: total, watermarkMs };
}
