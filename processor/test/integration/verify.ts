/** Checks of the processor's output against the independent expectation (expected.ts). */
import type { Test } from 'tap';
import type { CardTokenizer } from '../../../common/src/card-token.js';
import type { PaymentEvent, SummaryEvent } from '../../../common/src/events.js';
import { byCard, dueBoundaries, expectedSummary, normalize, toPayment } from './expected.js';
import type { StreamContents } from './harness.js';

const EVERY = 10_000;

/** What a test knows of the cards: the stolen card numbers, and the key the processor names cards with. */
export interface KnownCards {
  stolen: ReadonlySet<string>;
  tokenizer: CardTokenizer;
}

/** The boundary every shard's watermark must pass once the input has gone quiet. */
export function finalBoundary(published: PaymentEvent[]): number {
  const last = Math.max(...published.map((e) => Date.parse(e.event_date_origin)));
  return Math.floor(last / EVERY) * EVERY + 2 * EVERY;
}

/** How many cards must have a summary at `boundary`: every stolen card that paid in its hour. */
export function cardsDueAt(published: PaymentEvent[], stolen: ReadonlySet<string>, boundary: number): number {
  const cards = byCard(published.map(toPayment), stolen);
  let n = 0;
  for (const payments of cards.values()) if (payments.some((p) => p.t >= boundary - 3_600_000 && p.t < boundary)) n++;
  return n;
}

export function summariesAt(out: StreamContents, boundary: number): number {
  const iso = new Date(boundary).toISOString();
  return new Set(out.summaries.filter((s) => s.data.window_end === iso).map((s) => s.data.card_token)).size;
}

/** Every stolen-card payment has an alert; alerts only for those; duplicates identical. */
export function verifyAlerts(
  t: Test,
  out: StreamContents,
  published: PaymentEvent[],
  { stolen, tokenizer }: KnownCards,
  options: { allowLate?: boolean } = {},
) {
  const stolenPayments = new Map(published.filter((e) => stolen.has(e.data.card_number)).map((e) => [e.event_id, e]));
  const alertsByPayment = new Map<string, string>();
  let conflicting = 0;
  let wrong = 0;
  let late = 0;
  for (const a of out.alerts) {
    const key = JSON.stringify({ ...a, event_date_origin: undefined });
    const seen = alertsByPayment.get(a.data.payment_event_id);
    if (seen !== undefined && seen !== key) conflicting++;
    alertsByPayment.set(a.data.payment_event_id, key);
    const p = stolenPayments.get(a.data.payment_event_id);
    const card = p && tokenizer.reference(p.data.card_number);
    if (
      !p ||
      !card ||
      a.data.card_token !== card.card_token ||
      a.data.card_key_id !== card.card_key_id ||
      a.data.card_masked !== card.card_masked ||
      a.data.schema_version !== 2 ||
      a.data.amount !== p.data.amount ||
      a.data.currency !== p.data.currency ||
      a.data.merchant_id !== p.data.merchant_id ||
      a.data.payment_date_origin !== p.event_date_origin ||
      Date.parse(a.data.window_start) > Date.parse(p.event_date_origin) ||
      Date.parse(a.data.window_end) <= Date.parse(p.event_date_origin)
    ) {
      wrong++;
    }
    if (a.data.late) late++;
  }
  const missing = [...stolenPayments.keys()].filter((id) => !alertsByPayment.has(id));
  t.ok(stolenPayments.size > 0, `the run had stolen-card payments (${stolenPayments.size})`);
  t.equal(missing.length, 0, `every stolen-card payment has an alert (${stolenPayments.size} payments, ${out.alerts.length} alerts)`);
  t.equal(alertsByPayment.size, stolenPayments.size, 'alerts only for stolen-card payments');
  t.equal(wrong, 0, "each alert carries its payment, its card's token, key id and masked form, and the 5-second window that contains it");
  t.equal(conflicting, 0, 'duplicate alerts (after a crash) are identical but for their creation time');
  if (!options.allowLate) t.equal(late, 0, 'no alert is late when disorder stays within the out-of-orderness bound');
  return { stolenPayments: stolenPayments.size, alerts: out.alerts.length, late };
}

/** Every due summary is there and equals the brute-force one; none extra; duplicates identical. */
export function verifySummaries(t: Test, out: StreamContents, published: PaymentEvent[], { stolen, tokenizer }: KnownCards, cutoff: number) {
  const cards = byCard(published.map(toPayment), stolen);
  // Summaries name cards by token: the test, holding the key, maps them back.
  const cardOfToken = new Map([...stolen].map((c) => [tokenizer.token(c), c]));
  const got = new Map<string, SummaryEvent['data']>();
  let conflicting = 0;
  for (const s of out.summaries) {
    const key = `${s.data.card_token}@${s.data.window_end}`;
    const prev = got.get(key);
    if (prev && JSON.stringify(normalize(prev)) !== JSON.stringify(normalize(s.data))) conflicting++;
    got.set(key, s.data);
  }
  let checked = 0;
  let missing = 0;
  let different = 0;
  const firstDifference: unknown[] = [];
  for (const [card, payments] of cards) {
    for (const T of dueBoundaries(payments, cutoff)) {
      const want = expectedSummary(card, payments, T, tokenizer)!;
      const have = got.get(`${tokenizer.token(card)}@${new Date(T).toISOString()}`);
      checked++;
      if (!have) missing++;
      else if (JSON.stringify(normalize(have)) !== JSON.stringify(normalize(want))) {
        different++;
        if (firstDifference.length === 0) firstDifference.push({ want, have });
      }
    }
  }
  let extra = 0;
  for (const [, s] of got) {
    const card = cardOfToken.get(s.card_token);
    const payments = card === undefined ? undefined : cards.get(card);
    if (!payments || !expectedSummary(card!, payments, Date.parse(s.window_end), tokenizer)) extra++;
  }
  t.ok(checked > 0, `summaries were due (${checked})`);
  t.equal(missing, 0, `every due summary was emitted (${checked} due up to ${new Date(cutoff).toISOString()})`);
  t.equal(different, 0, `every summary equals the brute-force one${different ? `: first difference ${JSON.stringify(firstDifference[0])}` : ''}`);
  t.equal(extra, 0, 'no summary for a card without payments in its hour');
  t.equal(conflicting, 0, 'duplicate summaries are identical');
  return { due: checked, emitted: out.summaries.length };
}

/**
 * Reads the stream until every card due a summary at the final boundary has one: by then every
 * shard's watermark has passed all the published payments. Returns the stream and that boundary.
 */
export async function untilFinalSummaries(
  stack: KnownCards & {
    readStream(): Promise<StreamContents>;
    waitFor: (what: string, check: () => Promise<boolean>, timeoutMs?: number, everyMs?: number) => Promise<void>;
  },
  published: PaymentEvent[],
  timeoutMs = 120_000,
): Promise<{ out: StreamContents; cutoff: number }> {
  const cutoff = finalBoundary(published);
  const due = cardsDueAt(published, stack.stolen, cutoff);
  let out = await stack.readStream();
  await stack.waitFor(
    `summaries of ${due} cards at ${new Date(cutoff).toISOString()}`,
    async () => {
      out = await stack.readStream();
      return summariesAt(out, cutoff) >= due;
    },
    timeoutMs,
    1000,
  );
  return { out, cutoff };
}
