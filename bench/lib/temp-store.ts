import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateStore, type StateStore } from '../../processor/src/state/index.js';

/** A real classic-level store in a fresh temp dir; `dispose` closes it and removes the dir. */
export async function tempLevelStore(): Promise<{ store: StateStore; dir: string; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sca-bench-'));
  const store = await openStateStore({ kind: 'leveldb', dir });
  return {
    store,
    dir,
    dispose: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Bytes of every file under `dir` (LevelDB's tables, log and manifest, and the entries kept as files). */
export async function dirBytes(dir: string): Promise<number> {
  const { readdir, stat } = await import('node:fs/promises');
  let total = 0;
  for (const name of await readdir(dir, { recursive: true })) {
    const s = await stat(join(dir, name));
    if (s.isFile()) total += s.size;
  }
  return total;
}
