import t from 'tap';
import { parseOptions } from '../src/options.js';

t.test('defaults', async (t) => {
  t.same(parseOptions([]), {
    cardsFile: 'data/cards.csv',
    rate: 100,
    count: undefined,
    seed: undefined,
    disorderMs: 0,
    lateRatio: 0,
    backfillMs: undefined,
    outEvents: undefined,
    reportRate: 0,
    partitionKey: 'card',
    help: false,
  });
  t.equal(parseOptions([], { CARDS_FILE: '/x/cards.csv' }).cardsFile, '/x/cards.csv');
  t.equal(parseOptions(['--cards', 'a.csv'], { CARDS_FILE: '/x/cards.csv' }).cardsFile, 'a.csv');
  t.ok(Object.isFrozen(parseOptions([])));
});

t.test('every flag', async (t) => {
  t.match(parseOptions(['--rate', '250.5', '--count', '10', '--seed', '7', '--disorder-ms', '500', '--late-ratio', '0.05', '--out-events', 'e.jsonl']), {
    rate: 250.5,
    count: 10,
    seed: 7,
    disorderMs: 500,
    lateRatio: 0.05,
    outEvents: 'e.jsonl',
  });
  t.equal(parseOptions(['--rate', '0']).rate, 'max');
  t.equal(parseOptions(['--rate', 'max']).rate, 'max');
  t.equal(parseOptions(['--rate=1000']).rate, 1000);
  t.equal(parseOptions(['-h']).help, true);
});

t.test('--report-rate: card status changes per second, 0 to 1 000', async (t) => {
  t.equal(parseOptions(['--report-rate', '0.5']).reportRate, 0.5);
  t.equal(parseOptions(['--report-rate', '0']).reportRate, 0);
  t.throws(() => parseOptions(['--report-rate=-1']), { name: 'UsageError', message: /--report-rate: must be a number/ });
  t.throws(() => parseOptions(['--report-rate', '2000']), { name: 'UsageError', message: /--report-rate/ });
});

t.test('every problem in one usage error', async (t) => {
  t.throws(() => parseOptions(['--rate', 'fast', '--count', '0', '--late-ratio', '1.5', '--seed=99999999999']), {
    name: 'UsageError',
    code: 'USAGE',
    message: /--rate: .*; --count: .*; --seed: .*; --late-ratio: /,
  });
  t.throws(() => parseOptions(['--bogus']), { name: 'UsageError', message: "Unknown option '--bogus'" });
  t.throws(() => parseOptions(['extra']), { name: 'UsageError' });
  t.throws(() => parseOptions(['--count']), { name: 'UsageError', message: /argument missing/ });
  t.throws(() => parseOptions(['--count', '1.5']), { message: /--count: must be a whole number/ });
});

t.test('--partition-key: card (the default) or event-id, nothing else', async (t) => {
  t.equal(parseOptions([]).partitionKey, 'card');
  t.equal(parseOptions(['--partition-key', 'card']).partitionKey, 'card');
  t.equal(parseOptions(['--partition-key', 'event-id']).partitionKey, 'event-id');
  t.equal(parseOptions(['--partition-key=event-id']).partitionKey, 'event-id');
  t.throws(() => parseOptions(['--partition-key', 'event_id']), {
    name: 'UsageError',
    message: '--partition-key: must be "card" or "event-id"',
  });
  t.throws(() => parseOptions(['--partition-key', '']), { name: 'UsageError', message: '--partition-key: must be "card" or "event-id"' });
  t.throws(() => parseOptions(['--partition-key']), { name: 'UsageError', message: /argument missing/ });
  t.throws(() => parseOptions(['--partition-key', 'merchant', '--count', '0']), { message: /--count: .*; --partition-key: must be/ });
});

t.test('--backfill-ms: history of --count events, not with --late-ratio', async (t) => {
  t.equal(parseOptions(['--backfill-ms', '3600000', '--count', '100']).backfillMs, 3_600_000);
  t.throws(() => parseOptions(['--backfill-ms', '3600000']), /needs --count/);
  t.throws(() => parseOptions(['--backfill-ms', '1000', '--count', '5', '--late-ratio', '0.1']), /--late-ratio/);
  t.throws(() => parseOptions(['--backfill-ms', '0', '--count', '5']), /backfill-ms/);
});
