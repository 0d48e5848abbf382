import t from 'tap';
import type { Shard } from '@aws-sdk/client-kinesis';
import { existingParents, isReadable, parentShardIds, parentsDone, type ParentState } from '../src/shard-lineage.js';
import { isReadable as isReadableFromReader } from '../src/shard-reader.js';

const shard = (id: string, parent?: string, adjacent?: string): Shard => ({
  ShardId: id,
  ...(parent ? { ParentShardId: parent } : {}),
  ...(adjacent ? { AdjacentParentShardId: adjacent } : {}),
  HashKeyRange: undefined,
  SequenceNumberRange: undefined,
});

t.test('a child is readable only after every known parent is finished', async (t) => {
  const child: Shard = {
    ShardId: 'c',
    ParentShardId: 'p1',
    AdjacentParentShardId: 'p2',
    HashKeyRange: undefined,
    SequenceNumberRange: undefined,
  };
  t.notOk(isReadable(child, new Set(['p1', 'p2', 'c']), new Set(['p1'])));
  t.ok(isReadable(child, new Set(['p1', 'p2', 'c']), new Set(['p1', 'p2'])));
  t.ok(isReadable(child, new Set(['p1', 'c']), new Set(['p1'])), 'a parent past retention is not waited for');
});

t.test('the parent rule: only an unfinished parent holds a child back', async (t) => {
  const states = (m: Record<string, ParentState>) => (p: string) => m[p]!;
  t.ok(parentsDone([], states({})), 'a root shard');
  t.ok(parentsDone(['a'], states({ a: 'finished' })), 'a split: its parent finished');
  t.ok(parentsDone(['a'], states({ a: 'gone' })), 'a split: its parent gone');
  t.notOk(parentsDone(['a'], states({ a: 'unfinished' })), 'a split: its parent still being read');
  t.ok(parentsDone(['a', 'b'], states({ a: 'finished', b: 'gone' })), 'a merge: one finished, one gone');
  t.notOk(parentsDone(['a', 'b'], states({ a: 'finished', b: 'unfinished' })), 'a merge: one still being read');
  t.notOk(parentsDone(['a', 'b'], states({ a: 'unfinished', b: 'gone' })), 'a merge: the other still being read');
});

t.test('parents named and parents still listed', async (t) => {
  t.same(parentShardIds(shard('r')), []);
  t.same(parentShardIds(shard('c', 'a')), ['a']);
  t.same(parentShardIds(shard('m', 'a', 'b')), ['a', 'b']);
  t.same(existingParents(shard('m', 'a', 'b'), new Set(['b', 'm'])), ['b'], 'a parent no longer listed has no state to take over');
  t.equal(isReadableFromReader, isReadable, 'shard-reader.ts hands out the same rule');
});
