/** Issue 4: a processor whose state directory is deleted while stopped rebuilds its shards' state by replay and gives the same summaries. */
import t from 'tap';
import { join } from 'node:path';
import { startStack } from './harness.js';
import { fleet, sleep } from './fleet.js';
import { untilFinalSummaries, verifyAlerts, verifySummaries } from './verify.js';

t.test('a processor whose state directory is deleted while stopped rebuilds it and gives the same summaries', async (t) => {
  const stack = await startStack(t, { cards: 1000, shards: 2 });
  const f = await fleet(t, stack);
  const p = await f.start('solo');
  const sim = await stack.startSimulator(['--count', '24000', '--rate', '800', '--seed', '8']);
  await sleep(12_000);
  p.child.kill('SIGTERM');
  t.equal((await p.exit).code, 0, 'stopped with SIGTERM');
  const { rm } = await import('node:fs/promises');
  await rm(join(stack.dir, 'state-solo'), { recursive: true, force: true });
  const again = await f.start('solo');
  await stack.waitFor('the rebuild', () => /shard state rebuilt/.test(again.output.stdout), 60_000, 200);
  const rebuilt = again.output.stdout
    .split('\n')
    .filter((l) => l.includes('shard state rebuilt'))
    .map((l) => JSON.parse(l) as { replayed: number; seconds: number });
  t.comment(`rebuilt ${rebuilt.length} shards: ${rebuilt.map((r) => `${r.replayed} records in ${r.seconds} s`).join(', ')}`);
  t.ok(
    rebuilt.every((r) => r.replayed > 0),
    'each shard replayed its records',
  );

  t.equal((await sim.exit).code, 0);
  const published = await stack.published();
  const { out, cutoff } = await untilFinalSummaries(stack, published);
  verifyAlerts(t, out, published, stack);
  verifySummaries(t, out, published, stack, cutoff);
  again.child.kill('SIGTERM');
  t.equal((await again.exit).code, 0);
});
