/**
 * Pure card generation: a seed in, rows out, no I/O and no clock.
 *
 * Determinism contract (what tests and other components may rely on):
 * - the same count, ratio, seed and table give the same rows in the same order, on any platform
 *   (pure-rand's xoroshiro128plus, integer-only draws);
 * - card numbers come from their own random stream and depend only on the seed and the table:
 *   a run with a larger count starts with the same numbers as a smaller one, and changing the
 *   ratio changes which cards are stolen, never the numbers;
 * - exactly `stolenCount(count, ratio)` cards are stolen, each set of that size equally likely
 *   (partial Fisher-Yates over the indices, from a second, independent stream).
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import type { CardRow } from '../../common/src/cards-file.js';
import { luhnCheckDigit } from '../../common/src/luhn.js';
import { NETWORKS, numberSpace, validateNetworks, type Network } from './networks.js';

export const DEFAULT_SEED = 1;
export const DEFAULT_STOLEN_RATIO = 0.1;
/** The PRNG takes a 32-bit seed; larger values would silently collide. */
export const MAX_SEED = 0xffff_ffff;
/**
 * Uniqueness needs every number in one Set, and a V8 Set holds at most 2^24 (16.7 M) entries;
 * at ~100 bytes per card in memory, 10 M also stays well inside a default Node heap.
 */
export const MAX_COUNT = 10_000_000;

export interface GenerateOptions {
  count: number;
  /** Share of cards marked stolen, 0..1; default 0.1. */
  stolenRatio?: number;
  /** Integer 0..2^32-1; default 1. */
  seed?: number;
  /** Defaults to the real networks' table. */
  networks?: readonly Network[];
}

/** How many of `count` cards are stolen at `ratio`: round half up, as Math.round. */
export function stolenCount(count: number, ratio: number): number {
  return Math.round(count * ratio);
}

/**
 * The cards, lazily, one row at a time: lets a writer stream a large file. Arguments are checked
 * at the call (RangeError), not at the first row.
 */
export function cardRows(options: GenerateOptions): Generator<CardRow, void, undefined> {
  const { count, stolenRatio = DEFAULT_STOLEN_RATIO, seed = DEFAULT_SEED, networks = NETWORKS } = options;
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  if (count > MAX_COUNT) throw new RangeError(`count must be at most ${MAX_COUNT}, got ${count}`);
  if (!(stolenRatio >= 0 && stolenRatio <= 1)) throw new RangeError(`stolenRatio must be between 0 and 1, got ${stolenRatio}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) throw new RangeError(`seed must be an integer 0..${MAX_SEED}, got ${seed}`);
  validateNetworks(networks);
  const space = numberSpace(networks);
  if (count > space) throw new RangeError(`count ${count} is larger than the ${space} distinct numbers the network table allows`);

  const numbersRng = xoroshiro128plus(seed);
  const stolenRng = numbersRng.clone();
  // jump() moves 2^64 steps ahead: a stream that never overlaps the numbers' one.
  stolenRng.jump();
  const stolen = pickStolen(count, stolenCount(count, stolenRatio), stolenRng);
  return rows(count, stolen, makeDrawer(networks, numbersRng));
}

/** All cards at once; see `cardRows` for the guarantees. */
export function generateCards(options: GenerateOptions): CardRow[] {
  return Array.from(cardRows(options));
}

function* rows(count: number, stolen: Uint8Array, draw: () => { cardNumber: string; network: string }) {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    let card = draw();
    // Collisions are rare (the default space is ~10^17) but possible; draw again.
    while (seen.has(card.cardNumber)) card = draw();
    seen.add(card.cardNumber);
    yield { cardNumber: card.cardNumber, network: card.network, stolen: stolen[i] === 1 };
  }
}

/** Flags for exactly `k` of `count` indices, uniformly: the first k steps of a Fisher-Yates shuffle. */
function pickStolen(count: number, k: number, rng: RandomGenerator): Uint8Array {
  const flags = new Uint8Array(count);
  const indices = new Uint32Array(count);
  for (let i = 0; i < count; i++) indices[i] = i;
  for (let i = 0; i < k; i++) {
    const j = uniformInt(rng, i, count - 1);
    const picked = indices[j]!;
    indices[j] = indices[i]!;
    indices[i] = picked;
    flags[picked] = 1;
  }
  return flags;
}

interface Weighted<T> {
  items: T[];
  /** Cumulative weights; the last is the total. */
  cumulative: number[];
}

function weighted<T extends { weight: number }>(items: readonly T[]): Weighted<T> {
  const kept = items.filter((i) => i.weight > 0);
  let sum = 0;
  return { items: kept, cumulative: kept.map((i) => (sum += i.weight)) };
}

function pick<T>(rng: RandomGenerator, w: Weighted<T>): T {
  if (w.items.length === 1) return w.items[0]!;
  const r = uniformInt(rng, 0, w.cumulative[w.cumulative.length - 1]! - 1);
  let i = 0;
  while (r >= w.cumulative[i]!) i++;
  return w.items[i]!;
}

/** A function drawing one random valid number: network, then prefix range, length, prefix, digits. */
function makeDrawer(networks: readonly Network[], rng: RandomGenerator) {
  const table = weighted(
    networks.map((n) => ({
      weight: n.weight,
      name: n.name,
      ranges: weighted(
        n.ranges.map((r) => ({
          weight: r.weight,
          width: r.from.length,
          lo: Number(r.from),
          hi: Number(r.to),
          fixed: r.from === r.to ? r.from : undefined,
        })),
      ),
      lengths: weighted(n.lengths),
    })),
  );
  return () => {
    const network = pick(rng, table);
    const range = pick(rng, network.ranges);
    const length = pick(rng, network.lengths).digits;
    let payload = range.fixed ?? String(uniformInt(rng, range.lo, range.hi)).padStart(range.width, '0');
    // Free digits in blocks of up to 9: one draw each, and every block value equally likely.
    for (let free = length - range.width - 1; free > 0; free -= 9) {
      const k = Math.min(free, 9);
      payload += String(uniformInt(rng, 0, 10 ** k - 1)).padStart(k, '0');
    }
    return { cardNumber: payload + luhnCheckDigit(payload), network: network.name };
  };
}
