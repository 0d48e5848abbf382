/**
 * The engine's stored state, in one place: the keys, how values are encoded, how stored entries
 * are checked and read back at restore, and how a child shard's state is cut from its parents'.
 * One format, version META_VERSION; a store in any other is refused at restore, never misread.
 *
 * Keys (times and group numbers zero-padded to 13 digits, so key order is numeric order):
 * - `meta`: EngineMeta (format version, window geometry, stream time, summary progress).
 * - `prompt/<arrivalMs>/<paymentId>`: a PromptPayment, a stolen payment with a wrong clock waiting
 *   for the next drain; deleted when it is alerted.
 * - `win/<windowStart>/<eventTime>/<paymentId>`: a group of held payments (HeldPayment[]) of one
 *   alert window, those that arrived since the last commit, keyed by the first in emission order;
 *   a window fired partway is written again as one group of what is left; all of a window's
 *   groups are deleted when it fires.
 * - `panes/<paneStart>/<group>`: card token → StoredPane (null: the card's pane there was removed,
 *   a recovered card's panes rebuilt), the panes of one pane start changed in
 *   one commit; a pane changed again is written again in a later group, the highest group wins at
 *   restore, group 0 is a state written whole (entries()); all of a start's groups are deleted
 *   when it is purged. A pane names its card by token only: the rest of its card ref (masked
 *   form, route, key id) is the stolen list's (a CardDirectory, at restore). Written with every
 *   pane, those ~50 random characters, which LevelDB cannot compress, made 100 000 active cards'
 *   state 48.8 MB on disk instead of 36.2 (bench "memory"). Held and prompt payments keep their
 *   whole card ref: their alerts need it whatever the list says by then.
 * - `card/<token>`: a reported card's status history (card-status.ts), written whole when it changes.
 * - `recent/<bucketStart>/<part>`: payments of every card of one event-time bucket, cards by keyed hash
 *   (recent.ts); all of a bucket's parts are deleted when it leaves the retro span.
 * Values are JSON. Held groups and pane groups are written as UTF-8 JSON bytes straight from the
 * engine's objects (byte for byte JSON.stringify of the stored form; tests compare the two).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CARD_TOKEN, isCardRef, tokenOfCardRef } from '../../../common/src/card-token.js';
import { JsonWriter } from '../../../common/src/json-writer.js';
import { EngineStateError } from './errors.js';
import type { EngineConfig } from './options.js';
import type { CardDirectory } from './types.js';
import type { Pane } from './pane.js';
import { floorTo, padTime } from './time.js';
import { CARD_STATUS_KEY_PREFIX, cardStatusKey, type StoredCardStatus } from './card-status.js';
import { RECENT_KEY, RECENT_KEY_PREFIX, recentKey } from './recent.js';

export const META_KEY = 'meta';
/**
 * The format described above. Version 4 names a pane's card by token, held and prompt payments'
 * by card ref (common/src/card-token.ts: token, masked form, encrypted route, key id). Earlier
 * versions are refused with the error below, which says to delete the shard's local state (a new
 * ECS task starts empty; an older snapshot is skipped as unreadable): 3 named every card by card
 * ref, 2 by card number; 1 (up to 0.1.0) also read three earlier layouts.
 */
export const META_VERSION = 5;

/** The `meta` entry: stream time and how far summaries have been emitted. */
export interface EngineMeta {
  version: typeof META_VERSION;
  /** Window/pane geometry the stored keys were written with; restoring under another is refused. */
  geometry: { alertWindowMs: number; summaryEveryMs: number; summaryRangeMs: number };
  maxEventTimeMs: number | null;
  watermarkMs: number | null;
  /** Last boundary T whose summaries have all been emitted (null: none yet). */
  summariesDoneThrough: number | null;
  /** Boundary being emitted and the last card emitted for it, when a drain stopped mid-boundary. */
  summaryCursor: { boundary: number; afterCard: string } | null;
}

/** A stolen payment waiting for its alert, as held in memory and as stored in a group. */
export interface HeldPayment {
  id: string;
  /** Event time, ms. */
  at: number;
  /** The payment's event_date_origin as received. */
  origin: string;
  /** The card ref. */
  card: string;
  amount: number;
  currency: string;
  merchant: string;
  late: boolean;
  /** Held because its card was reported stolen after the payment's window had fired (docs/semantics.md). */
  retro?: true;
}

/** A payment to alert at once: as held in a window, plus when Kinesis received it. */
export interface PromptPayment extends HeldPayment {
  /** The record's ApproximateArrivalTimestamp, epoch ms. */
  arrivalMs: number;
}

/** Per currency: [count, total, min, max], amounts in integer minor units (hundredths). */
export type CurrencyAggregate = [number, number, number, number];

/** A pane as stored (a card's value in a `panes/<start>/<group>` entry). */
export interface StoredPane {
  count: number;
  firstMs: number;
  lastMs: number;
  currencies: Record<string, CurrencyAggregate>;
  /** Distinct merchant ids. */
  merchants: string[];
  /** Every payment [eventTimeMs, event_id], event-time order, ties in arrival order (also the duplicate check). */
  ids: [number, string][];
}

export { padTime };

export const heldKey = (windowStart: number, first: { at: number; id: string }): string => `win/${padTime(windowStart)}/${padTime(first.at)}/${first.id}`;
/** Every stored pane group's key starts with it (a restore may leave those entries for later). */
export const PANE_KEY_PREFIX = 'panes/';
export const paneGroupKey = (paneStart: number, group: number): string => `${PANE_KEY_PREFIX}${padTime(paneStart)}/${padTime(group)}`;
export const promptKey = (p: { arrivalMs: number; id: string }): string => `prompt/${padTime(p.arrivalMs)}/${p.id}`;
const HELD_KEY = /^win\/(\d{13})\/\d{13}\/.+$/;
const PANE_GROUP_KEY = /^panes\/(\d{13})\/(\d{13})$/;
const PROMPT_KEY = /^prompt\/(\d{13})\/(.+)$/;
/** The group number of a state written whole; commits number theirs from 1. */
export const WHOLE_GROUP = 0;

/** A pane's stored form. */
export function storedPane(p: Pane): StoredPane {
  const currencies: Record<string, CurrencyAggregate> = { [p.currency]: [p.n, p.total, p.min, p.max] };
  for (const c of p.more?.currencies ?? []) currencies[c.code] = [c.n, c.total, c.min, c.max];
  const ids: [number, string][] = typeof p.ids === 'string' ? [[p.firstMs, p.ids]] : p.ids.map((id, i) => [p.timeOf(i), id]);
  return { count: p.count, firstMs: p.firstMs, lastMs: p.lastMs, currencies, merchants: [p.merchant, ...(p.more?.merchants ?? [])], ids };
}

// Kept hand-written: JSON.stringify of storedPane()s and held groups costs +22 % CPU per payment (12-56 %, throughput workload).
/** JSON.stringify({ [token of card]: storedPane(pane), … }) of panes of one start, written into `w`. */
export function writePaneGroup(w: JsonWriter, panes: readonly Pane[], removed: readonly string[] = []): void {
  w.byte(0x7b);
  for (let i = 0; i < removed.length; i++) {
    if (i > 0) w.byte(0x2c);
    w.string(removed[i] as string);
    w.ascii(':null');
  }
  for (let i = 0; i < panes.length; i++) {
    const p = panes[i] as Pane;
    if (i > 0 || removed.length > 0) w.byte(0x2c);
    w.string(tokenOfCardRef(p.card));
    w.ascii(':{"count":');
    w.number(p.count);
    w.ascii(',"firstMs":');
    w.number(p.firstMs);
    w.ascii(',"lastMs":');
    w.number(p.lastMs);
    w.ascii(',"currencies":{');
    writeCurrency(w, p.currency, p.n, p.total, p.min, p.max);
    const more = p.more;
    if (more) {
      for (const c of more.currencies) {
        w.byte(0x2c);
        writeCurrency(w, c.code, c.n, c.total, c.min, c.max);
      }
    }
    w.ascii('},"merchants":[');
    w.string(p.merchant);
    if (more) {
      for (const m of more.merchants) {
        w.byte(0x2c);
        w.string(m);
      }
    }
    w.ascii('],"ids":[');
    if (typeof p.ids === 'string') writeId(w, p.firstMs, p.ids);
    else {
      for (let j = 0; j < p.ids.length; j++) {
        if (j > 0) w.byte(0x2c);
        writeId(w, p.timeOf(j), p.ids[j] as string);
      }
    }
    w.ascii(']}');
  }
  w.byte(0x7d);
}

/** `"code":[n,total,min,max]` */
function writeCurrency(w: JsonWriter, code: string, n: number, total: number, min: number, max: number): void {
  w.string(code);
  w.ascii(':[');
  w.number(n);
  w.byte(0x2c);
  w.number(total);
  w.byte(0x2c);
  w.number(min);
  w.byte(0x2c);
  w.number(max);
  w.byte(0x5d);
}

/** `[at,"id"]` */
function writeId(w: JsonWriter, at: number, id: string): void {
  w.byte(0x5b);
  w.number(at);
  w.byte(0x2c);
  w.string(id);
  w.byte(0x5d);
}

/** JSON.stringify(group), written into `w` (kept hand-written with writePaneGroup, same figure). */
export function writeHeldGroup(w: JsonWriter, group: readonly HeldPayment[]): void {
  w.byte(0x5b);
  for (let i = 0; i < group.length; i++) {
    const p = group[i] as HeldPayment;
    w.ascii(i > 0 ? ',{"id":' : '{"id":');
    w.string(p.id);
    w.ascii(',"at":');
    w.number(p.at);
    w.ascii(',"origin":');
    w.string(p.origin);
    w.ascii(',"card":');
    w.string(p.card);
    w.ascii(',"amount":');
    w.number(p.amount);
    w.ascii(',"currency":');
    w.string(p.currency);
    w.ascii(',"merchant":');
    w.string(p.merchant);
    w.ascii(p.late ? ',"late":true' : ',"late":false');
    w.ascii(p.retro ? ',"retro":true}' : '}');
  }
  w.byte(0x5d);
}

const time = z.number().int();
const metaSchema = z.strictObject({
  version: z.literal(META_VERSION),
  geometry: z.strictObject({ alertWindowMs: z.number(), summaryEveryMs: z.number(), summaryRangeMs: z.number() }),
  maxEventTimeMs: time.nullable(),
  watermarkMs: time.nullable(),
  summariesDoneThrough: time.nullable(),
  summaryCursor: z.strictObject({ boundary: time, afterCard: z.string() }).nullable(),
});
const heldSchema = z.strictObject({
  id: z.string(),
  at: time,
  origin: z.string(),
  card: z.string().refine(isCardRef, 'is not a card ref'),
  amount: z.number(),
  currency: z.string(),
  merchant: z.string(),
  late: z.boolean(),
  retro: z.literal(true).optional(),
});
const heldGroupSchema = z.array(heldSchema).min(1);
const cardStatusSchema = z.strictObject({
  ref: z.string().refine(isCardRef, 'is not a card ref'),
  history: z.array(z.tuple([time, z.enum(['STOLEN', 'ACTIVE'])])).min(1),
});
const promptSchema = heldSchema.extend({ arrivalMs: time });

const isInt = Number.isSafeInteger;
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Why a stored pane is not one takeChanges() could have written, or undefined when it is. Kept
 * hand-written rather than zod: a shard holds ~360 000 panes, and zod's checks and copies were
 * most of a restore's time and twice its memory (docs/benchmarks.md).
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
  if (!Array.isArray(merchants) || merchants.length === 0 || !merchants.every((m) => typeof m === 'string'))
    return 'merchants is not a non-empty list of strings';
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

/** Where a restore puts what it reads. */
export interface StateSink {
  /** A stored group of held payments of one window, under its key as stored. */
  heldGroup(key: string, payments: HeldPayment[]): void;
  /** One stored pane, from group `group`, of the card with this card ref; null: the card's pane there was removed in that group. */
  pane(card: string, start: number, pane: StoredPane | null, group: number): void;
  /** One stored pane of a card the stolen list no longer holds (not restored: no summary counts it). */
  paneOfUnlistedCard(): void;
  /** A stored entry holding panes of `start`, once per entry. */
  paneEntry(start: number, key: string, group: number): void;
  /** A stored payment to alert at once (a clock ahead of its arrival). */
  prompt(payment: PromptPayment): void;
  /** A reported card's status history. */
  cardStatus(stored: StoredCardStatus): void;
  /** The card ref of a reported card's token (restored before its panes: `card/` keys sort first). */
  reportedRef(token: string): string | undefined;
  /** A stored part of the record of recent payments (checked by the record itself). */
  recent(key: string, value: unknown): void;
}

export interface StateReader {
  /** Takes one stored entry, checked once, here; throws EngineStateError on one takeChanges() cannot have written. */
  add(key: string, value: unknown): void;
  /** After the last entry: the meta (undefined when none was stored), checked against the configuration. */
  finish(): EngineMeta | undefined;
}

/**
 * Reads stored entries one at a time (a restore never needs the whole stored state in memory
 * beside the engine it builds) and hands them to `sink`; a corrupt or foreign store fails loudly.
 * `cards` gives panes their card refs back; without it a state holding panes is refused.
 */
export function stateReader(sink: StateSink, config: EngineConfig, cards: CardDirectory | undefined): StateReader {
  let meta: EngineMeta | undefined;
  const invalid = (key: string, why: string) => new EngineStateError(`state entry ${key} is invalid: ${why}`);
  const check = <T>(key: string, schema: z.ZodType<T>, value: unknown): T => {
    const r = schema.safeParse(value);
    if (!r.success) throw invalid(key, r.error.issues[0]?.message ?? '');
    return r.data;
  };
  return {
    add(key, value) {
      let m: RegExpExecArray | null;
      if (key === META_KEY) {
        const version = isPlain(value) ? value.version : undefined;
        if (version !== META_VERSION) {
          throw new EngineStateError(
            `state was written in format version ${JSON.stringify(version)}; this processor reads version ${META_VERSION} only: delete the shard's state (STATE_DIR) and let it be rebuilt`,
          );
        }
        meta = check(key, metaSchema, value);
      } else if ((m = PANE_GROUP_KEY.exec(key))) {
        const [start, group] = [Number(m[1]), Number(m[2])];
        if (!isPlain(value) || Object.keys(value).length === 0) throw invalid(key, 'not a non-empty object of panes by card');
        for (const token in value) {
          const problem = CARD_TOKEN.test(token) ? (value[token] === null ? undefined : paneProblem(value[token])) : 'a key is not a card token';
          // A key that is not a token is never echoed: it could be anything, a card number included.
          if (problem) throw invalid(key, `card ${CARD_TOKEN.test(token) ? token : '(not a card token)'}: ${problem}`);
        }
        for (const token in value) {
          const reported = sink.reportedRef(token);
          if (!reported && !cards) throw new EngineStateError(`state entry ${key} names cards by token: restoring it needs the stolen cards (a CardDirectory)`);
          const card = reported ?? cards?.refOfToken(token);
          if (card === undefined) sink.paneOfUnlistedCard();
          else sink.pane(card, start, value[token] as StoredPane | null, group);
        }
        sink.paneEntry(start, key, group);
      } else if ((m = PROMPT_KEY.exec(key))) {
        const p = check(key, promptSchema, value);
        if (p.arrivalMs !== Number(m[1]) || p.id !== m[2]) throw invalid(key, "its arrival time or id is not its key's");
        sink.prompt(p);
      } else if ((m = HELD_KEY.exec(key))) {
        const payments = check(key, heldGroupSchema, value);
        if (payments.some((p) => floorTo(p.at, config.alertWindowMs) !== Number(m![1]))) throw invalid(key, "a payment's time is not in its window");
        sink.heldGroup(key, payments);
      } else if (key.startsWith(CARD_STATUS_KEY_PREFIX)) {
        const stored = check(key, cardStatusSchema, value);
        if (cardStatusKey(tokenOfCardRef(stored.ref)) !== key) throw invalid(key, "its card ref is not its key's card");
        if (stored.history.some(([t], i) => i > 0 && t < stored.history[i - 1]![0])) throw invalid(key, 'its history is not in effective-time order');
        sink.cardStatus(stored);
      } else if (key.startsWith(RECENT_KEY_PREFIX)) {
        sink.recent(key, value);
      } else {
        throw new EngineStateError(`unknown state entry ${key}`);
      }
    },
    finish() {
      const g = meta?.geometry;
      if (g && (g.alertWindowMs !== config.alertWindowMs || g.summaryEveryMs !== config.summaryEveryMs || g.summaryRangeMs !== config.summaryRangeMs)) {
        throw new EngineStateError(
          `state was written with windows ${JSON.stringify(g)}; the configuration has different ones (clear the state to change them)`,
        );
      }
      return meta;
    },
  };
}

/** The 128-bit hash key Kinesis assigns to a partition key (a payment's is its card number). */
export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

function minOf(values: Array<number | null>): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : Math.min(...present);
}

/**
 * A child shard's state after resharding, from its finished parents' stored entries: the panes,
 * held payments (groups filtered payment by payment) and prompt payments of the cards `keepCard`
 * accepts (those whose hash key falls in the child's range), and the parents' stream time.
 *
 * One parent (a split): its meta is copied, so the child continues exactly where the parent
 * stopped. Two parents (a merge): the child starts from the slower parent's watermark and summary
 * progress. That never makes a payment late, never skips a boundary, and may re-emit the faster
 * parent's last boundaries, with the same deterministic ids. Any other entry is passed on as it
 * is, for the restore to judge.
 */
export function inheritEntries(
  parents: ReadonlyArray<ReadonlyArray<readonly [string, unknown]>>,
  /** Whether the child keeps the card of this card ref (its route decrypted to its hash key). */
  keepCard: (card: string) => boolean,
  /** The card refs of panes' tokens: a card no longer on the stolen list is kept by neither child. */
  cards: CardDirectory,
): Array<[string, unknown]> {
  const out = new Map<string, unknown>();
  const metas: EngineMeta[] = [];
  // Reported cards name their panes as stolen-list cards do: their refs are in `card/` entries.
  const reported = new Map<string, string>();
  for (const entries of parents) {
    for (const [key, value] of entries)
      if (key.startsWith(CARD_STATUS_KEY_PREFIX)) reported.set(key.slice(CARD_STATUS_KEY_PREFIX.length), (value as StoredCardStatus).ref);
  }
  for (const [parent, entries] of parents.entries()) {
    for (const [key, value] of entries) {
      let m: RegExpExecArray | null;
      if (key === META_KEY) {
        metas.push(value as EngineMeta);
      } else if (key.startsWith(CARD_STATUS_KEY_PREFIX)) {
        if (keepCard((value as StoredCardStatus).ref)) out.set(key, value);
      } else if ((m = RECENT_KEY.exec(key))) {
        // Every child keeps every part (recent.ts says why); a merge numbers the parents' apart.
        out.set(recentKey(Number(m[1]), Number(m[2]) * parents.length + parent), value);
      } else if (PANE_GROUP_KEY.test(key)) {
        const kept = Object.entries(value as Record<string, StoredPane>).filter(([token]) => {
          const card = reported.get(token) ?? cards.refOfToken(token);
          return card !== undefined && keepCard(card);
        });
        if (kept.length === 0) continue;
        // The two parents of a merge number their groups alike, but hold different cards: joined.
        out.set(key, { ...(out.get(key) as Record<string, StoredPane> | undefined), ...Object.fromEntries(kept) });
      } else if (HELD_KEY.test(key)) {
        const kept = (value as HeldPayment[]).filter((p) => keepCard(p.card));
        if (kept.length === 0) continue;
        // A group is keyed by one of its payments, so the two parents of a merge cannot collide;
        // were one payment read from both, the groups are joined, each payment once.
        const other = (out.get(key) ?? []) as HeldPayment[];
        const seen = new Set(other.map((p) => p.id));
        out.set(key, [...other, ...kept.filter((p) => !seen.has(p.id))]);
      } else if (PROMPT_KEY.test(key)) {
        if (keepCard((value as PromptPayment).card)) out.set(key, value);
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
