/**
 * The event-time engine of one Kinesis shard (a task with its own stream time, as in Kafka
 * Streams). Pure: no I/O, no timers, no clock; every wall-clock instant is an argument.
 *
 * How the runtime drives it, per GetRecords batch of its shard:
 *   1. onPayment(event, stolen) for each valid PAYMENT_EVENT, in sequence order;
 *      onIdle({...}) when a poll returned nothing;
 *   2. drain(limit, nowMs) → send those records to Kinesis and wait until they are accepted;
 *   3. takeChanges() → write the puts/dels together with the shard checkpoint in ONE atomic batch;
 *   repeat 2-3 while drain returned `limit` records (hasPendingEmissions() says so too).
 * Sending before committing makes delivery at-least-once: a crash between 2 and 3 replays the
 * batch from the old checkpoint and re-emits the same records with the same deterministic ids.
 * Every emission is taken out of the state as it is drained, so whatever is committed after a
 * chunk is exactly what has been sent, and a restart neither repeats nor skips a record.
 */
import { splitCardRef, tokenOfCardRef } from '../../../common/src/card-token.js';
import { scrubPans } from '../../../common/src/pan-scrub.js';
import { OUTPUT_SCHEMA_VERSION, type AlertEvent, type SummaryEvent } from '../../../common/src/events.js';
import { AlertWindows } from './alerts.js';
import { CardStatuses, type ReportedCards } from './card-status.js';
import { META_KEY, META_VERSION, stateReader, type EngineMeta, type HeldPayment, type PromptPayment } from './codec.js';
import { EngineStateError } from './errors.js';
import { EventIds } from './ids.js';
import { engineConfig, type EngineConfig } from './options.js';
import { PaneStore } from './pane-store.js';
import { PanesLater } from './panes-later.js';
import { PromptAlerts } from './prompt.js';
import { RecentPayments } from './recent.js';
import { upperBound } from './sorted.js';
import { Summarizer } from './summaries.js';
import { floorTo, iso } from './time.js';
import type { CardDirectory, Emission, IdleInput, PaymentInput, PaymentOutcome, StateChanges, StatusInput, StatusOutcome } from './types.js';
import { Watermark } from './watermark.js';

/** The eight possible outcomes, made once: one per stolen payment was a measurable share of its garbage. */
const both = (status: PaymentOutcome['status']): readonly [PaymentOutcome, PaymentOutcome] =>
  [Object.freeze({ status, summarized: false }), Object.freeze({ status, summarized: true })] as const;
const OUTCOMES = {
  not_stolen: both('not_stolen'),
  held: both('held'),
  late: both('late'),
  duplicate: both('duplicate'),
  clock_ahead: both('clock_ahead'),
};
const outcome = (status: PaymentOutcome['status'], summarized: boolean): PaymentOutcome => OUTCOMES[status][summarized ? 1 : 0];

export class ShardEngine {
  readonly config: EngineConfig;
  #watermark: Watermark;
  readonly #alerts: AlertWindows;
  readonly #panes: PaneStore;
  readonly #summarizer: Summarizer;
  readonly #prompt = new PromptAlerts();
  readonly #ids = new EventIds();
  #doneThrough: number | null = null;
  #cursor: EngineMeta['summaryCursor'] = null;
  /** Stored panes of cards no longer on the stolen list, left out at restore. */
  #unlistedPanes = 0;
  #metaDirty = false;
  /** Where the last summary's card sits in its boundary's active list, to skip the binary search. */
  #hintCards: readonly string[] | undefined;
  #hintNext = 0;
  /** The ISO bounds of the window whose alerts were last built. */
  #alertBounds: { start: number; startIso: string; endIso: string } | undefined;
  /**
   * Alerts first: restored without its panes (`restorer`'s `panesLater`), the engine alerts as
   * usual while the panes come in (`restorePanes`); stolen payments' pane updates wait there, and
   * no summary is built, until `panesRestored()`.
   */
  #later: PanesLater | undefined;
  /** Cards reported stolen or recovered on this shard, with their histories (card-status.ts). */
  readonly #statuses = new CardStatuses();
  /** Every payment of the last retroAlertMs, for retro alerts (recent.ts). */
  readonly #recent: RecentPayments | undefined;
  readonly #stolenList: CardDirectory | undefined;

  /**
   * `cards`: the stolen list's cards. They name stored panes' cards, say which cards were stolen
   * before any report, and key the record of recent payments (without a record key no record is kept,
   * and no report reaches back into payments already read).
   */
  constructor(config: Partial<EngineConfig> = {}, meta?: EngineMeta, cards?: CardDirectory) {
    this.config = engineConfig(config);
    const c = this.config;
    this.#stolenList = cards;
    this.#recent = cards?.recordKey && c.retroAlertMs > 0 ? new RecentPayments(c.summaryEveryMs, cards.recordKey) : undefined;
    this.#watermark = new Watermark(c, meta);
    this.#alerts = new AlertWindows(c.alertWindowMs);
    this.#panes = new PaneStore(c.summaryEveryMs, c.summaryRangeMs);
    this.#summarizer = new Summarizer(c.summaryEveryMs, c.summaryRangeMs, c.maxSummaryIds);
    if (meta) {
      this.#doneThrough = meta.summariesDoneThrough;
      this.#cursor = meta.summaryCursor;
    }
  }

  /**
   * Rebuilds the engine from every stored entry (the union of all committed puts minus dels).
   * The result behaves exactly as the engine that wrote them did at its last takeChanges().
   */
  static restore(entries: Iterable<readonly [string, unknown]>, config: Partial<EngineConfig> = {}, cards?: CardDirectory): ShardEngine {
    const restorer = ShardEngine.restorer(config, cards);
    for (const [key, value] of entries) restorer.add(key, value);
    return restorer.finish();
  }

  /**
   * The same as `restore`, one entry at a time: a store can stream its entries in, and the
   * restore holds only the engine it builds, never the whole stored state beside it. `cards`
   * (the stolen cards) names the cards of stored panes; a state holding panes needs it.
   */
  static restorer(
    config: Partial<EngineConfig> = {},
    cards?: CardDirectory,
    options: { panesLater?: boolean } = {},
  ): { add(key: string, value: unknown): void; finish(): ShardEngine } {
    const engine = new ShardEngine(config, undefined, cards);
    const reader = stateReader(
      {
        heldGroup: (key, payments) => engine.#alerts.restoreGroup(key, payments),
        pane: (card, start, pane, group) => engine.#panes.restore(card, start, pane, group),
        paneOfUnlistedCard: () => engine.#unlistedPanes++,
        paneEntry: (start, key, group) => engine.#panes.addStoredKey(start, key, group),
        prompt: (payment) => engine.#prompt.restore(payment),
        cardStatus: (stored) => engine.#statuses.restore(stored),
        reportedRef: (token) => engine.#statuses.refOfToken(token),
        // A state with a record restored by an engine that keeps none: the record is dropped (no retro alerts here).
        recent: (key, value) => engine.#recent?.restore(key, value),
      },
      engine.config,
      cards,
    );
    return {
      add: (key, value) => reader.add(key, value),
      finish: () => {
        const meta = reader.finish();
        if (meta) {
          engine.#watermark = new Watermark(engine.config, meta);
          engine.#doneThrough = meta.summariesDoneThrough;
          engine.#cursor = meta.summaryCursor;
        }
        if (options.panesLater) engine.#later = new PanesLater(reader);
        return engine;
      },
    };
  }

  /** True from a restore with `panesLater` until `panesRestored()`: alerts only, no summaries. */
  get panesPending(): boolean {
    return this.#later !== undefined;
  }

  /**
   * Takes stored pane groups left out of a `panesLater` restore (any order, any number of calls);
   * anything else is refused. Checked as a restore checks them.
   */
  restorePanes(entries: Iterable<readonly [string, unknown]>): void {
    if (!this.#later) throw new EngineStateError('no pane restore is pending');
    this.#later.restore(entries);
  }

  /**
   * Every pane is in: the pane updates of the payments taken meanwhile are applied in the order
   * they came (a second delivery among them changes nothing, as it would have), the panes no
   * summary can use any more are purged, and the engine is whole again: summaries due meanwhile
   * are drained next, late by the restore and never wrong.
   */
  panesRestored(): void {
    const later = this.#later;
    if (!later) return;
    this.#later = undefined;
    later.applyTo(this.#panes);
    if (this.#doneThrough !== null) this.#panes.purgeBefore(this.#purgeCutoff(this.#doneThrough));
  }

  #refuseWhilePanesPending(what: string): void {
    if (this.#later) throw new EngineStateError(`${what} while panes are still being restored: the state is not whole`);
  }

  /**
   * Stored panes left out at restore because their card is no longer on the stolen list: its
   * summaries stop (the list at start says which cards are stolen; docs/semantics.md). Their
   * stored entries go when their pane starts are purged.
   */
  get unlistedPanesAtRestore(): number {
    return this.#unlistedPanes;
  }

  /**
   * The whole state as stored entries, as if every change so far had been committed to an empty
   * store (a rebuild writes its result this way). Leaves pending changes pending.
   */
  *entries(): IterableIterator<[string, unknown]> {
    this.#refuseWhilePanesPending('entries()');
    // Reported cards first: a restore in this order knows them before it meets their panes.
    yield* this.#statuses.entries();
    yield [META_KEY, this.#meta()];
    yield* this.#prompt.entries();
    yield* this.#alerts.entries();
    yield* this.#panes.entries();
    if (this.#recent) yield* this.#recent.entries();
  }

  /** The cards reported on this shard, as the hot path asks them (source/shard-cards.ts). */
  get reported(): ReportedCards {
    return this.#statuses;
  }

  /**
   * The record of recent payments, to which the runtime hands every valid payment of this shard
   * (classify.ts); undefined when none is kept.
   */
  get recent(): RecentPayments | undefined {
    return this.#recent;
  }

  /** Current watermark of the shard (ms since the epoch), null before the first record or idle advance. */
  get watermarkMs(): number | null {
    return this.#watermark.ms;
  }

  /** Last summary boundary fully emitted, null when none. */
  get summariesDoneThrough(): number | null {
    return this.#doneThrough;
  }

  /**
   * Takes in one validated PAYMENT_EVENT (`eventTimeMs`, when given, must be its
   * event_date_origin as epoch ms). Every payment advances the watermark; a stolen card's
   * payment is also held for its alert (or queued at once as late) and added to its card's pane.
   * A second delivery of the same event_id (Kinesis is at-least-once) changes nothing.
   */
  onPayment(event: PaymentInput, stolen: boolean, eventTimeMs?: number): PaymentOutcome {
    // The decoder has usually computed the time already; parsing it again per record showed up.
    const at = eventTimeMs ?? Date.parse(event.event_date_origin);
    if (!Number.isFinite(at)) throw new TypeError(`event_date_origin is not an instant: ${event.event_date_origin}`);
    if (!stolen || !this.#stolenAt(event.card, at)) {
      this.onNotStolenPayment(at);
      return outcome('not_stolen', false);
    }
    const taken = this.#takeStolen(event, at, false);
    if (this.#watermark.observe(at)) this.#metaDirty = true;
    return taken;
  }

  /**
   * onPayment(event, false) for a caller that has only the event time (the decoder skips making
   * the event of a card that is not stolen): the payment moves stream time and nothing else.
   */
  onNotStolenPayment(eventTimeMs: number): void {
    if (this.#watermark.observe(eventTimeMs)) this.#metaDirty = true;
  }

  /**
   * A stolen card's payment whose event time is not to be trusted: stamped more than the allowed
   * clock skew ahead of `arrivalMs`, when Kinesis received it (the runtime decides; see
   * prompt.ts). It is alerted at the next drain, flagged with how far ahead its clock was, and
   * touches nothing else: no watermark move, no window, no summary. A payment of another card
   * with such a clock needs no call at all.
   */
  onClockAheadPayment(event: PaymentInput, eventTimeMs: number, arrivalMs: number): PaymentOutcome {
    const card = event.card;
    if (!this.#stolenAt(card, eventTimeMs)) return outcome('not_stolen', false);
    const { amount, currency, merchant_id: merchant } = event.data;
    const added = this.#prompt.add({
      id: event.event_id,
      at: eventTimeMs,
      origin: event.event_date_origin,
      card,
      amount,
      currency,
      merchant,
      late: false,
      arrivalMs,
    });
    return outcome(added ? 'clock_ahead' : 'duplicate', false);
  }

  /**
   * A CARD_STATUS_CHANGED read from the shard: the card's status from `effectiveAtMs` on (until a
   * later change of it) becomes `stolen`. Judged by it from now on:
   * - every payment taken in later, by its own event time;
   * - every payment still waiting for its alert: one no longer stolen at its time is not alerted
   *   when its window fires;
   * - with STOLEN, the card's recorded payments (recent.ts) from `effectiveAtMs`, as far back as
   *   retroAlertMs of stream time, that were not stolen at their time: each is taken in now as if
   *   it had just arrived. One whose window is still open is held for it like any payment; one
   *   whose window has fired is alerted at the next drain with `retro: true`. Both count in every
   *   summary not yet emitted.
   * A second delivery of the same report changes nothing it has not changed already.
   */
  onStatus(change: StatusInput): StatusOutcome {
    const { card, stolen, effectiveAtMs } = change;
    const token = tokenOfCardRef(card);
    const before = (t: number): boolean => this.#statuses.at(token, t) ?? this.#onStolenList(token);
    const from = Math.max(effectiveAtMs, this.#retroHorizon());
    // Read before the change is recorded: which of them were not stolen at their time until now.
    const candidates = stolen && this.#recent ? this.#recent.find(change.number, from, Infinity).filter((p) => !before(p.at)) : [];
    this.#statuses.record(card, stolen, effectiveAtMs);
    if (!stolen) {
      this.#uncountRecovered(card, change.number, from);
      return { held: 0, retro: 0 };
    }
    let held = 0;
    let retro = 0;
    for (const p of candidates) {
      if (this.#statuses.at(token, p.at) !== true) continue;
      const payment: PaymentInput = {
        event_id: p.id,
        event_date_origin: p.origin,
        card,
        data: { amount: p.amount, currency: p.currency, merchant_id: scrubPans(p.merchant) },
      };
      const taken = this.#takeStolen(payment, p.at, true);
      if (taken.status === 'held') held++;
      else if (taken.status === 'late') retro++;
    }
    return { held, retro };
  }

  /**
   * A recovered card's panes from the pane of `from` on are made again of its recorded payments
   * that were still stolen at their time: summaries count only payments made while it was stolen.
   * The record holds every payment from the retro horizon on (a pane start), so those panes are
   * exact; older panes, beyond the record, are left as they are.
   */
  #uncountRecovered(card: string, number: Uint8Array, from: number): void {
    if (!this.#recent) return;
    const fromStart = this.#panes.paneStartOf(from);
    const payments = this.#recent
      .find(number, fromStart, Infinity)
      .filter((p) => this.#stolenAt(card, p.at) && this.#canStillCount(this.#panes.paneStartOf(p.at)))
      .map((p) => ({ id: p.id, at: p.at, amount: p.amount, currency: p.currency, merchant: scrubPans(p.merchant) }));
    if (this.#later) this.#later.waitRebuild(card, fromStart, payments);
    else this.#panes.rebuild(card, fromStart, payments);
  }

  /**
   * How far back in event time a report reaches into payments already read: retroAlertMs behind
   * the watermark, down to its pane start, the oldest bucket the record of recent payments keeps.
   */
  #retroHorizon(): number {
    const wm = this.#watermark.ms;
    return wm === null ? -Infinity : floorTo(wm - this.config.retroAlertMs, this.config.summaryEveryMs);
  }

  /** Wall-clock advance of a quiet, caught-up shard (see Watermark.onIdle); true when it moved. */
  onIdle(input: IdleInput): boolean {
    const moved = this.#watermark.onIdle(input);
    if (moved) this.#metaDirty = true;
    return moved;
  }

  /** True while any stolen payment waits for its alert (held in a window, or to be alerted at once). */
  holdsAlerts(): boolean {
    return this.#prompt.size > 0 || this.#alerts.windowCount > 0;
  }

  /** True when drain() would return at least one record. */
  hasPendingEmissions(): boolean {
    if (this.#prompt.size > 0) return true;
    const wm = this.#watermark.ms;
    if (wm === null) return false;
    return this.#nextClosedWindow() !== undefined || (!this.#later && this.#nextBoundary(wm) !== undefined);
  }

  /**
   * Up to `limit` records that are due: alerts of closed windows (and late alerts) and summaries
   * of boundaries the watermark has reached, ordered by the time they became due (window end or
   * boundary T; an alert before a summary at the same instant), summaries of one boundary in card
   * order. Drained records are removed from the state; `nowMs` becomes their event_date_origin.
   */
  drain(limit: number, nowMs: number): Emission[] {
    const out: Emission[] = [];
    if (limit <= 0) return out;
    const createdAt = iso(nowMs);
    // Payments with an untrusted clock first: they were due when they arrived.
    for (let p: PromptPayment | undefined; out.length < limit && (p = this.#prompt.shift()) !== undefined;) {
      if (this.#stolenAt(p.card, p.at)) out.push(this.#alertOf(p, createdAt));
    }
    const wm = this.#watermark.ms;
    if (wm === null) return out;
    while (out.length < limit) {
      const window = this.#nextClosedWindow();
      // No summary while panes are missing: the boundary waits (and stays not done) until they are in.
      const boundary = this.#later ? undefined : this.#nextBoundary(wm);
      if (window !== undefined && (boundary === undefined || this.#alerts.endOf(window) <= boundary)) {
        const p = this.#alerts.shift(window);
        // A card recovered since this payment was held: no alert (a report read before the window fired counts).
        if (this.#stolenAt(p.card, p.at)) out.push(this.#alertOf(p, createdAt));
      } else if (boundary !== undefined) {
        const summary = this.#summary(boundary, createdAt);
        if (summary) out.push(summary);
      } else {
        // No boundary with data up to the watermark: every boundary ≤ watermark is done.
        if (!this.#later) this.#completeBoundary(floorTo(wm, this.config.summaryEveryMs));
        break;
      }
    }
    return out;
  }

  /**
   * Leaves the state exactly as draining everything due would, without building the records: for
   * a replay that rebuilds state whose output the previous owner already sent. Closed alert
   * windows are emptied and every boundary up to the watermark is completed (panes purged).
   */
  skipDue(): void {
    while (this.#prompt.shift() !== undefined);
    const wm = this.#watermark.ms;
    if (wm === null) return;
    for (let w = this.#nextClosedWindow(); w !== undefined; w = this.#nextClosedWindow()) this.#alerts.shift(w);
    this.#completeBoundary(floorTo(wm, this.config.summaryEveryMs));
  }

  /** State entries changed since the last call; the runtime commits them with its checkpoint. */
  takeChanges(): StateChanges {
    this.#refuseWhilePanesPending('takeChanges()');
    const puts: [string, unknown][] = [];
    const dels: string[] = [];
    this.#recent?.purgeBefore(this.#retroHorizon());
    for (const [key, value] of [
      ...this.#statuses.takeDirty(),
      ...this.#prompt.takeDirty(),
      ...this.#alerts.takeDirty(),
      ...this.#panes.takeDirty(),
      ...(this.#recent?.takeDirty() ?? []),
    ]) {
      if (value === undefined) dels.push(key);
      else puts.push([key, value]);
    }
    if (this.#metaDirty) {
      puts.push([META_KEY, this.#meta()]);
      this.#metaDirty = false;
    }
    return { puts, dels };
  }

  /** Forgets the changes since the last takeChanges (for a state about to be written whole via entries()). */
  discardChanges(): void {
    this.#statuses.discardDirty();
    this.#recent?.discardDirty();
    this.#prompt.discardDirty();
    this.#alerts.discardDirty();
    this.#panes.discardDirty();
    this.#metaDirty = false;
  }

  /** Sizes for gauges. */
  stats(): { pendingAlertWindows: number; promptAlerts: number; panes: number; cards: number; reportedCards: number; recentBytes: number } {
    return {
      pendingAlertWindows: this.#alerts.windowCount,
      promptAlerts: this.#prompt.size,
      panes: this.#panes.paneCount,
      cards: this.#panes.cardCount,
      reportedCards: this.#statuses.size,
      recentBytes: this.#recent?.bytes ?? 0,
    };
  }

  /**
   * Whether the card was STOLEN at event time `at`: by its reports when one is effective by then,
   * else by the stolen list. A caller asks only for a card the list or a report names.
   */
  #stolenAt(card: string, at: number): boolean {
    if (this.#statuses.size === 0) return true;
    const token = tokenOfCardRef(card);
    return this.#statuses.at(token, at) ?? (!this.#statuses.has(token) || this.#onStolenList(token));
  }

  #onStolenList(token: string): boolean {
    return this.#stolenList?.refOfToken(token) !== undefined;
  }

  /** `fromReport`: taken in by a STOLEN report (onStatus), not read now; if its window has fired, it is a retro alert. */
  #takeStolen(event: PaymentInput, at: number, fromReport: boolean): PaymentOutcome {
    const card = event.card;
    const { amount, currency, merchant_id: merchant } = event.data;
    const id = event.event_id;
    const paneStart = this.#panes.paneStartOf(at);
    const summarized = this.#canStillCount(paneStart);
    const windowStart = this.#alerts.startOf(at);
    // A second delivery is recognised by its alert window or its pane (checked as it is added).
    if (this.#alerts.holds(windowStart, id)) return outcome('duplicate', summarized);
    // Judged on arrival: a window the watermark has reached is closed (fired, or due to fire).
    const closed = this.#watermark.hasReached(this.#alerts.endOf(windowStart));
    const late = closed && !fromReport;
    const held: HeldPayment = { id, at, origin: event.event_date_origin, card, amount, currency, merchant, late };
    if (closed && fromReport) held.retro = true;
    // The held payment is also what the pane reads (id, time, amount, currency, merchant).
    if (summarized) {
      // A second delivery whose window has fired is alerted again meanwhile (same event_id).
      if (this.#later) this.#later.wait(held);
      else if (!this.#panes.add(card, held)) return outcome('duplicate', summarized);
    }
    this.#alerts.add(held);
    return outcome(closed ? 'late' : 'held', summarized);
  }

  /** A pane counts in boundaries T ≥ p + every with p ≥ T - range; the next to emit is doneThrough + every. */
  #canStillCount(paneStart: number): boolean {
    return this.#doneThrough === null || paneStart >= this.#purgeCutoff(this.#doneThrough);
  }

  #purgeCutoff(doneThrough: number): number {
    return doneThrough + this.config.summaryEveryMs - this.config.summaryRangeMs;
  }

  #nextClosedWindow(): number | undefined {
    return this.#alerts.nextClosed((end) => this.#watermark.hasReached(end));
  }

  /** The boundary being emitted, else the next one ≤ watermark with any card in range. */
  #nextBoundary(wm: number): number | undefined {
    if (this.#cursor) return this.#cursor.boundary;
    const from = this.#doneThrough === null ? -Infinity : this.#doneThrough + this.config.summaryEveryMs;
    const boundary = this.#panes.nextActiveBoundary(from);
    return boundary !== undefined && boundary <= wm ? boundary : undefined;
  }

  #alertOf(p: HeldPayment | PromptPayment, createdAt: string): AlertEvent {
    const windowStart = this.#alerts.startOf(p.at);
    // A window's alerts go out together: its bounds are formatted once, not twice per alert.
    if (this.#alertBounds?.start !== windowStart) {
      this.#alertBounds = { start: windowStart, startIso: iso(windowStart), endIso: iso(this.#alerts.endOf(windowStart)) };
    }
    const { card_token, card_key_id, card_masked } = splitCardRef(p.card);
    const alert: AlertEvent = {
      event_type: 'PAYMENT_ALERT',
      event_id: this.#ids.alert(p.id),
      event_date_origin: createdAt,
      data: {
        schema_version: OUTPUT_SCHEMA_VERSION,
        payment_event_id: p.id,
        payment_date_origin: p.origin,
        card_token,
        card_key_id,
        card_masked,
        amount: p.amount,
        currency: p.currency,
        merchant_id: p.merchant,
        window_start: this.#alertBounds.startIso,
        window_end: this.#alertBounds.endIso,
        late: p.late,
      },
    };
    // Only a payment with an untrusted clock has it (rare; the usual alert keeps its shape).
    if ('arrivalMs' in p) alert.data.clock_ahead_ms = p.at - p.arrivalMs;
    if (p.retro) alert.data.retro = true;
    return alert;
  }

  /** Emits the summary of the next card of `boundary`; completes the boundary after its last card. */
  #summary(boundary: number, createdAt: string): SummaryEvent | undefined {
    const cards = this.#panes.activeCards(boundary);
    const after = this.#cursor?.boundary === boundary ? this.#cursor.afterCard : undefined;
    let i = 0;
    if (after !== undefined) {
      i = this.#hintCards === cards && cards[this.#hintNext - 1] === after ? this.#hintNext : upperBound(cards, after);
    }
    this.#hintCards = cards;
    this.#hintNext = i + 1;
    const card = cards[i];
    const data = card === undefined ? undefined : this.#summarizer.summarize(card, this.#panes.newestOf(card), boundary);
    if (card === undefined || data === undefined || i === cards.length - 1) this.#completeBoundary(boundary);
    else {
      // In place when it is this boundary's (one object per boundary, not per summary; #meta copies it).
      if (this.#cursor?.boundary === boundary) this.#cursor.afterCard = card;
      else this.#cursor = { boundary, afterCard: card };
      this.#metaDirty = true;
    }
    if (card === undefined || data === undefined) return undefined;
    return {
      event_type: 'PAYMENT_ALERT_SUMMARY',
      event_id: this.#ids.summary(data.card_token, data.window_end),
      event_date_origin: createdAt,
      data,
    };
  }

  /** Marks every boundary ≤ `boundary` as emitted and drops the panes no later boundary can use. */
  #completeBoundary(boundary: number): void {
    if (this.#cursor) {
      this.#cursor = null;
      this.#metaDirty = true;
    }
    if (this.#doneThrough !== null && boundary <= this.#doneThrough) return;
    this.#doneThrough = boundary;
    this.#metaDirty = true;
    this.#panes.purgeBefore(this.#purgeCutoff(boundary));
  }

  #meta(): EngineMeta {
    const { alertWindowMs, summaryEveryMs, summaryRangeMs } = this.config;
    return {
      version: META_VERSION,
      geometry: { alertWindowMs, summaryEveryMs, summaryRangeMs },
      ...this.#watermark.toJSON(),
      summariesDoneThrough: this.#doneThrough,
      summaryCursor: this.#cursor && { ...this.#cursor },
    };
  }
}
