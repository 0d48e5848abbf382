/**
 * Issue 14 (and 18): in AWS the processor's stolen list (tokens) and the simulator's cards file are
 * S3 objects (STOLEN_LIST, CARDS_FILE = s3://bucket/key), read with the AWS SDK; locally the same
 * code runs against s3rver. A list that cannot be read at a restart falls back to the one kept in
 * the state.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startStack } from './harness.js';
import { S3RVER_CREDENTIALS, spawnComponent, withS3 } from '../../../common/test/helpers.js';
import { payment, put } from '../faults/helpers.js';

t.test('STOLEN_LIST, CARDS_FILE = s3://…: the processor and the simulator read from S3; a missing list falls back to the kept one', async (t) => {
  const stack = await startStack(t, { cards: 300, shards: 1 });
  const s3 = await withS3(t, ['reference-data']);
  await s3.client.send(new PutObjectCommand({ Bucket: 'reference-data', Key: 'cards/cards.csv', Body: await readFile(stack.cardsFile) }));
  await s3.client.send(new PutObjectCommand({ Bucket: 'reference-data', Key: 'lists/stolen-cards.csv', Body: await readFile(stack.stolenList) }));
  const cardsFile = 's3://reference-data/cards/cards.csv';
  const env = {
    STOLEN_LIST: 's3://reference-data/lists/stolen-cards.csv',
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    LOG_LEVEL: 'info',
  };
  let processor = await stack.startProcessor(env);
  const started = (p: typeof processor) => stack.waitFor('the processor started', async () => /processor started/.test(p.output.stdout), 60_000, 100);
  await started(processor);
  t.match(processor.output.stdout, /"stolen":\d+.*"file":"s3:\/\/reference-data\/lists\/stolen-cards.csv".*stolen list loaded/, 'loaded from S3');

  const sim = await spawnComponent(t, 'simulator/src/main.ts', ['--cards', cardsFile, '--count', '50', '--rate', '100'], {
    ...stack.env,
    ...env,
  });
  const simExit = await sim.exit;
  t.equal(simExit.code, 0, `the simulator read the cards from S3 too: ${sim.output.stderr.slice(0, 300)}`);

  const first = payment([...stack.stolen][0]!, Date.now());
  await put(stack.kinesis.client, stack.kinesis.stream, [{ data: first, key: first.data.card_number }]);
  await stack.waitFor('its alert', async () => (await stack.readStream()).alerts.some((a) => a.data.payment_event_id === first.event_id), 30_000, 250);
  t.pass('a stolen card from the S3 list is alerted');
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);

  await s3.client.send(new DeleteObjectCommand({ Bucket: 'reference-data', Key: 'lists/stolen-cards.csv' }));
  processor = await stack.startProcessor(env);
  await started(processor);
  t.match(processor.output.stdout, /no such S3 object.*using the one kept in the state/, 'the object gone: the kept list, said loudly');
  const second = payment([...stack.stolen][1]!, Date.now());
  await put(stack.kinesis.client, stack.kinesis.stream, [{ data: second, key: second.data.card_number }]);
  await stack.waitFor('its alert', async () => (await stack.readStream()).alerts.some((a) => a.data.payment_event_id === second.event_id), 30_000, 250);
  t.pass('and still alerts');
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});
