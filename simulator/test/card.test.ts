/**
 * `npm run card`: one CARD_STATUS_CHANGED published by hand, keyed by its card; bad arguments are
 * refused with the reason and without echoing the card number.
 */
import t from 'tap';
import { decodeRecord } from '../../common/src/events.js';
import { withKinesis } from '../../common/test/helpers.js';
import { cardStatusEventOf } from '../src/card-command.js';
import { makeCards, readStream, runCli } from './helpers.js';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const [CARD] = makeCards(1) as [string];

t.test('the command line becomes the event: stolen or recovered, from --since or now', async (t) => {
  const stolen = cardStatusEventOf(['stolen', CARD, '--since', '2026-12-06T11:55:00.000Z', '--reason', 'phoned in'], NOW, () => 'id-1');
  t.same(stolen, {
    event_type: 'CARD_STATUS_CHANGED',
    event_id: 'id-1',
    event_date_origin: new Date(NOW).toISOString(),
    data: { card_number: CARD, status: 'STOLEN', effective_at: '2026-12-06T11:55:00.000Z', reason: 'phoned in', reported_by: 'cli' },
  });
  t.match(cardStatusEventOf(['recovered', CARD, '--reported-by', 'ops'], NOW), {
    data: { status: 'ACTIVE', effective_at: new Date(NOW).toISOString(), reported_by: 'ops' },
  });
  t.equal(cardStatusEventOf(['--help'], NOW), 'help');
  const refused = (args: string[], why: RegExp) => {
    const err = t.throws(() => cardStatusEventOf(args, NOW), { name: 'UsageError', message: why }) as Error;
    t.notOk(err.message.includes(CARD), `${args[0]}: the card number is not echoed`);
  };
  refused(['lost', CARD], /stolen or recovered/);
  refused(['stolen'], /card number is missing/);
  refused(['stolen', CARD.slice(0, -1) + String((Number(CARD.at(-1)) + 1) % 10)], /card number: fails the Luhn check/);
  refused(['stolen', CARD, '--since', 'yesterday'], /--since: must be ISO-8601/);
  refused(['stolen', CARD, 'extra'], /unexpected arguments/);
  refused(['stolen', CARD, '--nope'], /nope/);
});

t.test('npm run card publishes one event keyed by its card and prints it without the number', async (t) => {
  const { endpoint, client, stream } = await withKinesis(t, { shards: 2 });
  const { code, stdout, stderr } = await runCli(
    t,
    ['stolen', CARD, '--since', '2026-12-06T11:55:00.000Z'],
    { KINESIS_ENDPOINT: endpoint, KINESIS_STREAM: stream },
    'simulator/src/card.ts',
  ).done;
  t.equal(code, 0, stderr);
  t.notOk(stdout.includes(CARD) || stderr.includes(CARD), 'the card number is not printed');
  const printed = JSON.parse(stdout) as { event_id: string; card_masked: string; status: string };
  t.match(printed, { card_masked: `${CARD.slice(0, 6)}******${CARD.slice(-4)}`, status: 'STOLEN', effective_at: '2026-12-06T11:55:00.000Z' });
  const [record, ...more] = await readStream(client, stream);
  t.equal(more.length, 0, 'one record');
  t.equal(record?.PartitionKey, CARD, 'keyed by its card');
  const decoded = decodeRecord(record!.Data!);
  t.match(decoded, { ok: true, event: { event_type: 'CARD_STATUS_CHANGED', event_id: printed.event_id } });
  const bad = await runCli(t, ['stolen', '123'], { KINESIS_ENDPOINT: endpoint, KINESIS_STREAM: stream }, 'simulator/src/card.ts').done;
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^card: card number: must be 12 to 19 digits.*\(see --help\)\n$/);
});
