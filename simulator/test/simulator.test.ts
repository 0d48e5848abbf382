import t from 'tap';
import { decodeRecord, type PaymentEvent } from '../../common/src/events.js';
import { KinesisProducer } from '../../common/src/producer.js';
import { withKinesis } from '../../common/test/helpers.js';
import { createPaymentGenerator, createStatusGenerator, seededRandom } from '../src/generator.js';
import { runSimulation, type SimulatedEvent } from '../src/simulator.js';
import { makeCards, readStream } from './helpers.js';

t.test('--count 300 at 100/s publishes exactly 300 valid events, keyed by card', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 2 });
  const producer = new KinesisProducer(client, stream);
  const cards = makeCards(100);
  const acknowledged: SimulatedEvent[] = [];
  const totals = await runSimulation(
    { rate: 100, count: 300, signal: new AbortController().signal },
    { producer, generate: createPaymentGenerator({ cards, random: seededRandom(3) }), onAcknowledged: (e) => acknowledged.push(e) },
  );
  t.match(totals, { generated: 300, sent: 300, failed: 0, retried: 0 });
  t.ok(totals.elapsedMs >= 2950 && totals.elapsedMs < 3600, `300 events at 100/s take about 3 s: ${totals.elapsedMs} ms`);

  const records = await readStream(client, stream);
  t.equal(records.length, 300);
  const events = records.map((r) => {
    const decoded = decodeRecord(r.Data!);
    if (!decoded.ok) throw new Error(decoded.detail);
    const e = decoded.event as PaymentEvent;
    t.equal(r.PartitionKey, e.data.card_number, 'partition key is the card number');
    return e;
  });
  t.equal(new Set(events.map((e) => e.event_id)).size, 300, 'distinct ids');
  t.same(new Set(acknowledged.map((e) => e.event_id)), new Set(events.map((e) => e.event_id)), 'acknowledged = in the stream');
});

t.test('aborting stops generation and flushes what was generated', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 1 });
  const producer = new KinesisProducer(client, stream);
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 500);
  const totals = await runSimulation(
    { rate: 'max', signal: stop.signal },
    { producer, generate: createPaymentGenerator({ cards: makeCards(10), random: seededRandom(1) }) },
  );
  t.ok(totals.generated > 100, `generated ${totals.generated} unpaced in 0.5 s`);
  t.equal(totals.sent, totals.generated, 'every generated event acknowledged');
  t.equal((await readStream(client, stream)).length, totals.sent);
});

t.test('--report-rate: status changes published beside the payments, keyed by card, not counted in --count', async (t) => {
  const { client, stream } = await withKinesis(t, { shards: 2 });
  const producer = new KinesisProducer(client, stream);
  const cards = makeCards(100);
  const acknowledged: SimulatedEvent[] = [];
  const totals = await runSimulation(
    { rate: 100, count: 200, signal: new AbortController().signal },
    {
      producer,
      generate: createPaymentGenerator({ cards, random: seededRandom(3) }),
      reports: { rate: 5, generate: createStatusGenerator({ cards, random: seededRandom(4) }) },
      onAcknowledged: (e) => acknowledged.push(e),
    },
  );
  t.equal(totals.generated, 200, '--count counts payments');
  t.ok(totals.reports >= 8 && totals.reports <= 12, `5/s for ~2 s: ${totals.reports} status changes`);
  t.equal(totals.sent, 200 + totals.reports, 'every one acknowledged');
  const records = await readStream(client, stream);
  const statuses = records.filter((r) => {
    const d = decodeRecord(r.Data!);
    if (!d.ok) throw new Error(d.detail);
    if (d.event.event_type !== 'CARD_STATUS_CHANGED') return false;
    t.equal(r.PartitionKey, (d.event.data as { card_number: string }).card_number, 'keyed by its card');
    return true;
  });
  t.equal(statuses.length, totals.reports, 'all in the stream');
  t.equal(acknowledged.filter((e) => e.event_type === 'CARD_STATUS_CHANGED').length, totals.reports, 'and handed to --out-events');
});
