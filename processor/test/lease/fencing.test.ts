import t from 'tap';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LeaseLostError } from '../../src/lease/errors.js';
import type { Lease, LostReason } from '../../src/lease/types.js';
import { FAILOVER_MS, FakeClock, makeWorker, openShards, shardId, withDynamo } from './helpers.js';

t.test('a worker whose lease was stolen gets LeaseLostError on checkpoint, and lost', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w1 = makeWorker(client, 'leases', 'w1', clock);
  const w2 = makeWorker(client, 'leases', 'w2', clock);
  await w1.ensureTable();
  await w1.syncShards(openShards(4));
  await w1.rebalance();
  t.equal(w1.held().length, 4, 'alone, w1 takes everything');

  const stolen: Lease[] = [];
  w2.on('stolen', (lease, from) => {
    t.equal(from, 'w1');
    stolen.push(lease);
  });
  await w2.rebalance();
  t.equal(stolen.length, 1, 'w2 steals one lease per round');
  const victim = stolen[0]!.leaseKey;
  t.ok(w1.held().includes(victim), 'w1 does not know yet');

  const lost: Array<[string, LostReason]> = [];
  w1.on('lost', (id, reason) => lost.push([id, reason]));
  const before = (await w1.snapshot()).find((l) => l.leaseKey === victim)!;
  const error = await w1.checkpoint(victim, { sequenceNumber: '100', watermarkMs: 1, checkpointAtMs: 2 }).catch((e: unknown) => e);
  t.ok(error instanceof LeaseLostError, 'the stale counter is refused');
  t.equal((error as LeaseLostError).code, 'LEASE_LOST');
  t.equal((error as LeaseLostError).retriable, false);
  t.same(lost, [[victim, 'checkpoint-conflict']]);
  t.notOk(w1.held().includes(victim));
  t.notOk(w1.isSafe(victim));
  const after = (await w1.snapshot()).find((l) => l.leaseKey === victim)!;
  t.same(after, before, 'the refused checkpoint changed nothing');
  t.equal(after.leaseOwner, 'w2');
  t.equal(after.ownerSwitchesSinceCheckpoint, 2, 'taken by w1, then stolen by w2');

  await t.rejects(w1.checkpoint(victim, { sequenceNumber: '101', watermarkMs: 1, checkpointAtMs: 2 }), LeaseLostError, 'a lease not held is refused too');

  // The new owner's checkpoint goes through: counter +1, switches reset.
  await w2.checkpoint(victim, { sequenceNumber: '100', watermarkMs: 1_000, checkpointAtMs: 2_000 });
  const written = (await w2.snapshot()).find((l) => l.leaseKey === victim)!;
  t.equal(written.checkpoint, '100');
  t.equal(written.checkpointWatermarkMs, 1_000);
  t.equal(written.checkpointAtMs, 2_000);
  t.equal(written.leaseCounter, after.leaseCounter + 1);
  t.equal(written.ownerSwitchesSinceCheckpoint, 0);
});

t.test('a renewal after a steal emits lost (renew-conflict); the other leases are kept', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w1 = makeWorker(client, 'leases', 'w1', clock);
  const w2 = makeWorker(client, 'leases', 'w2', clock);
  await w1.ensureTable();
  await w1.syncShards(openShards(4));
  await w1.rebalance();
  await w2.rebalance();
  const lost: Array<[string, LostReason]> = [];
  w1.on('lost', (id, reason) => lost.push([id, reason]));
  await w1.renew();
  t.same(lost, [[w2.held()[0]!, 'renew-conflict']]);
  t.equal(w1.held().length, 3);
  for (const id of w1.held()) t.ok(w1.isSafe(id));
});

t.test('checkpoint refuses something that is not a sequence number', async (t) => {
  const { client } = await withDynamo(t);
  const w1 = makeWorker(client, 'leases', 'w1', new FakeClock());
  await t.rejects(w1.checkpoint(shardId(0), { sequenceNumber: 'LATEST', watermarkMs: 0, checkpointAtMs: 0 }), TypeError);
});

/**
 * The timing claim: when another worker's rebalance succeeds in taking a lease, the old owner had
 * already stopped calling it safe. Time moves in small steps; at each step the old owner's isSafe is
 * read first, then the other worker tries. With `slowAnswerMs`, the old owner's last renewal lands
 * at once and the other worker sees it at once, but the answer reaches the old owner that much
 * later: isSafe must count from the call's start, not from the answer (with an answer slower than
 * the safety margin, counting from the answer would be caught here).
 */
for (const slowAnswerMs of [0, 3_000]) {
  t.test(`isSafe turns false before anyone can take the lease (renewal answer delayed ${slowAnswerMs} ms)`, async (t) => {
    const { client } = await withDynamo(t);
    const clock = new FakeClock();
    let delayNext = false;
    const other = makeWorker(client, 'leases', 'other', clock);
    const slow = {
      send: async (command: { constructor: { name: string } }) => {
        const answer = await (client.send as (c: unknown) => Promise<unknown>).call(client, command);
        if (delayNext && command.constructor.name === 'UpdateItemCommand') {
          delayNext = false;
          t.same(await other.rebalance(), [], 'the other worker sees the renewal land');
          clock.advance(slowAnswerMs);
        }
        return answer;
      },
    } as unknown as DynamoDBClient;
    const old = makeWorker(slow, 'leases', 'old', clock);
    await other.ensureTable();
    await other.syncShards(openShards(1));
    await old.rebalance();
    const id = shardId(0);
    t.same(old.held(), [id]);

    const renewStartedAt = clock.ms;
    delayNext = true;
    await old.renew();
    t.equal(clock.ms, renewStartedAt + slowAnswerMs, 'the answer took its time');
    // The old owner now hangs (stops renewing). The other worker scans from now on.
    const step = 100;
    let lastSafeAt: number | undefined;
    let takenAt: number | undefined;
    for (let i = 0; i < 200 && takenAt === undefined; i++) {
      const safeBefore = old.isSafe(id);
      if (safeBefore) lastSafeAt = clock.ms;
      const won = await other.rebalance();
      if (won.some((l) => l.leaseKey === id)) {
        takenAt = clock.ms;
        t.notOk(safeBefore, `at +${clock.ms - renewStartedAt} ms the lease was taken while the old owner still called it safe`);
      }
      clock.advance(step);
    }
    t.ok(takenAt !== undefined, 'the other worker takes the expired lease');
    const { failoverTimeMs, safetyMarginMs } = old.options;
    t.ok(takenAt! - renewStartedAt >= failoverTimeMs, 'not before failoverTimeMs after the renewal started');
    if (slowAnswerMs < failoverTimeMs - safetyMarginMs) {
      t.ok(
        lastSafeAt !== undefined && takenAt! - lastSafeAt >= safetyMarginMs,
        `the old owner stopped ${takenAt! - (lastSafeAt ?? 0)} ms before the take (margin ${safetyMarginMs})`,
      );
      t.ok(lastSafeAt! - renewStartedAt >= failoverTimeMs - safetyMarginMs - step, 'and was safe until the margin began (isSafe is not trivially false)');
    }

    // The old owner wakes up: its checkpoint is fenced off.
    const lost: string[] = [];
    old.on('lost', (shard) => lost.push(shard));
    await t.rejects(old.checkpoint(id, { sequenceNumber: '5', watermarkMs: 0, checkpointAtMs: 0 }), LeaseLostError);
    t.same(lost, [id]);
    t.equal((await other.snapshot())[0]?.leaseOwner, 'other');
  });
}

t.test('a lease is never expired before the observer has watched it for failoverTimeMs', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const owner = makeWorker(client, 'leases', 'owner', clock);
  await owner.ensureTable();
  await owner.syncShards(openShards(1));
  await owner.rebalance();
  // Long after the owner's last renewal, a new worker appears: it must still wait a full failover.
  clock.advance(5 * FAILOVER_MS);
  const late = makeWorker(client, 'leases', 'late', clock);
  t.same(await late.rebalance(), [], 'first sight: not expired');
  clock.advance(FAILOVER_MS - 1);
  t.same(await late.rebalance(), [], 'one ms short of failover: not expired');
  clock.advance(1);
  t.same(
    (await late.rebalance()).map((l) => l.leaseKey),
    [shardId(0)],
    'taken at failover',
  );
});

t.test('the counter fences a stale incarnation even when the owner name matches', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  // A process restarted under the same worker id while the old one still runs (a misconfiguration
  // the owner condition cannot catch): the new one takes its lease back at once.
  const before = makeWorker(client, 'leases', 'same', clock);
  const after = makeWorker(client, 'leases', 'same', clock);
  await before.ensureTable();
  await before.syncShards(openShards(1));
  await before.rebalance();
  t.same(
    (await after.rebalance()).map((l) => l.leaseKey),
    [shardId(0)],
    'a lease naming me is available at once',
  );
  const lost: LostReason[] = [];
  before.on('lost', (_, reason) => lost.push(reason));
  await t.rejects(before.checkpoint(shardId(0), { sequenceNumber: '1', watermarkMs: 0, checkpointAtMs: 0 }), LeaseLostError);
  t.same(lost, ['checkpoint-conflict']);
  t.equal((await after.snapshot())[0]?.checkpoint, 'TRIM_HORIZON', 'the stale checkpoint was not written');
  await after.checkpoint(shardId(0), { sequenceNumber: '2', watermarkMs: 0, checkpointAtMs: 0 });
});

t.test('a checkpoint from an earlier tenure of a lease won back is refused', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const w1 = makeWorker(client, 'leases', 'w1', clock);
  const w2 = makeWorker(client, 'leases', 'w2', clock);
  await w1.ensureTable();
  await w1.syncShards(openShards(1));
  const [first] = await w1.rebalance();
  const id = shardId(0);
  // w1 hangs past failover, w2 takes the lease, then releases it and w1 wins it back.
  await w2.rebalance();
  clock.advance(FAILOVER_MS);
  t.equal((await w2.rebalance()).length, 1);
  await w1.renew(); // learns it lost the first tenure
  t.same(w1.held(), []);
  await w2.release(id);
  const [second] = await w1.rebalance();
  t.ok(first && second && second.leaseCounter > first.leaseCounter, 'a new tenure has a new counter');
  const stale = { sequenceNumber: '9', watermarkMs: 0, checkpointAtMs: 0, acquiredCounter: first!.leaseCounter };
  await t.rejects(w1.checkpoint(id, stale), LeaseLostError, "the first tenure's task is refused");
  t.same(w1.held(), [id], 'without losing the current tenure');
  await w1.checkpoint(id, { ...stale, acquiredCounter: second!.leaseCounter });
  t.equal((await w1.snapshot())[0]?.checkpoint, '9');
});
