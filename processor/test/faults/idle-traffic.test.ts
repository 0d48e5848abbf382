/**
 * Issue 13, point 2: non-payment records blocked the idle advance. Idleness restarted on any
 * non-empty poll, but the stream also carries the processor's own alerts and summaries, rejects and
 * other event types; with such traffic and no payments, held alerts never fired. Idleness is now
 * judged on event-time progress: whatever else arrives, the alerts of a shard's last payments fire
 * within IDLE_TIMEOUT_MS + IDLE_LAG_MS + 2 s of their arrival, and their summaries follow.
 * Run with the defaults (5 s and 3 s).
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { startStack } from '../integration/harness.js';
import { payment, put, sleep } from './helpers.js';

const IDLE_TIMEOUT_MS = 5_000;
const IDLE_LAG_MS = 3_000;

t.test('with steady non-payment traffic on every shard, the last payments are alerted and summarised', async (t) => {
  const stack = await startStack(t, { cards: 500, shards: 2 });
  const k = stack.kinesis;
  const processor = await stack.startProcessor({ IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS), IDLE_LAG_MS: String(IDLE_LAG_MS) });
  await stack.untilServing();

  // Other traffic, 20 records/s per kind, random keys (so on every shard), until the test ends:
  // another producer's event type, junk that becomes rejects, and our own outputs' look-alikes.
  let traffic = true;
  const noise = (async () => {
    while (traffic) {
      const now = new Date().toISOString();
      await put(k.client, k.stream, [
        { data: { event_type: 'CARD_STATUS_PING', event_id: randomUUID(), event_date_origin: now, data: {} }, key: randomUUID() },
        { data: 'not json at all', key: randomUUID() },
      ]);
      await sleep(100);
    }
  })();
  t.teardown(() => {
    traffic = false;
    return noise;
  });
  await sleep(3_000);

  const stolen = [...stack.stolen].slice(0, 10);
  const events = stolen.map((c) => payment(c, Date.now()));
  await put(
    k.client,
    k.stream,
    events.map((e) => ({ data: e, key: e.data.card_number })),
  );
  const arrived = Date.now();
  const bound = IDLE_TIMEOUT_MS + IDLE_LAG_MS + 2_000;

  let out = await stack.readStream();
  await stack.waitFor(
    'every alert',
    async () => {
      out = await stack.readStream();
      const ids = new Set(out.alerts.map((a) => a.data.payment_event_id));
      return events.every((e) => ids.has(e.event_id));
    },
    60_000,
    200,
  );
  const took = Date.now() - arrived;
  t.comment(
    `alerts of the last payments ${(took / 1000).toFixed(1)} s after their arrival, with ${out.other.length + out.rejected.length} other records read meanwhile (bound ${bound / 1000} s)`,
  );
  t.ok(took <= bound, `within IDLE_TIMEOUT_MS + IDLE_LAG_MS + 2 s (${took} ms)`);
  t.ok(
    out.alerts.every((a) => !a.data.late),
    'on time, not late',
  );

  // Their first summaries: the next 10-second boundary after each payment.
  const boundary = Math.floor(Math.max(...events.map((e) => Date.parse(e.event_date_origin))) / 10_000) * 10_000 + 10_000;
  await stack.waitFor(
    'their summaries',
    async () => {
      out = await stack.readStream();
      const cards = new Set(out.summaries.filter((s) => Date.parse(s.data.window_end) === boundary).map((s) => s.data.card_token));
      return stolen.every((c) => cards.has(stack.tokenizer.token(c)));
    },
    30_000,
    250,
  );
  const summarized = Date.now() - boundary;
  t.comment(`summaries of boundary ${new Date(boundary).toISOString()} out ${(summarized / 1000).toFixed(1)} s after it`);
  t.ok(summarized <= bound, `the summaries follow, within the same bound of their boundary (${summarized} ms)`);
  traffic = false;
  await noise;
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
