/**
 * Issue 13, point 10 and the dependencies: a lease table not yet reachable at start killed the
 * processor (an unhandled ECONNREFUSED rejection), and a state directory still locked by a process
 * that is stopping made it exit 1. Now each is waited for with a log line, a metric and /ready
 * saying why, and the processor carries on once it answers.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { startStack } from '../integration/harness.js';
import { withDynamo } from '../lease/helpers.js';
import { startChaosProxy } from '../../../common/test/chaos-proxy.js';
import { freePort } from '../../../deploy/local/loopback.js';
import { newCardTokenKeyText } from '../../../common/src/card-token.js';
import { getJson, payment, put, sample, sleep } from './helpers.js';

t.test('a lease table that does not answer at start is waited for; then every shard is leased and alerts', async (t) => {
  const stack = await startStack(t, { cards: 200, shards: 2 });
  const dynamo = await withDynamo(t);
  const proxy = await startChaosProxy(t, dynamo.endpoint);
  proxy.setMode('refuse');
  const processor = await stack.startProcessor({
    LEASE_TABLE: 'leases',
    DYNAMODB_ENDPOINT: proxy.endpoint,
    WORKER_ID: 'w1',
    LOG_LEVEL: 'info',
  });
  await stack.untilServing();
  await sleep(4_000);
  t.equal(processor.child.exitCode, null, 'still running with the lease table down for 4 s');
  t.equal((await getJson(stack.httpPort, '/health')).status, 200, '/health 200: waiting is not stuck');
  const ready = await getJson(stack.httpPort, '/ready');
  t.equal(ready.status, 503);
  t.match(ready.body.reason, /waiting for lease_table/, `/ready: ${ready.body.reason}`);
  t.equal(await sample(stack.httpPort, 'payments_dependency_up', { dependency: 'lease_table' }), 0, 'payments_dependency_up{lease_table} = 0');
  t.ok((await sample(stack.httpPort, 'payments_dependency_errors_total', { dependency: 'lease_table' }))! >= 1, 'errors counted');
  t.match(processor.output.stdout, /lease table not reachable; waiting for it/, 'logged');
  t.notMatch(processor.output.stdout + processor.output.stderr, /unhandled/i, 'no unhandled rejection');

  proxy.setMode('pass');
  await stack.waitFor(
    'both shards leased and RUNNING',
    async () => {
      const r = await getJson(stack.httpPort, '/ready');
      return r.status === 200 && r.body.shards.length === 2;
    },
    60_000,
    250,
  );
  t.pass('ready once the table answers, owning both shards');
  const e = payment([...stack.stolen][0]!, Date.now());
  await put(stack.kinesis.client, stack.kinesis.stream, [{ data: e, key: e.data.card_number }]);
  await stack.waitFor('its alert', async () => (await stack.readStream()).alerts.some((a) => a.data.payment_event_id === e.event_id), 30_000, 500);
  t.pass('and alerts');
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
});

t.test('a state directory locked by another processor is waited for until it is free', async (t) => {
  const stack = await startStack(t, { cards: 200, shards: 1 });
  const first = await stack.startProcessor();
  await stack.untilServing();
  const port = await freePort();
  const second = await stack.startProcessor({ HTTP_PORT: String(port), LOG_LEVEL: 'info' });
  await stack.waitFor('the second processor to serve', async () => (await getJson(port, '/health').catch(() => ({ status: 0 }))).status === 200, 60_000, 200);
  await sleep(2_000);
  t.equal(second.child.exitCode, null, 'the second one waits instead of exiting');
  const ready = await getJson(port, '/ready');
  t.equal(ready.status, 503);
  t.match(ready.body.reason, /starting: opening the state store|waiting for state_store/, `/ready: ${ready.body.reason}`);
  t.match(JSON.stringify(ready.body.dependenciesDown), /state_store.*locked/, 'naming the lock');
  t.equal(await sample(port, 'payments_dependency_up', { dependency: 'state_store' }), 0);

  first.child.kill('SIGTERM');
  t.equal((await first.exit).code, 0, 'the first one stops');
  await stack.waitFor('the second one ready', async () => (await getJson(port, '/ready')).status === 200, 60_000, 250);
  t.pass('the second one opens the store and runs');
  t.equal(await sample(port, 'payments_dependency_up', { dependency: 'state_store' }), 1);
  second.child.kill('SIGTERM');
  t.equal((await second.exit).code, 0);
});

t.test('SIGTERM while start-up waits for a dependency: exit 0 at once', async (t) => {
  const stack = await startStack(t, { cards: 50, shards: 1 });
  const dynamo = await withDynamo(t);
  const proxy = await startChaosProxy(t, dynamo.endpoint);
  proxy.setMode('refuse');
  const processor = await stack.startProcessor({ LEASE_TABLE: 'leases', DYNAMODB_ENDPOINT: proxy.endpoint });
  await stack.untilServing();
  await sleep(1_000);
  const at = Date.now();
  processor.child.kill('SIGTERM');
  t.equal((await processor.exit).code, 0);
  t.ok(Date.now() - at < 5_000, `within 5 s (${Date.now() - at} ms)`);
});

t.test('no card token key, or a stolen list of another key, at start: exit 1 saying why (no payment could be told stolen)', async (t) => {
  const stack = await startStack(t, { cards: 20, shards: 1 });
  const missing = await stack.startProcessor({ CARD_TOKEN_KEY_FILE: join(stack.dir, 'no-such-key.json') });
  t.equal((await missing.exit).code, 1, 'a key file that is not there');
  t.match(missing.output.stdout, /no-such-key\.json: the card token key cannot be read \(ENOENT\).*cannot load the card token key/, 'logged, naming the file');

  const refused = await freePort();
  const down = await stack.startProcessor({
    CARD_TOKEN_KEY_SECRET: 'card-token-key',
    SECRETS_ENDPOINT: `http://127.0.0.1:${refused}`,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  t.equal((await down.exit).code, 1, 'Secrets Manager not answering');
  t.match(down.output.stdout, /cannot load the card token key/, 'logged');

  const otherKey = join(stack.dir, 'other-key.json');
  await writeFile(otherKey, newCardTokenKeyText('another-key'), { mode: 0o600 });
  const other = await stack.startProcessor({ CARD_TOKEN_KEY_FILE: otherKey });
  t.equal((await other.exit).code, 1, 'a stolen list tokenised with another key');
  t.match(other.output.stdout, /tokenised with key [^,]+, this processor has key another-key.*cannot load the stolen list/, 'logged, naming both keys');
  t.notMatch(missing.output.stdout + down.output.stdout + other.output.stdout, /unhandled/i, 'no unhandled rejection');
});
