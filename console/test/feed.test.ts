/** The console's consumer of the output stream, against the local Kinesis emulator. */
import t from 'tap';
import { createKinesisClient } from '../../common/src/kinesis.js';
import { createLogger } from '../../common/src/log.js';
import { encodeEvent } from '../../common/src/events.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { ensureStream, startKinesisEmulator } from '../../deploy/local/kinesis-emulator.js';
import { runFeed } from '../src/feed.js';
import { ConsoleView } from '../src/view.js';
import { alertEvent, summaryEvent } from './fixtures.js';

t.test('alerts and summaries published to the output stream reach the view; payments on it are skipped', async (t) => {
  const emulator = await startKinesisEmulator();
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
  const feed = runFeed({ client, stream: 'out', view, log: createLogger('console', 'silent'), signal: stopping.signal });
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
});
