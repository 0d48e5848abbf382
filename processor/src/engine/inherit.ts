/**
 * State for a child shard after resharding, from its finished parents' stored entries: the panes
 * and held alerts (groups filtered card by card) of the cards whose hash key falls in the child's
 * range (Kinesis routes a card by MD5 of its partition key, the card number), and the parents'
 * stream time.
 *
 * One parent (a split): its meta is copied, so the child continues exactly where the parent
 * stopped. Two parents (a merge): the child starts from the slower parent's watermark and summary
 * progress. That never makes a payment late, never skips a boundary, and may re-emit the faster
 * parent's last boundaries, with the same deterministic ids.
 */
import { createHash } from 'node:crypto';
import { META_KEY, type EngineMeta } from './shard-engine.js';
import { HELD_KEY, WHOLE_WINDOW_KEY, type HeldPayment, type StoredHeld } from './alerts.js';
import { PANE_GROUP_KEY, PANE_KEY, type StoredPane } from './panes.js';

/** The 128-bit hash key Kinesis assigns to a partition key. */
export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}


function minOf(values: Array<number | null>): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : Math.min(...present);
}

export function inheritEntries(
  parents: ReadonlyArray<ReadonlyArray<readonly [string, unknown]>>,
  keepCard: (card: string) => boolean,
): Array<[string, unknown]> {
  const out = new Map<string, unknown>();
  const metas: EngineMeta[] = [];
  for (const entries of parents) {
    for (const [key, value] of entries) {
      if (key === META_KEY) {
        metas.push(value as EngineMeta);
      } else if (PANE_GROUP_KEY.test(key)) {
        const kept = Object.entries(value as Record<string, StoredPane>).filter(([card]) => keepCard(card));
        if (kept.length === 0) continue;
        // The two parents of a merge number their groups alike, but hold different cards: joined.
        out.set(key, { ...(out.get(key) as Record<string, StoredPane> | undefined), ...Object.fromEntries(kept) });
      } else if (PANE_KEY.test(key)) {
        if (keepCard(PANE_KEY.exec(key)![1]!)) out.set(key, value);
      } else if (HELD_KEY.test(key) || WHOLE_WINDOW_KEY.test(key)) {
        if (!Array.isArray(value)) {
          // One payment under its own key (the format before groups).
          if (keepCard((value as StoredHeld).card)) out.set(key, value);
          continue;
        }
        const kept = (value as HeldPayment[]).filter((p) => keepCard(p.card));
        if (kept.length === 0) continue;
        // A group is keyed by one of its payments, so the two parents of a merge cannot collide;
        // were one payment read from both, the groups are joined, each payment once.
        const other = (out.get(key) ?? []) as HeldPayment[];
        const seen = new Set(other.map((p) => p.id));
        out.set(key, [...other, ...kept.filter((p) => !seen.has(p.id))]);
      } else {
        out.set(key, value);
      }
    }
  }
  if (metas.length === 1) {
    out.set(META_KEY, metas[0]);
  } else if (metas.length > 1) {
    const slowest = metas.reduce((a, b) => ((a.watermarkMs ?? -Infinity) <= (b.watermarkMs ?? -Infinity) ? a : b));
    out.set(META_KEY, {
      ...slowest,
      maxEventTimeMs: minOf(metas.map((m) => m.maxEventTimeMs)),
      watermarkMs: minOf(metas.map((m) => m.watermarkMs)),
      summariesDoneThrough: minOf(metas.map((m) => m.summariesDoneThrough)),
      summaryCursor: null,
    } satisfies EngineMeta);
  }
  return [...out.entries()];
}
