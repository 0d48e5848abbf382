/**
 * The state layer: a small key-value contract (types.ts) over LevelDB on disk or memory-level.
 * Key layout in keys.ts. Only main.ts opens a store; the engine and source receive it.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { StateStoreError } from './errors.js';
import { LevelStateStore } from './level-store.js';
import { stateStoreOptions, type StateStoreOptions } from './options.js';
import type { StateStore } from './types.js';

export type { ChangeSet, LoadedShard, ShardCheckpoint, ShardExport, StateStore, StateStoreKind, StoreStats } from './types.js';
export { StateStoreError, STATE_ERROR_CODES, type StateErrorCode } from './errors.js';
export { stateStoreOptions, type StateStoreOptions } from './options.js';
export { LevelStateStore, type BatchOp, type LevelLike, type LevelStateStoreOptions } from './level-store.js';

/**
 * Builds and opens a store. LevelDB: the directory is created if missing; a directory held by
 * another process fails with StateStoreError STATE_LOCKED naming it.
 */
export async function openStateStore(options: StateStoreOptions): Promise<StateStore> {
  const opts = stateStoreOptions.parse(options);
  let store: LevelStateStore;
  if (opts.kind === 'leveldb') {
    const dir = resolve(opts.dir);
    try {
      await mkdir(dir, { recursive: true });
    } catch (cause) {
      throw new StateStoreError('STATE_OPEN_FAILED', `state store ${dir} could not be created: ${(cause as Error).message}`, {
        dir,
        cause,
      });
    }
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    // The record of recent payments goes to files in a directory of its own inside LevelDB's (which
    // LevelDB leaves alone: it touches only the file names it makes).
    store = new LevelStateStore(db, { dir, approximateSize: (gte, lt) => db.approximateSize(gte, lt), filesDir: join(dir, 'entries') });
  } else {
    // Stored as bytes: a value of encoded JSON bytes is put as bytes, which a store of strings cannot take.
    store = new LevelStateStore(new MemoryLevel<string, string>({ keyEncoding: 'utf8', valueEncoding: 'utf8', storeEncoding: 'view' }), {
      keepsByteArrays: true,
    });
  }
  await store.open();
  return store;
}
