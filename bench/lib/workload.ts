/**
 * Deterministic input for the engine benchmarks: the cards of cardgen and the payment events of
 * the simulator (its generator, seeded, with an injected clock), encoded once, as Kinesis would
 * hand them to GetRecords.
 */
import { generateCards } from '../../cardgen/src/generate.js';
import { createPaymentGenerator, seededRandom } from '../../simulator/src/generator.js';
import { encodeEvent, type PaymentEvent } from '../../common/src/events.js';
import { v4 as uuidv4 } from 'uuid';
import { StolenCards } from '../../processor/src/source/stolen-cards.js';
import { CardTokenizer } from '../../common/src/card-token.js';
import { writeStolenList } from '../../common/src/stolen-list.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The card token key of the benchmarks (a fixed one: results do not depend on it), as its file holds it. */
const BENCH_KEY_TEXT = JSON.stringify({ keyId: 'bench-key', key: 'benchmark-card-token-key-of-32-bytes' });
export const benchTokenizer = CardTokenizer.fromKeyText(BENCH_KEY_TEXT, 'bench');

/**
 * What a benchmark's processor reads instead of a cards file (as `npm start` gives it): the key
 * file and the stolen list of `rows`, written into `dir`; returns the environment naming them.
 */
export async function processorCardEnv(
  dir: string,
  rows: Iterable<{ cardNumber: string; stolen: boolean }>,
): Promise<{ STOLEN_LIST: string; CARD_TOKEN_KEY_FILE: string }> {
  const env = { STOLEN_LIST: join(dir, 'stolen-cards.csv'), CARD_TOKEN_KEY_FILE: join(dir, 'card-token-key.json') };
  await writeFile(env.CARD_TOKEN_KEY_FILE, BENCH_KEY_TEXT, { mode: 0o600 });
  const refs: string[] = [];
  for (const r of rows) if (r.stolen) refs.push(benchTokenizer.cardRef(r.cardNumber));
  await writeStolenList(env.STOLEN_LIST, refs);
  return env;
}

export interface Cards {
  all: string[];
  stolen: string[];
  /** The stolen cards' refs, in the order of `stolen` (the stolen list's content). */
  stolenRefs: string[];
  /** As the processor holds them (main.ts builds the same from the stolen list). */
  stolenCards: StolenCards;
}

export function makeCards(count: number, seed = 1): Cards {
  const rows = generateCards({ count, seed, stolenRatio: 0.1 });
  const all = rows.map((r) => r.cardNumber);
  const stolen = rows.filter((r) => r.stolen).map((r) => r.cardNumber);
  const stolenRefs = stolen.map((c) => benchTokenizer.cardRef(c));
  return { all, stolen, stolenRefs, stolenCards: new StolenCards(benchTokenizer, stolenRefs) };
}

export interface PaymentStream {
  /** `count` events stamped from `startMs`, `stepMs` apart (event-time density = 1000 / stepMs per second). */
  count: number;
  startMs: number;
  stepMs: number;
  seed?: number;
  /** Called on each event before it is encoded (to steer card choice). */
  tweak?: (e: PaymentEvent, i: number) => void;
}

/** Encoded events, in order. */
export function encodePayments(cards: Pick<Cards, 'all'>, s: PaymentStream): Uint8Array[] {
  let i = 0;
  const gen = createPaymentGenerator({
    cards: cards.all,
    random: seededRandom(s.seed ?? 42),
    timeRandom: seededRandom((s.seed ?? 42) + 1),
    now: () => s.startMs + Math.floor(i * s.stepMs),
    newId: uuidv4,
  });
  const out = new Array<Uint8Array>(s.count);
  for (; i < s.count; i++) {
    const e = gen();
    s.tweak?.(e, i);
    out[i] = encodeEvent(e);
  }
  return out;
}

/** Splits into GetRecords-sized batches. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
