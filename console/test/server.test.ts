/** The console's HTTP surface: escaping, CSRF, reports published, and the live alert stream. */
import t from 'tap';
import { get } from 'node:http';
import type { CardStatusEvent } from '../../common/src/events.js';
import { buildConsoleServer } from '../src/server.js';
import { ConsoleView } from '../src/view.js';
import { alertEvent, TOKEN_A } from './fixtures.js';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const CARD = '4111111111111111';
const TOKEN = 'test-csrf-token';

function server(publish: (e: CardStatusEvent) => Promise<void> = async () => {}) {
  const view = new ConsoleView();
  const app = buildConsoleServer({ view, publish, csrfToken: TOKEN, now: () => T0 });
  return { view, app };
}

t.test('the page renders every field as text: a merchant id holding markup is escaped, and no inline script may run', async (t) => {
  const { view, app } = server();
  const hostile = alertEvent(T0, TOKEN_A, { merchant_id: '<img src=x onerror=alert(1)>' });
  view.addAlert(hostile);
  const res = await app.inject('/');
  t.equal(res.statusCode, 200);
  t.notMatch(res.body, /<img/, 'no img element');
  t.match(res.body, '&lt;img src=x onerror=alert(1)&gt;', 'shown as text');
  t.match(res.body, `<tbody id="alerts"><tr data-event-id="${hostile.event_id}" data-payment-id="${hostile.data.payment_event_id}"`, 'the markup contract');
  t.match(res.headers['content-security-policy'], /script-src 'self'/);
  t.notMatch(res.headers['content-security-policy'], /unsafe-inline/);
  const js = await app.inject('/console.js');
  t.notMatch(js.body, /innerHTML|insertAdjacentHTML|document\.write/, 'the script never parses text as markup');
});

t.test('a report needs the CSRF token; with it, one CARD_STATUS_CHANGED is published and the card number is never echoed', async (t) => {
  const published: CardStatusEvent[] = [];
  const { app } = server(async (e) => {
    published.push(e);
  });
  const body = { card_number: CARD, status: 'STOLEN', effective_at: new Date(T0 - 60_000).toISOString() };
  const none = await app.inject({ method: 'POST', url: '/api/cards/status', payload: body });
  t.equal(none.statusCode, 403, 'no token');
  const wrong = await app.inject({ method: 'POST', url: '/api/cards/status', payload: body, headers: { 'x-csrf-token': 'x'.repeat(TOKEN.length) } });
  t.equal(wrong.statusCode, 403, 'a wrong token');
  t.equal(published.length, 0);
  const ok = await app.inject({ method: 'POST', url: '/api/cards/status', payload: body, headers: { 'x-csrf-token': TOKEN } });
  t.equal(ok.statusCode, 202);
  t.equal(published.length, 1);
  t.same(published[0]?.data, { card_number: CARD, status: 'STOLEN', effective_at: body.effective_at, reported_by: 'console' });
  t.equal(ok.json().event_id, published[0]?.event_id);
  t.notMatch(ok.body, CARD);
  const bad = await app.inject({
    method: 'POST',
    url: '/api/cards/status',
    payload: { card_number: '4111111111111112', status: 'LOST' },
    headers: { 'x-csrf-token': TOKEN },
  });
  t.equal(bad.statusCode, 400);
  t.notMatch(bad.body, '4111111111111112', 'a refused card number is not echoed either');
  t.match(bad.json().error, /card_number/);
  t.match(bad.json().error, /status/);
  const token = await app.inject('/api/csrf-token');
  t.equal(token.json().token, TOKEN, 'the page can fetch the token again (after a console restart)');
});

t.test('a report the stream refuses: 502, nothing claimed published', async (t) => {
  const { app } = server(async () => {
    throw new Error('ProvisionedThroughputExceededException');
  });
  const res = await app.inject({
    method: 'POST',
    url: '/api/cards/status',
    payload: { card_number: CARD, status: 'ACTIVE' },
    headers: { 'x-csrf-token': TOKEN },
  });
  t.equal(res.statusCode, 502);
});

t.test('/events streams new alerts in batches, as JSON the page renders as text', async (t) => {
  const { view, app } = server();
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  const received = new Promise<string>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/events' }, (res) => {
      t.equal(res.headers['content-type'], 'text/event-stream');
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('event: alerts')) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', reject);
  });
  // Once the stream is open: the alerts are sent as one batch.
  await new Promise((r) => setTimeout(r, 200));
  const alerts = [alertEvent(T0), alertEvent(T0 + 1)];
  for (const a of alerts) view.addAlert(a);
  const text = await received;
  const data = JSON.parse(/event: alerts\ndata: (.*)\n\n/.exec(text)?.[1] ?? 'null') as Array<{ event_id: string }>;
  t.same(
    data.map((a) => a.event_id),
    alerts.map((a) => a.event_id),
    'both alerts, in one message',
  );
});
