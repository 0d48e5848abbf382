import t from 'tap';
import { assertShardId, keys } from '../../src/state/keys.js';

const inRange = (key: string, r: { gte: string; lt: string }) => key >= r.gte && key < r.lt;

t.test('a shard range holds exactly that shard, entries range exactly its entries', async (t) => {
  const ids = ['a', 'a-1', 'a.1', 'a_1', 'a0', 'aa', 'shardId-000000000001', 'shardId-0000000000010'];
  for (const id of ids) {
    for (const other of ids) {
      for (const key of [keys.checkpoint(other), keys.entry(other, ''), keys.entry(other, 'x/y'), keys.entry(other, '\u{10ffff}')]) {
        t.equal(inRange(key, keys.shard(id)), id === other, `${key} in shard ${id}`);
        t.equal(inRange(key, keys.entries(id)), id === other && key !== keys.checkpoint(other), `${key} in entries ${id}`);
        t.ok(inRange(key, keys.allShards));
        t.ok(inRange(key, keys.everything));
      }
    }
    t.equal(keys.shardIdOf(keys.entry(id, 'k/z')), id);
    t.equal(keys.engineKeyOf(id, keys.entry(id, 'k/z')), 'k/z');
  }
  const card = keys.stolen('4111111111111111');
  t.notOk(inRange(card, keys.allShards), 'cards are outside every shard');
  t.ok(inRange(card, keys.allStolen));
  t.ok(inRange(card, keys.everything));
  t.equal(keys.cardOf(card), '4111111111111111');
});

t.test('shard ids with a separator or nothing are refused', async (t) => {
  for (const bad of ['', 'a/b', 'a b', 'x'.repeat(129), 'ü']) t.throws(() => assertShardId(bad), TypeError, JSON.stringify(bad));
  t.doesNotThrow(() => assertShardId('shardId-000000000000'));
});
