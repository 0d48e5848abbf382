/**
 * The Lambda code as deployed: each function bundled exactly as the CDK app bundles it
 * (deploy/cdk/lib/bundle.ts), then loaded by a plain `node` with no repository around it and
 * invoked. (A bundle that builds can still fail at load: jsonc-parser's UMD build did.)
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { build } from 'esbuild';
import { lambdaBundleOptions } from '../../cdk/lib/bundle.js';
import { TRANSFORM_ENTRY } from '../../cdk/lib/payments-stack.js';
import { SQL_STEP_ENTRY } from '../../cdk/lib/warehouse.js';
import { CardTokenizer } from '../../../common/src/card-token.js';

/** A directory outside the repository: no package.json above it says "module" (as in Lambda's /var/task). */
function outside(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'lambda-bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function bundle(entry: string, dir: string): Promise<string> {
  const file = join(dir, 'index.js');
  await build({ ...lambdaBundleOptions(entry), outfile: file });
  return file;
}

/**
 * Loads the bundle in a fresh node (cwd: an empty directory) and calls its handler with `event`.
 * Asynchronous, so that a test double of an AWS API in this process can answer the Lambda.
 */
async function invoke(
  file: string,
  event: unknown,
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ status: number | null; result: unknown; stderr: string }> {
  const script = `const { handler } = require(${JSON.stringify(file)});
handler(${JSON.stringify(event)}).then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e); process.exit(3); });`;
  const child = spawn(process.execPath, ['-e', script], { cwd, env: { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { status, result: stdout ? JSON.parse(stdout) : undefined, stderr };
}

/** Secrets Manager as far as the transformation uses it: GetSecretValue of one secret. */
async function secretsManager(t: Test, secretId: string, secretString: string): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue' || JSON.parse(body).SecretId !== secretId) {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'no such secret' }));
        return;
      }
      res.end(JSON.stringify({ Name: secretId, SecretString: secretString }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('the Firehose transformation: a valid payment, a non-JSON and a non-UTF-8 record', async (t) => {
  const dir = outside(t);
  const file = await bundle(TRANSFORM_ENTRY, dir);
  const payment = {
    event_type: 'PAYMENT_EVENT',
    event_id: randomUUID(),
    event_date_origin: '2026-12-05T08:00:00.000Z',
    data: { card_number: '4111111111111111', amount: 12.5, currency: 'EUR', merchant_id: 'm-1' },
  };
  const inputs = [Buffer.from(JSON.stringify(payment)), Buffer.from('not json'), Buffer.from([0xff, 0xfe, 0x41])];
  const event = {
    invocationId: 'i-1',
    deliveryStreamArn: 'arn:aws:firehose:eu-west-1:123456789012:deliverystream/payments-to-warehouse',
    sourceKinesisStreamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/payments',
    region: 'eu-west-1',
    records: inputs.map((data, i) => ({
      recordId: `r${i}`,
      approximateArrivalTimestamp: 1_764_921_600_000,
      data: data.toString('base64'),
      kinesisRecordMetadata: {
        shardId: 'shardId-000000000000',
        partitionKey: 'k',
        approximateArrivalTimestamp: 1_764_921_600_000,
        sequenceNumber: `4959${i}`,
        subsequenceNumber: 0,
      },
    })),
  };
  const key = JSON.stringify({ keyId: 'k1', key: 'x'.repeat(64) });
  const noKey = await invoke(file, event, dir);
  t.equal(noKey.status, 3, 'without its key the invocation fails (Firehose retries it): no row without tokens');
  const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CardTokenKey-abc';
  const endpoint = await secretsManager(t, secretArn, key);
  const run = await invoke(file, event, dir, {
    CARD_TOKEN_KEY_SECRET: secretArn,
    SECRETS_ENDPOINT: endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  t.equal(run.status, 0, run.stderr);
  const out = (run.result as { records: { recordId: string; result: string; data: string; metadata: { partitionKeys: { table: string } } }[] }).records;
  t.same(
    out.map((r) => [r.recordId, r.result, r.metadata.partitionKeys.table]),
    [
      ['r0', 'Ok', 'events'],
      ['r1', 'Ok', 'rejects'],
      ['r2', 'Ok', 'rejects'],
    ],
  );
  const rows = out.map((r) => Buffer.from(r.data, 'base64').toString('utf8'));
  for (const row of rows) t.ok(row.endsWith('\n') && !row.slice(0, -1).includes('\n'), 'one JSON line');
  t.same(JSON.parse(rows[0]!).event_id, payment.event_id);
  const { card_number, ...rest } = payment.data;
  const tokenised = { ...new CardTokenizer('k1', 'x'.repeat(64)).reference(card_number), ...rest };
  t.same(JSON.parse(rows[0]!).event_json_data, JSON.stringify(tokenised), 'the card number tokenised with the key from Secrets Manager');
  t.notOk(rows.join('').includes(card_number), 'no card number in any row');
  t.match(JSON.parse(rows[1]!), {
    reason: 'not_json',
    raw_data: 'not json',
    raw_bytes: 8,
    shard_id: 'shardId-000000000000',
    sequence_number: '49591',
  });
  t.match(JSON.parse(rows[2]!), { reason: 'not_utf8', raw_bytes: 3 });
});

t.test('the warehouse SQL step loads and answers a Delete without SQL (no AWS call)', async (t) => {
  const dir = outside(t);
  const file = await bundle(SQL_STEP_ENTRY, dir);
  const run = await invoke(
    file,
    {
      RequestType: 'Delete',
      PhysicalResourceId: 'sql-step-warehouse-ddl',
      ResourceProperties: { ClusterIdentifier: 'c', Database: 'payments', SecretArn: 'arn:secret', Sqls: ['SELECT 1'] },
    },
    dir,
  );
  t.equal(run.status, 0, run.stderr);
  t.same(run.result, { PhysicalResourceId: 'sql-step-warehouse-ddl' });
});
