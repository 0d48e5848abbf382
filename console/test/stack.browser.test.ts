/**
 * Issue 20, acceptance 1, against the whole local stack (`npm start`: the Kinesis emulator, the
 * processor, the console, the simulator at a low rate for background traffic, no status reports
 * of its own) and the page in Chromium:
 * - a stolen card's payment, published here, shows as a row within 10 s, its merchant id (hostile
 *   markup) as text; its card view shows it in the card's history from the warehouse;
 * - a card reported stolen from the page: its payment before the report is not alerted, its next
 *   payment is;
 * - the processor killed (kill -9) and started again, as a replaced task would be: the page shows it
 *   down in the fleet panel, then back, and the alerts made after the restart arrive.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { LOCAL_DEFAULTS } from '../../common/src/config.js';
import { readCardRows } from '../../common/src/cards-file.js';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { ROOT, waitFor, withTempDir } from '../../common/test/helpers.js';
import { npmStart, untilRunning } from '../../deploy/test/npm-start.js';
import { freePort } from '../../deploy/local/loopback.js';
import { payment, put } from '../../processor/test/faults/helpers.js';
import { launchBrowser, noBrowser } from './browser.js';

const HOSTILE = '<img src=x onerror="window.__xss=1">';

/** The pid of the processor serving `port`, found by its environment (several stacks may run here). */
async function processorPid(port: number): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('processor/src/main.ts')) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(`HTTP_PORT=${port}`)) return Number(entry);
  }
  throw new Error(`no processor process with HTTP_PORT=${port}`);
}

/** A process's environment, exactly as it was started with. */
async function environOf(pid: number): Promise<Record<string, string>> {
  const text = await readFile(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    text
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

const skip = noBrowser();
if (skip) {
  t.plan(0, skip);
} else {
  t.test('the page against the running stack', async (t) => {
    const dir = await withTempDir(t, 'sca-console-stack-');
    const [kinesisPort, warehousePort, httpPort, dynamoPort, s3Port, consolePort] = (await Promise.all(Array.from({ length: 6 }, () => freePort()))) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const kinesisEndpoint = `http://127.0.0.1:${kinesisPort}`;
    const env = {
      DATA_DIR: join(dir, 'data'),
      CARDS_FILE: join(dir, 'data', 'cards.csv'),
      STATE_DIR: join(dir, 'data', 'state'),
      KINESIS_ENDPOINT: kinesisEndpoint,
      WAREHOUSE_EMBEDDED_PORT: String(warehousePort),
      HTTP_PORT: String(httpPort),
      DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
      S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
      CONSOLE_PORT: String(consolePort),
    };
    const run = await npmStart(t, env, ['--rate', '20', '--cards', '500', '--report-rate', '0']);
    await untilRunning(run, 'the stack');
    const consoleUrl = `http://127.0.0.1:${consolePort}/`;
    await waitFor('the console', async () => (await fetch(`${consoleUrl}health`).catch(() => undefined))?.ok === true, 60_000, 250);
    const processorUrl = `http://127.0.0.1:${httpPort}`;
    await waitFor('the processor ready', async () => (await fetch(`${processorUrl}/ready`).catch(() => undefined))?.ok === true, 90_000, 500);

    const stolen: string[] = [];
    const active: string[] = [];
    for await (const row of readCardRows(env.CARDS_FILE)) (row.stolen ? stolen : active).push(row.cardNumber);
    const client = createKinesisClient({ region: LOCAL_DEFAULTS.AWS_REGION, endpoint: kinesisEndpoint });
    t.teardown(() => client.destroy());
    const publish = (card: string, over: Parameters<typeof payment>[2] = {}) => {
      const p = payment(card, Date.now(), over);
      return put(client, LOCAL_DEFAULTS.KINESIS_STREAM, [{ data: p, key: card }]).then(() => p);
    };

    const browser = await launchBrowser(t);
    const page: Page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(consoleUrl);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 15_000 });
    const rowOf = (paymentId: string) => page.locator(`#alerts tr[data-payment-id="${paymentId}"]`);
    const fleetRunning = () =>
      page.waitForFunction((url) => /RUNNING/.test(document.querySelector(`#fleet-rows tr[data-processor="${url}"]`)?.textContent ?? ''), processorUrl, {
        timeout: 90_000,
      });
    await fleetRunning();
    t.pass('the fleet panel shows the processor and its shard running');

    // 1. A stolen card's payment: its row within 10 s, the hostile merchant id as text.
    const hostile = await publish(stolen[0]!, { merchant_id: HOSTILE });
    const published = Date.now();
    await rowOf(hostile.event_id).waitFor({ timeout: 10_000 });
    t.pass(`the stolen card's payment is a row ${((Date.now() - published) / 1000).toFixed(1)} s after it was published`);
    t.equal(await rowOf(hostile.event_id).locator('td').nth(3).textContent(), HOSTILE, 'its merchant id is text');
    t.equal(await page.locator('img').count(), 0, 'no img element');
    t.equal(await page.evaluate('window.__xss'), undefined, 'no handler ran');

    // Its card: the view opens, and the alert is in the card's history once the delivery has landed it.
    const landedBy = Date.now() + 60_000;
    let history = 0;
    while (history === 0 && Date.now() < landedBy) {
      await rowOf(hostile.event_id).click();
      await page.waitForFunction(() => /alerts in the last|not available/.test(document.getElementById('card-history-status')?.textContent ?? ''), undefined, {
        timeout: 10_000,
      });
      // The simulator pays with this card too: its other alerts may be there as well.
      history = await page.locator('#card-history li', { hasText: HOSTILE }).count();
      if (history === 0) await new Promise((r) => setTimeout(r, 2_000));
    }
    t.equal(history, 1, "the alert is in the card's history from the warehouse, its merchant id as text there too");
    t.match(await page.locator('#card-history-status').textContent(), /^\d+ alerts in the last 30 days$/);

    // 2. A card reported stolen from the page: the payment before the report is not alerted, the next one is.
    const card = active[0]!;
    const before = await publish(card, { merchant_id: 'before-report' });
    await new Promise((r) => setTimeout(r, 50));
    await page.fill('input[name=card_number]', card);
    await page.selectOption('select[name=status]', 'STOLEN');
    await page.click('#report-form button');
    await page.waitForFunction(() => /published|refused/.test(document.getElementById('report-result')?.textContent ?? ''), undefined, { timeout: 10_000 });
    t.match(await page.locator('#report-result').textContent(), /^published /, 'the report is published');
    await new Promise((r) => setTimeout(r, 50));
    const next = await publish(card, { merchant_id: 'after-report' });
    const reported = Date.now();
    await rowOf(next.event_id).waitFor({ timeout: 20_000 });
    t.pass(`the card's next payment is alerted (${((Date.now() - reported) / 1000).toFixed(1)} s)`);
    // Both payments are on the card's shard, and the earlier one's window closed first.
    t.equal(await rowOf(before.event_id).count(), 0, 'the payment before the report is not alerted');
    const alerts = (await (await fetch(`${consoleUrl}api/alerts`)).json()) as Array<{ payment_event_id: string }>;
    t.notOk(
      alerts.some((a) => a.payment_event_id === before.event_id),
      'nor is it among the console alerts',
    );

    // 3. The processor killed and started again (a replaced task): down, back, and alerts again.
    const pid = await processorPid(httpPort);
    const processorEnv = await environOf(pid);
    process.kill(pid, 'SIGKILL');
    await page.waitForFunction((url) => document.querySelector(`#fleet-rows tr[data-processor="${url}"]`)?.className === 'down', processorUrl, {
      timeout: 20_000,
    });
    t.pass('the fleet panel shows the processor down');
    const replacement = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'processor/src/main.ts')], {
      cwd: ROOT,
      env: processorEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let replacementErr = '';
    replacement.stderr.on('data', (d) => (replacementErr = (replacementErr + d).slice(-4000)));
    t.teardown(() => {
      if (replacement.exitCode === null) replacement.kill('SIGKILL');
    });
    await fleetRunning();
    t.pass('and back, running its shard');
    const afterRestart = await publish(stolen[1]!, { merchant_id: 'after-restart' });
    try {
      await rowOf(afterRestart.event_id).waitFor({ timeout: 60_000 });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- the replacement processor ---\n${replacementErr}`);
    }
    t.pass('an alert after the restart reaches the open page');
    t.equal(await page.locator('#status').textContent(), 'live', 'the page stayed connected to the console throughout');
    t.same(errors, [], 'no script error on the page');

    replacement.kill('SIGTERM');
    await new Promise((r) => replacement.once('exit', r));
    run.ctrlC();
    await run.exit;
  });
}
