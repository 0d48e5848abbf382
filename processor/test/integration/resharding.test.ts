/**
 * Resharding during a run: one shard split, then one child merged with its neighbour. Children are
 * read only after their parents finish and take over the parents' state for their hash range, so
 * no alert is lost, each card's alerts keep their order, and summaries continue.
 */
import t, { type Test } from 'tap';
import { fleet } from './fleet.js';
import { MergeShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { listAllShards } from '../../../common/src/shard-reader.js';
import { startStack } from './harness.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a split and a merge during a run: no alert lost, per-card order kept, summaries continue', async (t) => {
  await reshardDuringRun(t, false);
});

t.test('the same with two processors sharing the shards through leases', async (t) => {
  await reshardDuringRun(t, true);
});

async function reshardDuringRun(t: Test, leases: boolean) {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const { client, stream } = stack.kinesis;
  const f = leases ? await fleet(t, stack) : undefined;
  const processors = f ? [await f.start('w1'), await f.start('w2')] : [await stack.startProcessor()];
  const sim = await stack.startSimulator(['--count', '15000', '--rate', '600', '--disorder-ms', '300', '--seed', '9']);

  await sleep(8000);
  const [a, b] = await listAllShards(client, stream);
  const lo = BigInt(a!.HashKeyRange!.StartingHashKey!);
  const hi = BigInt(a!.HashKeyRange!.EndingHashKey!);
  await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: a!.ShardId!, NewStartingHashKey: String((lo + hi) / 2n) }));
  await stack.waitFor('the split', async () => (await listAllShards(client, stream)).length === 4, 10_000, 100);
  await sleep(8000);
  const upperChild = (await listAllShards(client, stream)).find((s) => s.ParentShardId === a!.ShardId && BigInt(s.HashKeyRange!.EndingHashKey!) === hi)!;
  await client.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: upperChild.ShardId!, AdjacentShardToMerge: b!.ShardId! }));
  await stack.waitFor('the merge', async () => (await listAllShards(client, stream)).length === 5, 10_000, 100);
  t.pass('two parents, a split into two, a merge into one: 5 shards');

  t.equal((await sim.exit).code, 0, 'simulator finished');
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);

  verifyAlerts(t, out, published, stack);
  verifySummaries(t, out, published, stack, cutoff);

  // Shards are read parents first, so the stream's order per card is the order of emission. A
  // repeat of an alert already seen (re-emitted after a take-over, same id) is what consumers drop.
  const lastWindowEnd = new Map<string, number>();
  const seen = new Set<string>();
  let outOfOrder = 0;
  for (const a of out.alerts) {
    if (seen.has(a.event_id)) continue;
    seen.add(a.event_id);
    const end = Date.parse(a.data.window_end);
    if (end < (lastWindowEnd.get(a.data.card_token) ?? 0)) outOfOrder++;
    lastWindowEnd.set(a.data.card_token, end);
  }
  t.equal(outOfOrder, 0, "each card's alerts come in window order across the split and the merge");
  for (const p of processors) p.child.kill('SIGTERM');
  for (const p of processors) t.equal((await p.exit).code, 0, 'exits 0');
  if (f) t.same(f.overlaps().found, [], 'no shard ever RUNNING on two workers at once');
}
