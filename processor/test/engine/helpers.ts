/**
 * Test helpers for the engine: valid cards and payments, a seeded random source, a Map standing in
 * for the state store, and an independent brute-force model of what the engine should emit.
 */
import { v5 } from 'uuid';
import { luhnCheckDigit } from '../../../common/src/luhn.js';
import { CardTokenizer } from '../../../common/src/card-token.js';
import { OUTPUT_SCHEMA_VERSION, type AlertEvent, type PaymentEvent, type SummaryEvent } from '../../../common/src/events.js';
import type { CardDirectory, Emission, PaymentInput, ShardEngine, StateChanges } from '../../src/engine/index.js';
import { StolenCards } from '../../src/source/stolen-cards.js';

const TEST_NS = '6f1d6a9e-9d0c-4d5e-8a52-0c1f3b8f2a11';

/** A Luhn-valid 16-digit card number, distinct per n. */
export function card(n: number): string {
  const payload = '4' + String(n).padStart(14, '0');
  return payload + luhnCheckDigit(payload);
}

/** The card token key of unit tests (integration tests write a key file, as `npm start` does). */
export const testTokenizer = new CardTokenizer('test-key', 'unit-test-card-token-key-of-32-bytes!');

const refs = new Map<string, string>();
const cardsByToken = new Map<string, string>();
/** The card ref of a card number under testTokenizer (what the engine names cards by), memoised. */
export function ref(cardNumber: string): string {
  let r = refs.get(cardNumber);
  if (r === undefined) {
    refs.set(cardNumber, (r = testTokenizer.cardRef(cardNumber)));
    cardsByToken.set(testTokenizer.token(cardNumber), cardNumber);
  }
  return r;
}

/** The card number of a token, for a card ref() has made (a test holds the key; nothing else can do this). */
export function cardOfToken(token: string): string {
  const c = cardsByToken.get(token);
  if (c === undefined) throw new Error('a token of no card this test named');
  return c;
}

/**
 * The stolen cards as a restore asks them (a stored pane names its card by token): every card
 * ref() has named, as if all were on the stolen list.
 */
export const testCards: CardDirectory = {
  refOfToken: (t) => {
    const c = cardsByToken.get(t);
    return c === undefined ? undefined : ref(c);
  },
  recordKey: testTokenizer.recordKey,
};

/** Card numbers in the order the engine keeps its cards: by card ref. */
export const byRef = (a: string, b: string): number => (ref(a) < ref(b) ? -1 : ref(a) > ref(b) ? 1 : 0);

/** The token of a card number under testTokenizer. */
export const token = (cardNumber: string): string => testTokenizer.token(cardNumber);

/** A stolen set of these card numbers, under testTokenizer. */
export function stolenCards(cardNumbers: Iterable<string>): StolenCards {
  return new StolenCards(testTokenizer, [...cardNumbers].map(ref));
}

/** A deterministic payment event_id per key. */
export function pid(key: string | number): string {
  return v5(String(key), TEST_NS);
}

export interface Pay {
  id: string;
  at: number;
  card: string;
  amount: number;
  currency: string;
  merchant: string;
}

export function pay(p: Partial<Pay> & { at: number }): Pay {
  return {
    id: p.id ?? pid(`${p.card ?? card(1)}@${p.at}`),
    card: p.card ?? card(1),
    amount: p.amount ?? 10,
    currency: p.currency ?? 'EUR',
    merchant: p.merchant ?? 'm-1',
    at: p.at,
  };
}

/** The PAYMENT_EVENT of a payment, as a producer writes it (with its card number). */
export function toPaymentEvent(p: Pay): PaymentEvent {
  return {
    event_type: 'PAYMENT_EVENT',
    event_id: p.id,
    event_date_origin: new Date(p.at).toISOString(),
    data: { card_number: p.card, amount: p.amount, currency: p.currency, merchant_id: p.merchant },
  };
}

/** The payment as the engine takes it: its card as a card ref. */
export function toEvent(p: Pay): PaymentInput {
  return {
    event_id: p.id,
    event_date_origin: new Date(p.at).toISOString(),
    card: ref(p.card),
    data: { amount: p.amount, currency: p.currency, merchant_id: p.merchant },
  };
}

/** mulberry32: small, seeded, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function drainAll(engine: ShardEngine, nowMs: number, chunk = 1000): Emission[] {
  const out: Emission[] = [];
  for (;;) {
    const got = engine.drain(chunk, nowMs);
    out.push(...got);
    if (got.length < chunk) return out;
  }
}

export const alertsOf = (es: Emission[]): AlertEvent[] => es.filter((e): e is AlertEvent => e.event_type === 'PAYMENT_ALERT');
export const summariesOf = (es: Emission[]): SummaryEvent[] => es.filter((e): e is SummaryEvent => e.event_type === 'PAYMENT_ALERT_SUMMARY');

/**
 * A state value as a store reads it back: JSON bytes (Uint8Array) parsed, anything else through
 * JSON.stringify and JSON.parse (proves it JSON-able and not shared).
 */
export function stored(value: unknown): unknown {
  return JSON.parse(value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8') : JSON.stringify(value));
}

/** The state store stand-in: applies committed changes. */
export class MemoryStore {
  readonly map = new Map<string, unknown>();
  apply(changes: StateChanges): void {
    for (const [k, v] of changes.puts) this.map.set(k, stored(v));
    for (const k of changes.dels) this.map.delete(k);
  }
}

/** Exact decimal sum of 2-decimal amounts, computed on their decimal strings (no float adds). */
function exactTotal(amounts: number[]): number {
  const cents = amounts.reduce((s, a) => s + BigInt(a.toFixed(2).replace('.', '')), 0n);
  const neg = cents < 0n;
  const abs = neg ? -cents : cents;
  return Number(`${neg ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`);
}

/**
 * Brute force: the summary of `cardNumber` at boundary T over `payments` (distinct ids, in arrival
 * order), straight from the definition.
 */
export function expectedSummary(payments: readonly Pay[], cardNumber: string, T: number, rangeMs = 3_600_000, maxIds = 100): SummaryEvent['data'] | undefined {
  const inWindow = payments.filter((p) => p.card === cardNumber && p.at >= T - rangeMs && p.at < T);
  if (inWindow.length === 0) return undefined;
  const byCurrency = new Map<string, number[]>();
  for (const p of inWindow) byCurrency.set(p.currency, [...(byCurrency.get(p.currency) ?? []), p.amount]);
  const amounts: SummaryEvent['data']['amounts'] = {};
  for (const [cur, list] of [...byCurrency].sort(([a], [b]) => (a < b ? -1 : 1))) {
    amounts[cur] = { count: list.length, total: exactTotal(list), min: Math.min(...list), max: Math.max(...list) };
  }
  const ordered = inWindow.map((p, arrival) => ({ p, arrival })).sort((a, b) => a.p.at - b.p.at || a.arrival - b.arrival);
  return {
    schema_version: OUTPUT_SCHEMA_VERSION,
    ...testTokenizer.reference(cardNumber),
    window_start: new Date(T - rangeMs).toISOString(),
    window_end: new Date(T).toISOString(),
    payment_count: inWindow.length,
    amounts,
    first_payment_at: new Date(Math.min(...inWindow.map((p) => p.at))).toISOString(),
    last_payment_at: new Date(Math.max(...inWindow.map((p) => p.at))).toISOString(),
    merchant_count: new Set(inWindow.map((p) => p.merchant)).size,
    payment_event_ids: ordered.slice(-maxIds).map(({ p }) => p.id),
  };
}

export type Step =
  | { kind: 'pay'; p: ReturnType<typeof pay>; stolen: boolean }
  | { kind: 'idle'; nowMs: number; caughtUp: boolean; lastProgressAtMs: number }
  | { kind: 'drain'; limit: number; nowMs: number }
  | { kind: 'ahead'; p: ReturnType<typeof pay>; arrivalMs: number };

/** A random script of payments from `t0` on (some late, some duplicated), idle polls and small drains. */
export function randomScript(seed: number, n: number, t0: number): Step[] {
  const r = rng(seed);
  const steps: Step[] = [];
  const sent: ReturnType<typeof pay>[] = [];
  let clock = t0;
  for (let i = 0; i < n; i++) {
    const x = r();
    if (x < 0.6) {
      clock += Math.floor(r() * 800);
      const dup = sent.length > 0 && r() < 0.05;
      const p = dup
        ? (sent[Math.floor(r() * sent.length)] as ReturnType<typeof pay>)
        : pay({
            id: pid(`${seed}/${i}`),
            at: clock - (r() < 0.1 ? Math.floor(r() * 40_000) : Math.floor(r() * 900)),
            card: card(Math.floor(r() * 7)),
            amount: Math.floor(r() * 10_000) / 100,
            merchant: `m${Math.floor(r() * 3)}`,
            currency: r() < 0.3 ? 'USD' : 'EUR',
          });
      sent.push(p);
      steps.push({ kind: 'pay', p, stolen: dup || r() < 0.7 });
    } else if (x < 0.62) {
      // A stolen card's payment whose clock is 2 h ahead of its arrival: alerted at once.
      steps.push({
        kind: 'ahead',
        p: pay({ id: pid(`${seed}/ahead/${i}`), at: clock + 7_200_000, card: card(Math.floor(r() * 7)) }),
        arrivalMs: clock,
      });
    } else if (x < 0.65) {
      clock += 20_000 + Math.floor(r() * 100_000); // a quiet spell
      steps.push({ kind: 'idle', nowMs: clock, caughtUp: r() < 0.8, lastProgressAtMs: clock - 10_000 });
    } else {
      steps.push({ kind: 'drain', limit: 1 + Math.floor(r() * 4), nowMs: clock });
    }
  }
  steps.push({ kind: 'idle', nowMs: clock + 10 * 60_000, caughtUp: true, lastProgressAtMs: clock });
  for (let i = 0; i < 200; i++) steps.push({ kind: 'drain', limit: 50, nowMs: clock + 10 * 60_000 });
  return steps;
}

/** Plays one step of a script on `e`, adding what a drain returns to `out`. */
export function applyStep(e: ShardEngine, s: Step, out: Emission[]): void {
  if (s.kind === 'pay') e.onPayment(toEvent(s.p), s.stolen);
  else if (s.kind === 'idle') e.onIdle(s);
  else if (s.kind === 'ahead') e.onClockAheadPayment(toEvent(s.p), s.p.at, s.arrivalMs);
  else out.push(...e.drain(s.limit, s.nowMs));
}
