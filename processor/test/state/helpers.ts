import type { MemoryLevel } from 'memory-level';
import type { LevelLike } from '../../src/state/index.js';
import type { BatchOp } from '../../src/state/level-store.js';

/** A LevelLike that forwards to `db` except for `batch`. */
export function withBatch(db: MemoryLevel<string, string>, batch: (ops: BatchOp[]) => Promise<void>): LevelLike {
  return {
    get status() {
      return db.status;
    },
    open: () => db.open(),
    close: () => db.close(),
    get: (key) => db.get(key),
    keys: (range) => db.keys(range),
    iterator: (range) => db.iterator(range),
    batch,
  };
}

/** MemoryLevel<string, string>'s types know no per-op value encoding (a put of encoded bytes); the database itself does. */
export const asLevelOps = (ops: BatchOp[]) => ops as never;
