/**
 * The console's page in a real browser (Debian's chromium through playwright-core), against the
 * console's server with its view fed directly: hostile merchant ids stay text, live rows arrive,
 * a report is published from the form, and the page carries on across a console restart.
 * CI installs chromium (.ci/run); on a machine without it this file is skipped, except under CI.
 */
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import type { CardStatusEvent } from '../../common/src/events.js';
import { buildConsoleServer } from '../src/server.js';
import { ConsoleView } from '../src/view.js';
import { alertEvent, TOKEN_B } from './fixtures.js';
import { launchBrowser, noBrowser } from './browser.js';

const HOSTILE = '<img src=x onerror="window.__xss=1">';

const skip = noBrowser();
if (skip) {
  t.plan(0, skip);
} else {
  t.test('the page in Chromium', async (t) => {
    const browser: Browser = await launchBrowser(t);
    const published: CardStatusEvent[] = [];
    const start = async (port: number, csrfToken: string) => {
      const view = new ConsoleView();
      const app: FastifyInstance = buildConsoleServer({
        view,
        csrfToken,
        publish: async (e) => {
          published.push(e);
        },
      });
      await app.listen({ port, host: '127.0.0.1' });
      return { view, app, port: (app.server.address() as { port: number }).port };
    };
    let consoleServer = await start(0, 'first-token');
    t.teardown(() => consoleServer.app.close());
    const url = `http://127.0.0.1:${consoleServer.port}/`;
    const page: Page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    const rendered = alertEvent(Date.now(), TOKEN_B, { merchant_id: HOSTILE });
    consoleServer.view.addAlert(rendered);
    await page.goto(url);
    const first = page.locator(`#alerts tr[data-event-id="${rendered.event_id}"]`);
    t.equal(await first.getAttribute('data-payment-id'), rendered.data.payment_event_id, 'rendered on the server, with the markup contract');
    t.equal(await first.locator('td').nth(3).textContent(), HOSTILE, 'the hostile merchant id is text');
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 10_000 });
    await page.locator('#rate-chart canvas').first().waitFor({ timeout: 10_000 });
    t.pass('the alerts-per-minute chart is drawn (uPlot, served from this origin)');

    // Live: an alert added to the view appears as a row within 10 s, hostile text as text again.
    const live = alertEvent(Date.now(), TOKEN_B, { merchant_id: HOSTILE });
    consoleServer.view.addAlert(live);
    const row = page.locator(`#alerts tr[data-event-id="${live.event_id}"]`);
    await row.waitFor({ timeout: 10_000 });
    t.equal(await row.getAttribute('data-payment-id'), live.data.payment_event_id, 'a live row, with the markup contract');
    t.equal(await row.locator('td').nth(3).textContent(), HOSTILE);
    t.equal(await page.locator('img').count(), 0, 'no img element anywhere');
    t.equal(await page.evaluate(() => (window as { __xss?: number }).__xss), undefined, 'and no handler ran');

    // A row opens its card.
    await row.click();
    await page.locator('#card-alerts li').first().waitFor({ timeout: 10_000 });
    t.equal(await page.locator('#card-alerts li').count(), 2, "the card's two alerts");

    // Reporting a card from the form publishes one CARD_STATUS_CHANGED.
    const report = async (card: string) => {
      await page.fill('input[name=card_number]', card);
      await page.selectOption('select[name=status]', 'STOLEN');
      await page.click('#report-form button');
      await page.waitForFunction(() => /published|refused/.test(document.getElementById('report-result')?.textContent ?? ''), undefined, { timeout: 10_000 });
      const text = await page.locator('#report-result').textContent();
      await page.evaluate(() => {
        const out = document.getElementById('report-result');
        if (out) out.textContent = '';
      });
      return text;
    };
    t.match(await report('4111 1111 1111 1111'), /^published /);
    t.same(
      published.map((e) => [e.data.card_number, e.data.status]),
      [['4111111111111111', 'STOLEN']],
      'the card, spaces removed, reported stolen',
    );

    // The console restarts (a new CSRF token, an empty view): the page reconnects and goes on.
    const port = consoleServer.port;
    await consoleServer.app.close();
    await page.waitForFunction(() => document.getElementById('status')?.textContent !== 'live', undefined, { timeout: 10_000 });
    t.pass('the page shows the connection lost');
    consoleServer = await start(port, 'second-token');
    // At once, maybe before the page is back: it fetches what it missed when it reconnects.
    const after = alertEvent(Date.now(), TOKEN_B);
    consoleServer.view.addAlert(after);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 15_000 });
    await page.locator(`#alerts tr[data-event-id="${after.event_id}"]`).waitFor({ timeout: 10_000 });
    t.pass('a row after the restart');
    t.match(await report('5555555555554444'), /^published /, 'a report after the restart: the page fetched the new token');
    t.equal(published.length, 2);
    t.same(errors, [], 'no script error on the page');
  });
}
