import t from 'tap';
import type { Test } from 'tap';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { pino } from 'pino';
import { LeaseManager } from '../../src/lease/manager.js';
import type { LostReason } from '../../src/lease/types.js';
import { FakeClock, makeWorker, openShards, shardId, silent, withDynamo } from './helpers.js';
import { waitFor } from '../../../common/test/helpers.js';

type Fault = 'throttle' | 'reset-before' | 'reset-after' | undefined;

/** Wraps a client: `fault(name)` decides per call whether it fails before or after reaching DynamoDB. */
function faulty(client: DynamoDBClient, fault: (command: string) => Fault): DynamoDBClient {
  return {
    send: async (command: { constructor: { name: string } }) => {
      const f = fault(command.constructor.name);
      if (f === 'throttle') throw Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
      if (f === 'reset-before') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      const answer = await (client.send as (c: unknown) => Promise<unknown>).call(client, command);
      if (f === 'reset-after') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return answer;
    },
  } as unknown as DynamoDBClient;
}

async function setup(t: Test, fault: (command: string) => Fault) {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const worker = makeWorker(faulty(client, fault), 'leases', 'w1', clock);
  const other = makeWorker(client, 'leases', 'w2', clock);
  await other.ensureTable();
  await other.syncShards(openShards(1));
  return { clock, worker, other, client };
}

t.test('throttled calls are retried with backoff and succeed', async (t) => {
  let failures = 0;
  const { worker } = await setup(t, () => (failures++ % 2 === 0 ? 'throttle' : undefined));
  t.same(
    (await worker.rebalance()).map((l) => l.leaseKey),
    [shardId(0)],
  );
  await worker.renew();
  await worker.checkpoint(shardId(0), { sequenceNumber: '7', watermarkMs: 0, checkpointAtMs: 0 });
  t.ok(failures >= 6, 'every call failed once first');
  t.same(worker.stats(), { leasesHeld: 1, takes: 1, steals: 0, renewFailures: 0, lost: 0 });
});

t.test('a write that landed but whose answer was lost is recognised as ours', async (t) => {
  let resetNext = false;
  const { worker } = await setup(t, (name) => {
    if (resetNext && name === 'UpdateItemCommand') {
      resetNext = false;
      return 'reset-after';
    }
    return undefined;
  });
  const lost: string[] = [];
  worker.on('lost', (id) => lost.push(id));
  resetNext = true;
  t.equal((await worker.rebalance()).length, 1, 'take: the retry is refused by our own write, read back as success');
  resetNext = true;
  await worker.renew();
  resetNext = true;
  await worker.checkpoint(shardId(0), { sequenceNumber: '8', watermarkMs: 0, checkpointAtMs: 0 });
  await worker.renew();
  t.same(lost, [], 'nothing was lost');
  t.ok(worker.isSafe(shardId(0)));
  const [lease] = await worker.snapshot();
  t.equal(lease?.leaseCounter, 4, 'take, renew, checkpoint, renew: four moves, none doubled');
  t.equal(lease?.checkpoint, '8');
});

t.test('renewals failing for good: renewFailed, unsafe, then lost as expired; nothing throws', async (t) => {
  let down = false;
  const { worker, clock, other } = await setup(t, () => (down ? 'reset-before' : undefined));
  await worker.rebalance();
  const id = shardId(0);
  await other.rebalance(); // starts watching the counter
  down = true;
  const failed: string[] = [];
  const lost: Array<[string, LostReason]> = [];
  worker.on('renewFailed', (shard) => failed.push(shard));
  worker.on('lost', (shard, reason) => lost.push([shard, reason]));
  const interval = worker.options.renewIntervalMs;
  const steps: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    clock.advance(interval);
    await worker.renew();
    steps.push(worker.isSafe(id));
  }
  t.same(failed, [id, id, id, id]);
  t.equal(worker.stats().renewFailures, 4);
  t.same(steps, [true, true, false, false], 'safe for two intervals, then not');
  t.same(lost, [[id, 'expired']], 'dropped once failoverTimeMs passed without a renewal');
  await t.rejects(worker.rebalance(), { code: 'ECONNRESET' }, 'a scan that keeps failing is reported to the caller');
  down = false;
  t.same(
    (await other.rebalance()).map((l) => l.leaseKey),
    [id],
    'the others take it after failover',
  );
});

t.test('construction checks the timing options together', async (t) => {
  const base = { dynamo: {} as DynamoDBClient, table: 'x', workerId: 'w', now: () => 0, log: silent };
  t.throws(() => new LeaseManager({ ...base, failoverTimeMs: 1_000, renewIntervalMs: 900 }), /renewIntervalMs/);
  t.throws(() => new LeaseManager({ ...base, safetyMarginMs: 10_000 }), /safetyMarginMs/);
  t.throws(() => new LeaseManager({ ...base, workerId: '' }), /workerId/);
  const m = new LeaseManager(base);
  t.same(m.options, { failoverTimeMs: 10_000, renewIntervalMs: 3_333, safetyMarginMs: 2_000, initialPosition: 'TRIM_HORIZON' });
  t.ok(Object.isFrozen(m.options));
});

t.test('start() renews and rebalances on its own until aborted; releaseAll hands over', async (t) => {
  const { client } = await withDynamo(t);
  const options = { failoverTimeMs: 900, now: Date.now, log: pino({ level: 'silent' }) };
  const [a, b] = ['a', 'b'].map((id) => new LeaseManager({ dynamo: client, table: 'leases', workerId: id, ...options })) as [LeaseManager, LeaseManager];
  await a.ensureTable();
  await a.syncShards(openShards(4));
  const stopA = new AbortController();
  const stopB = new AbortController();
  const runA = a.start(stopA.signal);
  const runB = b.start(stopB.signal);
  t.teardown(() => {
    stopA.abort();
    stopB.abort();
  });
  await waitFor('an even split', async () => a.held().length === 2 && b.held().length === 2, 15_000, 50);
  for (const id of [...a.held(), ...b.held()]) t.ok(a.isSafe(id) || b.isSafe(id));
  // Let the leases live through several failover periods: renewals keep them.
  await new Promise((r) => setTimeout(r, 2_000));
  t.equal(a.held().length + b.held().length, 4, 'still held after two seconds');
  t.equal(a.stats().lost + b.stats().lost, a.stats().steals + b.stats().steals, 'only steals made anyone lose a lease');
  stopA.abort();
  await runA;
  await a.releaseAll();
  await waitFor('b holds everything', () => b.held().length === 4, 5_000, 50);
  stopB.abort();
  await runB;
});
