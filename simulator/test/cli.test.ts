/**
 * The simulator as a user runs it: a child process (`node --import tsx simulator/src/main.ts`)
 * publishing to an in-memory kinesalite of this test process.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeRecord, type PaymentEvent } from '../../common/src/events.js';
import { withKinesis, withTempDir } from '../../common/test/helpers.js';
import { readStream, runCli, writeCardsFile } from './helpers.js';

t.test('bad arguments exit 2 with one line on stderr', async (t) => {
  const cases = [['--rate', 'fast'], ['--nope'], ['--count', '-3'], ['--late-ratio', '2'], ['--partition-key', 'shard']];
  const runs = cases.map((args) => runCli(t, args, { KINESIS_ENDPOINT: 'http://127.0.0.1:1' }).done);
  const envRun = runCli(t, ['--count', '1'], { KINESIS_STREAM: 'not a stream!' }).done;
  const helpRun = runCli(t, ['--help']).done;
  for (const [i, run] of runs.entries()) {
    const { code, stderr, stdout } = await run;
    t.equal(code, 2, cases[i]!.join(' '));
    t.match(stderr, /^simulator: .+\(see --help\)\n$/);
    t.equal(stdout, '');
  }
  const env = await envRun;
  t.equal(env.code, 2, 'bad environment');
  t.match(env.stderr, /^simulator: invalid configuration: KINESIS_STREAM: .*\n$/);
  const help = await helpRun;
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: npm run simulator -- \[options\]/);
});

t.test('a malformed cards file exits 1 naming the line', async (t) => {
  const dir = await withTempDir(t);
  const { path } = await writeCardsFile(dir, 5);
  const text = await readFile(path, 'utf8');
  // Line 4 gets a wrong check digit.
  const lines = text.split('\n');
  lines[3] = lines[3]!.replace(/^(\d+)(\d),/, (_, body: string, d: string) => `${body}${(Number(d) + 1) % 10},`);
  await writeFile(path, lines.join('\n'));
  const { code, stderr } = await runCli(t, ['--cards', path, '--count', '1'], { KINESIS_ENDPOINT: 'http://127.0.0.1:1' }).done;
  t.equal(code, 1);
  t.equal(stderr, `simulator: ${path}:4: card number fails the Luhn check\n`);
  const missing = await runCli(t, ['--cards', join(dir, 'none.csv')], { KINESIS_ENDPOINT: 'http://127.0.0.1:1' }).done;
  t.equal(missing.code, 1);
  t.match(missing.stderr, /none\.csv: cannot read cards file: no such file/);
});

t.test('SIGINT stops, flushes and exits 0; everything reported sent is in the stream', async (t) => {
  const { endpoint, client, stream } = await withKinesis(t, { shards: 2 });
  const dir = await withTempDir(t);
  const { path } = await writeCardsFile(dir, 200);
  const outFile = join(dir, 'events.jsonl');
  const run = runCli(t, ['--cards', path, '--rate', '500', '--out-events', outFile], {
    KINESIS_ENDPOINT: endpoint,
    KINESIS_STREAM: stream,
  });
  while (!run.stderr().includes('publishing to stream')) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1500));
  run.child.kill('SIGINT');
  const { code, stdout, stderr } = await run.done;
  t.equal(code, 0, 'exit 0');
  t.match(stderr, /SIGINT: stopped generating/);
  t.match(stderr, /done: generated \d+, sent \d+/);
  const totals = JSON.parse(stdout) as { generated: number; sent: number; failed: number };
  t.ok(totals.sent > 300, `sent ${totals.sent} in about 1.5 s`);
  t.equal(totals.sent, totals.generated, 'everything generated was flushed');
  const records = await readStream(client, stream);
  t.equal(records.length, totals.sent, 'the stream holds exactly what was reported sent');
  const lines = (await readFile(outFile, 'utf8')).trimEnd().split('\n');
  t.equal(lines.length, totals.sent, '--out-events has one line per acknowledged event');
  const streamIds = new Set(records.map((r) => (decodeRecord(r.Data!) as { ok: true; event: { event_id: string } }).event.event_id));
  t.equal(streamIds.size, totals.sent, 'distinct ids');
  t.ok(
    lines.every((l) => streamIds.has((JSON.parse(l) as PaymentEvent).event_id)),
    'the file lists exactly the stream',
  );
});

t.test('--partition-key event-id keys each record by its event_id, so a card spans shards', async (t) => {
  const { endpoint, client, stream } = await withKinesis(t, { shards: 4 });
  const dir = await withTempDir(t);
  // Two cards and 60 events: with card keys each card would sit on one shard.
  const { path } = await writeCardsFile(dir, 2);
  const run = runCli(t, ['--cards', path, '--rate', 'max', '--count', '60', '--partition-key', 'event-id'], {
    KINESIS_ENDPOINT: endpoint,
    KINESIS_STREAM: stream,
  });
  const { code, stdout, stderr } = await run.done;
  t.equal(code, 0, 'exit 0');
  t.match(stderr, /partition key event_id/, 'the start line says so');
  t.equal((JSON.parse(stdout) as { sent: number }).sent, 60);
  const records = await readStream(client, stream);
  t.equal(records.length, 60);
  const events = records.map((r) => ({ record: r, event: (decodeRecord(r.Data!) as { ok: true; event: PaymentEvent }).event }));
  t.ok(
    events.every(({ record, event }) => record.PartitionKey === event.event_id),
    'PartitionKey = event_id for every record',
  );
  const shardsOfCard = new Map<string, Set<string>>();
  for (const { record, event } of events) {
    const card = event.data.card_number;
    shardsOfCard.set(card, (shardsOfCard.get(card) ?? new Set()).add(record.shardId));
  }
  for (const [card, shards] of shardsOfCard) t.ok(shards.size > 1, `card ${card} is on ${shards.size} shards`);
});

/**
 * Rate accuracy: 12 s at each rate; the first second is skipped (process warm-up), then the events
 * in the next 10 s are counted, both by event_date_origin (creation time) and by Kinesis arrival.
 */
t.test('the achieved rate is within 5 % at 100/s and 1000/s', async (t) => {
  const dir = await withTempDir(t);
  const { path } = await writeCardsFile(dir, 1000);
  const measure = async (rate: number) => {
    const { endpoint, client, stream } = await withKinesis(t, { shards: 2 });
    const run = runCli(t, ['--cards', path, '--rate', String(rate), '--count', String(rate * 12)], {
      KINESIS_ENDPOINT: endpoint,
      KINESIS_STREAM: stream,
    });
    const { code, stdout } = await run.done;
    t.equal(code, 0);
    const records = await readStream(client, stream);
    t.equal(records.length, rate * 12, `${rate}/s: all ${rate * 12} events in the stream`);
    const created = records.map((r) => Date.parse((decodeRecord(r.Data!) as { ok: true; event: { event_date_origin: string } }).event.event_date_origin));
    const arrived = records.map((r) => r.ApproximateArrivalTimestamp!.getTime());
    const window = (times: number[]) => {
      const start = Math.min(...times) + 1000;
      return times.filter((x) => x >= start && x < start + 10_000).length / 10;
    };
    const byCreation = window(created);
    const byArrival = window(arrived);
    const report = (r: number) => `${r.toFixed(1)} ev/s (${(((r - rate) / rate) * 100).toFixed(2)} %)`;
    t.comment(`--rate ${rate}: over 10 s by event time ${report(byCreation)}, by arrival ${report(byArrival)}; totals ${stdout.trim()}`);
    t.ok(Math.abs(byCreation - rate) <= rate * 0.05, `${rate}/s by event time: ${report(byCreation)}`);
    t.ok(Math.abs(byArrival - rate) <= rate * 0.05, `${rate}/s by arrival: ${report(byArrival)}`);
  };
  await Promise.all([measure(100), measure(1000)]);
});
