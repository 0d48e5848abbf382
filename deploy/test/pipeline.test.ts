/**
 * End to end, as processes: cardgen → simulator → Kinesis emulator → Firehose stand-in → warehouse.
 * The stand-in is killed with SIGKILL mid-run and restarted; the table must still end with exactly
 * the published events, each once, with the right columns.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CardTokenizer } from '../../common/src/card-token.js';
import { spawnComponent, waitFor, withCardTokenKey, withKinesis, withTempDir, withWarehouse } from '../../common/test/helpers.js';

const COUNT = 5000;

/** A payment's data as the warehouse holds it: its card number replaced, in its place, by the card's reference. */
function tokenised(data: Record<string, unknown>, key = tokenizer): Record<string, unknown> {
  const { card_number, ...rest } = data;
  return { ...key!.reference(card_number as string), ...rest };
}
let tokenizer: CardTokenizer | undefined;

t.test(`simulator --count ${COUNT} lands exactly ${COUNT} rows, across a kill -9 of the stand-in`, async (t) => {
  const dir = await withTempDir(t);
  const k = await withKinesis(t, { shards: 4, stream: 'payments' });
  const w = await withWarehouse(t);
  const key = await withCardTokenKey(t, dir);
  tokenizer = key.tokenizer;
  const env = { KINESIS_ENDPOINT: k.endpoint, KINESIS_STREAM: k.stream, WAREHOUSE_URL: w.url, CARD_TOKEN_KEY_FILE: key.path };
  const cards = join(dir, 'cards.csv');
  const eventsFile = join(dir, 'events.jsonl');

  const gen = await spawnComponent(t, 'cardgen/src/main.ts', ['--count', '1000', '--out', cards]);
  t.equal((await gen.exit).code, 0, 'cardgen');

  let standin = await spawnComponent(t, 'deploy/local/firehose-main.ts', [], env);
  // 400/s: publishing lasts 12.5 s, so the kill lands mid-run even when the stand-in starts a few
  // seconds late on a loaded machine (at 1 000/s CI once saw all 5 000 rows land in its first batch).
  const sim = await spawnComponent(t, 'simulator/src/main.ts', ['--cards', cards, '--count', String(COUNT), '--rate', '400', '--out-events', eventsFile], env);

  const rows = async () => Number((await w.client.query('SELECT count(*) AS n FROM staging.payment_events')).rows[0].n);
  await waitFor('the first rows', async () => (await rows()) >= 1000, 60_000);
  standin.child.kill('SIGKILL');
  const killedAt = await rows();
  t.ok(killedAt < COUNT, `killed the stand-in in the middle (${killedAt} rows)`);
  await standin.exit;
  standin = await spawnComponent(t, 'deploy/local/firehose-main.ts', [], env);

  const simExit = await sim.exit;
  t.equal(simExit.code, 0, 'simulator exits 0', { stderr: sim.output.stderr.slice(-500) });
  await waitFor(`${COUNT} rows`, async () => (await rows()) >= COUNT, 60_000);
  await new Promise((r) => setTimeout(r, 2000)); // any duplicate would land within two flushes
  standin.child.kill('SIGTERM');
  t.equal((await standin.exit).code, 0, 'the stand-in stops cleanly on SIGTERM');

  t.equal(await rows(), COUNT, `exactly ${COUNT} rows`);
  const published = (await readFile(eventsFile, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(published.length, COUNT, 'the simulator reports every event it published');
  const landed = new Map(
    (
      await w.client.query(
        `SELECT event_type, event_id, to_char(event_date_origin, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS origin,
                event_json_data, event_dw_regdate >= event_date_origin AS after FROM staging.payment_events`,
      )
    ).rows.map((r) => [r.event_id, r]),
  );
  let mismatches = 0;
  for (const e of published) {
    const row = landed.get(e.event_id);
    const ok =
      row &&
      row.event_type === 'PAYMENT_EVENT' &&
      row.origin === e.event_date_origin &&
      row.after === true &&
      JSON.stringify(JSON.parse(row.event_json_data)) === JSON.stringify(tokenised(e.data));
    if (!ok) mismatches++;
  }
  t.equal(mismatches, 0, 'every published event has its row with the right id, origin, data (card tokenised) and regdate');
  const pans = new Set(published.map((e) => e.data.card_number as string));
  const leaked = [...landed.values()].filter((r) => [...(r.event_json_data as string).matchAll(/\d{12,19}/g)].some((m) => pans.has(m[0])));
  t.equal(leaked.length, 0, `no card number in the warehouse (${pans.size} cards searched for)`);
});
