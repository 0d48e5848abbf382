/**
 * Issue 3, acceptances 3 and 5: the processor killed with SIGKILL three times at random moments
 * of a run, then stopped with SIGTERM and restarted. Afterwards every stolen-card payment has an
 * alert, duplicates carry identical ids and content, and every summary equals the brute-force one.
 */
import t from 'tap';
import { startStack } from './harness.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('kill -9 three times, then SIGTERM and restart: nothing lost, duplicates identical', async (t) => {
  const stack = await startStack(t, { cards: 1000 });
  const sim = await stack.startSimulator(['--count', '24000', '--rate', '800', '--disorder-ms', '500', '--seed', '5']);
  let processor = await stack.startProcessor();
  const kills: number[] = [];
  for (let i = 0; i < 3; i++) {
    const wait = 3000 + Math.floor(Math.random() * 4000);
    await sleep(wait);
    processor.child.kill('SIGKILL');
    await processor.exit;
    kills.push(wait);
    processor = await stack.startProcessor();
  }
  t.comment(`killed after ${kills.join(', ')} ms of each run`);

  // "During the run": on a loaded machine the restarted processor may still be loading its
  // modules 3 s later, before any signal handler exists, and SIGTERM's default action kills it.
  await stack.untilServing();
  await sleep(3000);
  const stopAt = Date.now();
  processor.child.kill('SIGTERM');
  const stopped = await processor.exit;
  const stopSeconds = (Date.now() - stopAt) / 1000;
  t.equal(stopped.code, 0, 'SIGTERM during the run: exit 0');
  t.ok(stopSeconds < 30, `within 30 s (${stopSeconds.toFixed(2)} s)`);
  t.comment(`SIGTERM to exit: ${stopSeconds.toFixed(2)} s`);
  processor = await stack.startProcessor();

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  t.equal(published.length, 24000);
  const { out, cutoff } = await untilFinalSummaries(stack, published);

  const alerts = verifyAlerts(t, out, published, stack);
  const summaries = verifySummaries(t, out, published, stack, cutoff);
  const distinctAlerts = new Set(out.alerts.map((a) => a.event_id)).size;
  t.equal(distinctAlerts, alerts.stolenPayments, 'one alert id per stolen payment');
  t.comment(
    `alerts ${alerts.alerts} (${alerts.alerts - distinctAlerts} duplicates) for ${alerts.stolenPayments} payments; summaries ${summaries.emitted} for ${summaries.due} due`,
  );
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
