/** The console's in-memory view: bounded, newest first, one alert per event id, latest summary per card. */
import t from 'tap';
import { encodeEvent } from '../../common/src/events.js';
import { applyRecord } from '../src/feed.js';
import { ConsoleView } from '../src/view.js';
import { alertEvent, summaryEvent, TOKEN_A, TOKEN_B } from './fixtures.js';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

t.test('alerts: newest first, bounded, a repeated event id (a processor replay) shown once', async (t) => {
  const view = new ConsoleView({ alerts: 100 });
  const events = Array.from({ length: 1_000 }, (_, i) => alertEvent(T0 + i * 10));
  for (const e of events) view.addAlert(e);
  t.equal(view.addAlert(events[999]!), false, 'a repeat is dropped');
  const latest = view.latestAlerts();
  t.equal(latest.length, 100, 'only the limit is kept');
  t.same(
    latest.map((a) => a.event_id),
    events
      .slice(-100)
      .reverse()
      .map((e) => e.event_id),
    'the newest 100, newest first',
  );
  t.ok(view.sizes.alerts <= 100);
});

t.test('summaries: the latest per card (by window end), bounded by cards', async (t) => {
  const view = new ConsoleView({ cards: 2 });
  view.setSummary(summaryEvent(T0 + 20_000, TOKEN_A, 3));
  view.setSummary(summaryEvent(T0 + 10_000, TOKEN_A, 1));
  t.equal(view.card(TOKEN_A).summary?.payment_count, 3, 'an older summary read later does not replace a newer one');
  view.setSummary(summaryEvent(T0, TOKEN_B));
  view.setSummary(summaryEvent(T0, 'C'.repeat(43)));
  t.equal(view.sizes.cards, 2);
  t.equal(view.card(TOKEN_A).summary, undefined, 'the least recently summarised card went first');
  t.ok(view.card(TOKEN_B).summary);
});

t.test("a card's view: its summary and its alerts held", async (t) => {
  const view = new ConsoleView();
  view.addAlert(alertEvent(T0, TOKEN_A));
  view.addAlert(alertEvent(T0 + 1, TOKEN_B));
  view.addAlert(alertEvent(T0 + 2, TOKEN_A));
  t.same(
    view.card(TOKEN_A).alerts.map((a) => a.created_at),
    [new Date(T0 + 2).toISOString(), new Date(T0).toISOString()],
  );
});

t.test('alerts per minute over the last hour', async (t) => {
  const view = new ConsoleView();
  view.addAlert(alertEvent(T0));
  view.addAlert(alertEvent(T0 + 30_000));
  view.addAlert(alertEvent(T0 + 61_000));
  t.same(view.alertsPerMinute(), [
    { minute: new Date(T0).toISOString(), alerts: 2 },
    { minute: new Date(T0 + 60_000).toISOString(), alerts: 1 },
  ]);
  // An hour on: the minute of T0 leaves the last 60.
  view.addAlert(alertEvent(T0 + 3_620_000));
  t.same(view.alertsPerMinute(), [
    { minute: new Date(T0 + 60_000).toISOString(), alerts: 1 },
    { minute: new Date(T0 + 3_600_000).toISOString(), alerts: 1 },
  ]);
});

t.test('subscribers get each new alert once', async (t) => {
  const view = new ConsoleView();
  const seen: string[] = [];
  const stop = view.subscribe((a) => seen.push(a.event_id));
  const e = alertEvent(T0);
  view.addAlert(e);
  view.addAlert(e);
  stop();
  view.addAlert(alertEvent(T0 + 1));
  t.same(seen, [e.event_id]);
});

t.test('output records: alerts and summaries go into the view; payments, rejects and damaged records do not', async (t) => {
  const view = new ConsoleView();
  t.equal(applyRecord(view, encodeEvent(alertEvent(T0))), 'alert');
  t.equal(applyRecord(view, encodeEvent(summaryEvent(T0))), 'summary');
  const payment = { event_type: 'PAYMENT_EVENT', event_id: '00000000-0000-4000-8000-000000000001', event_date_origin: new Date(T0).toISOString(), data: {} };
  t.equal(applyRecord(view, encodeEvent(payment)), 'other');
  t.equal(applyRecord(view, Buffer.from('{"event_type":"PAYMENT_ALERT","oops"')), 'other', 'a damaged record is skipped');
  const bad = alertEvent(T0);
  (bad.data as { card_token: string }).card_token = 'not a token';
  t.equal(applyRecord(view, encodeEvent(bad)), 'other', 'an alert that fails the contract is skipped');
  t.equal(view.sizes.alerts, 1);
});
