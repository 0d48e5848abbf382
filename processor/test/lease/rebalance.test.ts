import t from 'tap';
import type { Test } from 'tap';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LeaseManager } from '../../src/lease/manager.js';
import type { Lease } from '../../src/lease/types.js';
import { FAILOVER_MS, FakeClock, makeWorker, openShards, ownerCounts, round, spread, withDynamo } from './helpers.js';

async function fleet(client: DynamoDBClient, clock: FakeClock, ids: string[], shards: number) {
  const workers = ids.map((id) => makeWorker(client, 'leases', id, clock));
  await workers[0]!.ensureTable();
  await workers[0]!.syncShards(openShards(shards));
  return workers;
}

function ids(workers: readonly LeaseManager[]): string[] {
  return workers.map((w) => w.workerId);
}

/** Runs rounds (with a little time passing, never enough to expire anything) until the split is even. */
async function settle(t: Test, workers: LeaseManager[], clock: FakeClock, label: string, maxRounds = 12) {
  let leases: Lease[] = [];
  for (let r = 0; r < maxRounds; r++) {
    clock.advance(1_000);
    leases = await round(t, workers, `${label} round ${r}`);
    const counts = ownerCounts(leases, ids(workers));
    if (leases.every((l) => l.leaseOwner !== undefined) && spread(counts) <= 1) return { rounds: r + 1, leases, counts };
  }
  t.fail(`${label}: not even after ${maxRounds} rounds: ${JSON.stringify([...ownerCounts(leases, ids(workers))])}`);
  return { rounds: maxRounds, leases, counts: ownerCounts(leases, ids(workers)) };
}

for (const shards of [4, 8]) {
  t.test(`3 workers on ${shards} shards: every lease owned once, counts within one`, async (t) => {
    const { client } = await withDynamo(t);
    const clock = new FakeClock();
    const workers = await fleet(client, clock, ['w1', 'w2', 'w3'], shards);
    const { counts, leases } = await settle(t, workers, clock, `${shards} shards`);
    t.equal(leases.length, shards);
    t.ok(spread(counts) <= 1, `counts ${[...counts.values()]}`);
    for (const w of workers) {
      t.same(
        w.held(),
        leases.filter((l) => l.leaseOwner === w.workerId).map((l) => l.leaseKey),
        `${w.workerId} holds what the table says`,
      );
      for (const id of w.held()) t.ok(w.isSafe(id), `${w.workerId} may process ${id}`);
    }
    const total = workers.reduce((n, w) => n + w.stats().leasesHeld, 0);
    t.equal(total, shards);

    // Stable: more rounds move nothing.
    const before = leases.map((l) => l.leaseOwner);
    for (let r = 0; r < 3; r++) {
      clock.advance(1_000);
      const again = await round(t, workers, `stable round ${r}`);
      t.same(
        again.map((l) => l.leaseOwner),
        before,
        `round ${r}: nothing moves once even`,
      );
    }
  });
}

t.test('growing from 4 to 8 shards spreads the new leases', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const workers = await fleet(client, clock, ['w1', 'w2', 'w3'], 4);
  await settle(t, workers, clock, '4 shards');
  await workers[1]!.syncShards(openShards(8));
  const { leases, counts } = await settle(t, workers, clock, '8 shards');
  t.equal(leases.length, 8);
  t.same([...counts.values()].sort(), [2, 3, 3]);
});

t.test('a 4th worker steals at most one lease per round until the split is even', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const workers = await fleet(client, clock, ['w1', 'w2', 'w3'], 8);
  await settle(t, workers, clock, 'three workers');
  const lostBefore = workers.reduce((n, w) => n + w.stats().lost, 0);
  const newcomer = makeWorker(client, 'leases', 'w4', clock);
  const stolen: string[] = [];
  newcomer.on('stolen', (lease, from) => {
    t.not(from, 'w4');
    stolen.push(lease.leaseKey);
  });
  workers.push(newcomer);
  for (let r = 0; r < 10; r++) {
    const before = newcomer.stats().steals;
    clock.advance(1_000);
    const leases = await round(t, workers, `with w4 round ${r}`);
    t.ok(newcomer.stats().steals - before <= 1, `round ${r}: at most one steal`);
    const counts = ownerCounts(leases, ids(workers));
    if (spread(counts) <= 1) break;
  }
  const counts = ownerCounts(await newcomer.snapshot(), ids(workers));
  t.same([...counts.values()], [2, 2, 2, 2], 'four workers on eight shards hold two each');
  t.equal(newcomer.held().length, 2);
  t.equal(stolen.length, 2, 'the newcomer got both by stealing (nothing was free)');
  t.same(newcomer.held(), [...stolen].sort());
  const victims = workers.slice(0, 3).reduce((n, w) => n + w.stats().lost, 0) - lostBefore;
  t.equal(victims, 2, 'each stolen lease was noticed as lost by its previous owner');
});

t.test('a worker that stops renewing loses its leases to the others after failoverTimeMs only', async (t) => {
  const { client } = await withDynamo(t);
  const clock = new FakeClock();
  const workers = await fleet(client, clock, ['w1', 'w2', 'w3', 'w4'], 8);
  await settle(t, workers, clock, 'four workers');
  const [dead, ...alive] = workers as [LeaseManager, ...LeaseManager[]];
  const orphaned = dead.held();
  t.equal(orphaned.length, 2);

  // The survivors keep renewing, and time passes in steps; nobody may take the dead worker's
  // leases until its counter has stood still for failoverTimeMs in their eyes.
  const deadAt = clock.ms;
  let takenAt: number | undefined;
  for (let step = 0; step < 20 && takenAt === undefined; step++) {
    clock.advance(1_000);
    const leases = await round(t, alive, `failover step ${step}`);
    const stillDead = leases.filter((l) => orphaned.includes(l.leaseKey) && l.leaseOwner === dead.workerId);
    if (stillDead.length < orphaned.length) takenAt = clock.ms;
  }
  t.ok(takenAt !== undefined, 'the orphaned leases were taken');
  t.ok(takenAt! - deadAt >= FAILOVER_MS, `taken ${takenAt! - deadAt} ms after the last renewal, not before ${FAILOVER_MS}`);
  t.ok(takenAt! - deadAt <= FAILOVER_MS + 2_000, 'and soon after failover');
  const { counts, leases } = await settle(t, alive, clock, 'three survivors');
  t.notOk(
    leases.some((l) => l.leaseOwner === dead.workerId),
    'nothing left with the dead worker',
  );
  t.same([...counts.values()].sort(), [2, 3, 3]);
  for (const id of orphaned) t.notOk(dead.isSafe(id), 'the dead worker would not process them either');
});
