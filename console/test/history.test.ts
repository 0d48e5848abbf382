/**
 * A card's alert history from the embedded warehouse, with rows written as the delivery writes them
 * (deploy/warehouse/rows.ts): only that card's alerts, newest first, bounded in time and count; a
 * token with `_` (a LIKE wildcard) matches itself only; a warehouse that does not answer is a 503
 * with why, not a crash.
 */
import t from 'tap';
import { CardTokenizer, newCardTokenKeyText } from '../../common/src/card-token.js';
import { encodeEvent } from '../../common/src/events.js';
import { withWarehouse } from '../../common/test/helpers.js';
import { toWarehouseRow } from '../../deploy/warehouse/rows.js';
import { freePort } from '../../deploy/local/loopback.js';
import { HISTORY_DAYS, WarehouseHistory } from '../src/history.js';
import { buildConsoleServer } from '../src/server.js';
import { ConsoleView } from '../src/view.js';
import { alertEvent, summaryEvent, TOKEN_A } from './fixtures.js';

const NOW = Date.parse('2026-12-06T10:00:00Z');
const DAY = 86_400_000;
// Differs from TOKEN_U only where TOKEN_U has `_`: a LIKE pattern would match both.
const TOKEN_U = `ab_${'c'.repeat(40)}`;
const TOKEN_X = `abX${'c'.repeat(40)}`;

t.test('a card history from the warehouse', async (t) => {
  const { url, client } = await withWarehouse(t);
  const tokenizer = CardTokenizer.fromKeyText(newCardTokenKeyText(), 'test');
  const events = [
    alertEvent(NOW - 60_000, TOKEN_A, { merchant_id: 'newest' }),
    alertEvent(NOW - 2 * DAY, TOKEN_A, { merchant_id: 'older' }),
    alertEvent(NOW - (HISTORY_DAYS + 1) * DAY, TOKEN_A, { merchant_id: 'too old' }),
    alertEvent(NOW - 30_000, TOKEN_U, { merchant_id: 'underscore card' }),
    // Newer than TOKEN_U's: with LIKE it would be the one row of `limit 1`.
    alertEvent(NOW - 20_000, TOKEN_X, { merchant_id: 'other card' }),
    summaryEvent(NOW - 10_000, TOKEN_A),
  ];
  for (const [i, event] of events.entries()) {
    const row = toWarehouseRow(encodeEvent(event), { shardId: 'shardId-000000000000', sequenceNumber: String(i) }, tokenizer);
    if (row.table !== 'events') throw new Error('fixture not an event row');
    const r = row.row;
    await client.query('INSERT INTO staging.payment_events (event_type, event_id, event_date_origin, event_json_data) VALUES ($1, $2, $3, $4)', [
      r.event_type,
      r.event_id,
      r.event_date_origin,
      r.event_json_data,
    ]);
  }
  const history = new WarehouseHistory(url, { now: () => NOW });
  t.teardown(() => history.close());

  const a = await history.alerts(TOKEN_A, 10);
  t.same(
    a.map((x) => x.data.merchant_id),
    ['newest', 'older'],
    `its alerts of the last ${HISTORY_DAYS} days, newest first; not its summary`,
  );
  t.equal(a[0]!.created_at, events[0]!.event_date_origin, 'created_at is the alert time, in UTC');
  t.equal(a[0]!.event_id, events[0]!.event_id);
  t.same(
    (await history.alerts(TOKEN_A, 1)).map((x) => x.data.merchant_id),
    ['newest'],
    'at most `limit`',
  );
  t.same(
    (await history.alerts(TOKEN_U, 1)).map((x) => x.data.merchant_id),
    ['underscore card'],
    'a token with `_` matches only itself',
  );
  await t.rejects(history.alerts("x' OR 1=1 --", 10), /not a card token/, 'only tokens reach the SQL');

  const app = buildConsoleServer({ view: new ConsoleView(), publish: async () => undefined, history });
  const res = await app.inject(`/api/cards/${TOKEN_A}/history`);
  t.equal(res.statusCode, 200);
  t.same(
    res.json().alerts.map((x: { data: { merchant_id: string } }) => x.data.merchant_id),
    ['newest', 'older'],
  );
  t.equal((await app.inject('/api/cards/not-a-token/history')).statusCode, 400);
  const none = buildConsoleServer({ view: new ConsoleView(), publish: async () => undefined });
  t.match((await none.inject(`/api/cards/${TOKEN_A}/history`)).json(), { error: /no warehouse configured/ });
});

t.test('a warehouse that does not answer: 503 with why', async (t) => {
  const port = await freePort();
  const history = new WarehouseHistory(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, { timeoutMs: 1_000 });
  t.teardown(() => history.close());
  const app = buildConsoleServer({ view: new ConsoleView(), publish: async () => undefined, history });
  const res = await app.inject(`/api/cards/${TOKEN_A}/history`);
  t.equal(res.statusCode, 503);
  t.match(res.json(), { error: /^the warehouse did not answer: .*ECONNREFUSED/ });
  t.equal((await app.inject('/health')).statusCode, 200, 'the console itself carries on');
});
