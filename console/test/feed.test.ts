/**
 * The console's consumer of the output stream: polling against kinesalite (the local stack's
 * emulator), enhanced fan-out against kinesis-local (the npm emulator that implements it).
 */
import type { Test } from 'tap';
import { createFanOutKinesisClient } from '../../common/src/fanout-reader.js';
import { ensureStreamConsumerOf } from '../../common/src/stream-consumer.js';
import { startKinesisLocal } from '../../deploy/local/kinesis-local.js';
import t from 'tap';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { createLogger } from '../../common/src/log.js';
import { encodeEvent } from '../../common/src/events.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { ensureStream, startKinesisEmulator } from '../../deploy/local/kinesis-emulator.js';
import { FeedState, runFeed } from '../src/feed.js';
import { buildConsoleServer } from '../src/server.js';
import { ConsoleView } from '../src/view.js';
import { alertEvent, summaryEvent } from './fixtures.js';

t.test('polling: alerts and summaries published to the output stream reach the view; payments on it are skipped', (t) => read(t, 'polling'));
t.test("fan-out: the same through the console's own stream consumer", (t) => read(t, 'fanout'));

async function read(t: Test, mode: 'polling' | 'fanout') {
  const emulator = mode === 'fanout' ? await startKinesisLocal() : await startKinesisEmulator();
  t.teardown(() => emulator.close());
  const client = createKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint });
  t.teardown(() => client.destroy());
  await ensureStream(client, 'out', 2);
  const now = Date.now();
  const alert = alertEvent(now);
  const summary = summaryEvent(now);
  const payment = { event_type: 'PAYMENT_EVENT', event_id: '00000000-0000-4000-8000-000000000002', event_date_origin: new Date(now).toISOString(), data: {} };
  await new KinesisProducer(client, 'out').send([
    { data: encodeEvent(payment), partitionKey: 'a' },
    { data: encodeEvent(alert), partitionKey: alert.data.card_token },
    { data: encodeEvent(summary), partitionKey: summary.data.card_token },
  ]);
  const view = new ConsoleView();
  const stopping = new AbortController();
  let fanOut;
  if (mode === 'fanout') {
    const fanOutClient = createFanOutKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint });
    t.teardown(() => fanOutClient.destroy());
    fanOut = { client: fanOutClient, consumerArn: await ensureStreamConsumerOf(fanOutClient, 'out', 'risk-console') };
  }
  // In the fan-out run, a GetRecords or GetShardIterator call fails the read: only SubscribeToShard may deliver.
  const polled: string[] = [];
  if (mode === 'fanout') {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (/^Get(Records|ShardIterator)/.test(context.commandName ?? '')) {
          polled.push(context.commandName!);
          throw new Error('polled');
        }
        return next(args);
      },
      { step: 'initialize' },
    );
  }
  const feed = runFeed({
    client,
    stream: 'out',
    view,
    log: createLogger('console', 'silent'),
    signal: stopping.signal,
    ...(fanOut ? { fanOut } : {}),
  });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (view.sizes.alerts === 0 || view.sizes.cards === 0)) await new Promise((r) => setTimeout(r, 100));
  stopping.abort();
  await feed;
  t.same(
    view.latestAlerts().map((a) => a.event_id),
    [alert.event_id],
    'the alert, read from before the console started (backfill)',
  );
  t.equal(view.card(summary.data.card_token).summary?.window_end, summary.data.window_end, 'the summary');
  t.same(polled, [], 'no GetRecords call');
}

t.test('a stream that stops answering is the feed down, in /health, until a read works again', async (t) => {
  const emulator = await startKinesisEmulator();
  let closed = false;
  t.teardown(() => (closed ? undefined : emulator.close()));
  const client = createKinesisClient({ region: 'us-east-1', endpoint: emulator.endpoint });
  t.teardown(() => client.destroy());
  await ensureStream(client, 'out', 1);
  let now = 1_000_000;
  const state = new FeedState(() => now);
  const stopping = new AbortController();
  const view = new ConsoleView();
  let reads = 0;
  const onState = (s: Parameters<typeof state.set>[0]) => {
    if (s.readable) reads++;
    state.set(s);
  };
  const feed = runFeed({ client, stream: 'out', view, log: createLogger('console', 'silent'), signal: stopping.signal, onState });
  const app = buildConsoleServer({ view, publish: async () => undefined, feedDown: () => state.down() });
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 20_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`not within 20 s: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await until('a listing and a read that worked', () => reads >= 2);
  t.equal((await app.inject('/health')).statusCode, 200, 'reading: healthy');
  await emulator.close();
  closed = true;
  await until('the feed down', () => state.down() !== undefined);
  now += 12_000;
  const res = await app.inject('/health');
  t.equal(res.statusCode, 503, 'not reading: /health fails');
  t.match(res.json(), { status: 'feed_down', error: /^(reading shardId-000000000000|listing the shards): /, forSeconds: 12 });
  state.set({ readable: true });
  t.equal((await app.inject('/health')).statusCode, 200, 'a read that works again: healthy');
  stopping.abort();
  await feed;
});
