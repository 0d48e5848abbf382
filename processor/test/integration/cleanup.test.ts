/**
 * Issue 15: housekeeping after a split, with short retentions. The parent's lease row is deleted
 * once both children have checkpointed the retention past its end, and the worker deletes the
 * parent's local state once it has not owned it for the state retention; the parent is not given a
 * lease again (Kinesis still lists it), nothing still needed is deleted (the children's and the
 * other shard's leases and state), and no alert or summary is lost or repeated under another id.
 */
import t from 'tap';
import { join } from 'node:path';
import { SplitShardCommand } from '@aws-sdk/client-kinesis';
import { listAllShards } from '../../../common/src/shard-reader.js';
import { openStateStore } from '../../src/state/index.js';
import { startStack } from './harness.js';
import { fleet, sleep } from './fleet.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

t.test('a split shard: its lease row and its local state are deleted once the children have taken over; nothing still needed is', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const { client, stream } = stack.kinesis;
  const f = await fleet(t, stack);
  const p = await f.start('solo', { FINISHED_LEASE_RETENTION_MS: '4000', STATE_RETENTION_MS: '6000' });
  const sim = await stack.startSimulator(['--count', '9000', '--rate', '400', '--disorder-ms', '300', '--seed', '19']);
  await sleep(6_000);

  const [parent, other] = await listAllShards(client, stream);
  const lo = BigInt(parent!.HashKeyRange!.StartingHashKey!);
  const hi = BigInt(parent!.HashKeyRange!.EndingHashKey!);
  await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: parent!.ShardId!, NewStartingHashKey: String((lo + hi) / 2n) }));
  await stack.waitFor('the split', async () => (await listAllShards(client, stream)).length === 4, 10_000, 100);
  const children = (await listAllShards(client, stream)).filter((s) => s.ParentShardId === parent!.ShardId).map((s) => s.ShardId!);
  t.equal(children.length, 2);

  // A scan that fails (the table not created yet on a slow machine) says "not yet", not "failed".
  const parentLeased = async () => (await f.table.scan().catch(() => undefined))?.some((l) => l.leaseKey === parent!.ShardId) ?? true;
  await stack.waitFor("the parent's lease row deleted", async () => !(await parentLeased()), 60_000, 250);
  const leases = await f.table.scan();
  t.pass('the parent lease is gone');
  t.same(leases.map((l) => l.leaseKey).sort(), [other!.ShardId!, ...children].sort(), "the children's and the other shard's leases remain");
  t.ok(
    leases.filter((l) => children.includes(l.leaseKey)).every((l) => /^\d+$/.test(l.checkpoint)),
    'the children have taken over (checkpoints)',
  );
  await stack.waitFor("the parent's local state deleted", async () => /local state of a shard no longer owned deleted/.test(p.output.stdout), 60_000, 250);
  t.match(p.output.stdout, new RegExp(`"shardId":"${parent!.ShardId}"[^\\n]*local state of a shard no longer owned deleted`), 'for the parent');

  // Kinesis still lists the parent: several refreshes later it has no lease again.
  await sleep(4_000);
  t.notOk(
    (await f.table.scan()).some((l) => l.leaseKey === parent!.ShardId),
    'the parent is not given a lease again',
  );
  t.ok(
    (await listAllShards(client, stream)).some((s) => s.ShardId === parent!.ShardId),
    '(while Kinesis still lists it)',
  );

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack);
  verifySummaries(t, out, published, stack, cutoff);
  p.child.kill('SIGTERM');
  t.equal((await p.exit).code, 0);

  const store = await openStateStore({ kind: 'leveldb', dir: join(stack.dir, 'state-solo') });
  const stored = await store.listShards();
  await store.close();
  t.notOk(stored.includes(parent!.ShardId!), "the parent's state is not in the store");
  t.same(stored.filter((s) => s !== parent!.ShardId).sort(), [other!.ShardId!, ...children].sort(), "the children's and the other shard's state are");
});
