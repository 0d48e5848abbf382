/**
 * Issue 13, point 1: one payment with a wrong clock silenced a shard. Stamped hours ahead, it was
 * accepted and moved the shard's watermark hours forward: every later stolen payment was alerted
 * `late`, summaries stopped until the wall clock caught up. Now a payment stamped more than
 * MAX_CLOCK_SKEW_MS ahead of its Kinesis arrival never moves stream time and changes nothing for
 * any other payment, and if its card is stolen it is alerted at once, flagged with clock_ahead_ms.
 */
import t from 'tap';
import { startStack } from '../integration/harness.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from '../integration/verify.js';
import { readCardsFile } from '../../../common/src/cards-file.js';
import { payment, put, sample, samples, shardOf, shardRanges, sleep } from './helpers.js';

const HOUR = 3_600_000;

t.test('a payment 2 h ahead on every shard: alerted at once if stolen, everything else exactly as without it', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const k = stack.kinesis;
  const processor = await stack.startProcessor();
  await stack.untilServing();
  const sim = await stack.startSimulator(['--count', '6000', '--rate', '400', '--disorder-ms', '300', '--seed', '11']);
  await sleep(2_000);

  // Early in the run, on every shard: a stolen card's payment and another card's, both 2 h ahead.
  const ranges = await shardRanges(k.client, k.stream);
  const stolen = [...stack.stolen];
  const notStolen = (await readCardsFile(stack.cardsFile)).cards.filter((c) => !stack.stolen.has(c));
  const skewed = ranges.flatMap((r) => {
    const s = stolen.find((c) => shardOf(ranges, c) === r.shardId)!;
    const n = notStolen.find((c) => shardOf(ranges, c) === r.shardId)!;
    return [payment(s, Date.now() + 2 * HOUR), payment(n, Date.now() + 2 * HOUR)];
  });
  const sentAt = Date.now();
  await put(
    k.client,
    k.stream,
    skewed.map((e) => ({ data: e, key: e.data.card_number })),
  );
  const skewedStolen = skewed.filter((e) => stack.stolen.has(e.data.card_number));

  // Alerted promptly, flagged.
  await stack.waitFor(
    'the skewed stolen payments alerted',
    async () => {
      const ids = new Set((await stack.readStream()).alerts.map((a) => a.data.payment_event_id));
      return skewedStolen.every((e) => ids.has(e.event_id));
    },
    20_000,
    250,
  );
  const promptly = Date.now() - sentAt;
  t.comment(`skewed stolen payments alerted ${(promptly / 1000).toFixed(1)} s after they were published`);
  t.ok(promptly < 5_000, `alerted within 5 s of publication (${promptly} ms)`);
  const lag = await samples(stack.httpPort, 'payments_shard_watermark_lag_seconds');
  t.ok(
    lag.length === 2 && lag.every((s) => s.value > 0 && s.value < 60),
    `no watermark jumped ahead of the clock (lags ${lag.map((s) => s.value.toFixed(1)).join(', ')} s)`,
  );

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  // The skewed stolen payments are alerted (and only they are flagged); every other stolen payment
  // is alerted on time, and every summary is exactly as if the skewed records were not there.
  verifyAlerts(t, out, [...published, ...skewedStolen], stack);
  verifySummaries(t, out, published, stack, cutoff);
  const flagged = out.alerts.filter((a) => a.data.clock_ahead_ms !== undefined);
  t.same(new Set(flagged.map((a) => a.data.payment_event_id)), new Set(skewedStolen.map((e) => e.event_id)), 'clock_ahead_ms is set on exactly those alerts');
  t.ok(
    flagged.every((a) => a.data.clock_ahead_ms! > 2 * HOUR - 60_000 && a.data.clock_ahead_ms! <= 2 * HOUR && a.data.late === false),
    'it says by how much (~2 h)',
  );
  t.equal(
    await sample(stack.httpPort, 'payments_irregular_payments_total', { reason: 'clock_ahead' }),
    skewed.length,
    `payments_irregular_payments_total{reason="clock_ahead"} = ${skewed.length}`,
  );
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
