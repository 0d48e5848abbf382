/**
 * Engine entries kept as files beside LevelDB instead of in it: the parts of the record of recent
 * payments (engine/recent.ts). At a full shard that is about 1 MB of text per 10 000 payments,
 * written once, never changed, and deleted whole by time. In LevelDB each of those bytes went to
 * its log, then to a table, then through compactions, which cost the hot path more than recording
 * the payments did (bench "card-status"). A file costs one write.
 *
 * Layout: `<dir>/s-<shardId>/<engine key>`, holding the entry's JSON text as committed (so a file
 * is read back exactly like a LevelDB value). Consistency with the checkpoint that LevelDB holds
 * (StateStore.commitShard), which a file can only approach, never join in one batch:
 * - A put is written before the LevelDB batch, under a temporary name then renamed, so a file is
 *   whole or absent. A crash between the two leaves files that the checkpoint does not cover:
 *   read back at restore, their payments are then replayed and recorded a second time, and the
 *   record reads each payment id once (RecentPayments.find).
 * - A del is removed after the batch. A crash between leaves a file the state no longer names:
 *   read back at restore, it is deleted again by the next purge of its bucket.
 * - An export (a snapshot being written) reads the files it listed when it started; removals wait
 *   until every export of the shard is done, so none of those disappears under it.
 * - Files of a shard without a checkpoint are left from a crash before its first batch (or after
 *   the batch of deleteShard): no state. A scan removes them and an export skips them, so they
 *   never make a shard look stored, which would restore it from them instead of its parents.
 */
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { StateStoreError } from './errors.js';

/** The engine keys kept as files: `recent/<bucket start>/<part>`, 13 digits each (engine/recent.ts). */
export const FILE_KEY = /^recent\/\d{13}\/\d{13}$/;
export const isFileKey = (key: string): boolean => FILE_KEY.test(key);

const TEMPORARY = '.tmp';

export class EntryFiles {
  readonly #dir: string;
  /** Shard → exports under way; while any is, removals are kept in `#waiting`. */
  readonly #exports = new Map<string, number>();
  readonly #waiting = new Map<string, string[]>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  #shardDir(shardId: string): string {
    // Prefixed: a shard id may be '.' or '..' (keys.ts allows dots), never a path segment of its own.
    return join(this.#dir, `s-${shardId}`);
  }

  #path(shardId: string, key: string): string {
    return join(this.#shardDir(shardId), ...key.split('/'));
  }

  /** Writes each entry whole (temporary name, then rename). Values: JSON text, as bytes or a string. */
  async write(shardId: string, entries: ReadonlyArray<readonly [string, Uint8Array | string]>): Promise<void> {
    for (const [key, value] of entries) {
      const path = this.#path(shardId, key);
      await this.#fs(`write ${key} of ${shardId}`, async () => {
        // A bucket's directory is made by its first part only: a mkdir at every commit queued
        // behind LevelDB's work in libuv's thread pool and cost ~4 ms a commit (bench "card-status").
        await writeFile(path + TEMPORARY, value).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path + TEMPORARY, value);
        });
        await rename(path + TEMPORARY, path);
      });
    }
  }

  /** Removes the entries `keys` (missing ones are fine), now or when the shard's exports are done. */
  async remove(shardId: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const paths = keys.map((key) => this.#path(shardId, key));
    if (this.#exports.has(shardId)) {
      this.#waiting.set(shardId, [...(this.#waiting.get(shardId) ?? []), ...paths]);
      return;
    }
    await this.#removePaths(shardId, paths);
  }

  async #removePaths(shardId: string, paths: readonly string[]): Promise<void> {
    const parents = new Set<string>();
    await this.#fs(`remove entries of ${shardId}`, async () => {
      for (const path of paths) {
        await unlink(path).catch(ignore('ENOENT'));
        parents.add(dirname(path));
      }
      // A bucket's directory goes with its last part (its parts are deleted together).
      for (const parent of parents) await rmdir(parent).catch(ignore('ENOENT', 'ENOTEMPTY', 'EEXIST'));
    });
  }

  /** Removes every file of the shard. */
  async removeShard(shardId: string): Promise<void> {
    this.#waiting.delete(shardId);
    await this.#fs(`remove the entries of ${shardId}`, () => rm(this.#shardDir(shardId), { recursive: true, force: true }));
  }

  /**
   * The shard's entry keys, sorted (code unit order, which is byte order for these ASCII keys).
   * `clearTemporary`: also delete the temporary files of writes that never finished, for a caller
   * that knows no commit of the shard is under way (a restore); an export runs beside commits,
   * whose writes in progress it must not touch.
   */
  async keys(shardId: string, clearTemporary = false): Promise<string[]> {
    const root = this.#shardDir(shardId);
    const found: string[] = [];
    await this.#fs(`list the entries of ${shardId}`, async () => {
      for (const name of await namesUnder(root)) {
        const key = name.split(sep).join('/');
        // A temporary file is a write not finished: its commit has not happened (or never will).
        if (key.endsWith(TEMPORARY)) {
          if (clearTemporary) await unlink(join(root, name)).catch(ignore('ENOENT'));
        } else if (isFileKey(key)) found.push(key);
      }
    });
    return found.sort();
  }

  /** The JSON text of one entry. */
  async read(shardId: string, key: string): Promise<string> {
    return this.#fs(`read ${key} of ${shardId}`, () => readFile(this.#path(shardId, key), 'utf8'));
  }

  /** Files and bytes of every shard. */
  async size(): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    await this.#fs('size the entry files', async () => {
      for (const name of await namesUnder(this.#dir)) {
        if (!isFileKey(name.split(sep).slice(1).join('/'))) continue;
        const s = await stat(join(this.#dir, name)).catch(() => undefined);
        if (s?.isFile()) {
          files++;
          bytes += s.size;
        }
      }
    });
    return { files, bytes };
  }

  /** Marks an export of the shard under way until the returned function is called. */
  beginExport(shardId: string): () => Promise<void> {
    this.#exports.set(shardId, (this.#exports.get(shardId) ?? 0) + 1);
    let ended = false;
    return async () => {
      if (ended) return;
      ended = true;
      const left = (this.#exports.get(shardId) as number) - 1;
      if (left > 0) {
        this.#exports.set(shardId, left);
        return;
      }
      this.#exports.delete(shardId);
      const paths = this.#waiting.get(shardId) ?? [];
      this.#waiting.delete(shardId);
      await this.#removePaths(shardId, paths);
    };
  }

  async #fs<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (cause) {
      throw new StateStoreError('STATE_FILES_FAILED', `state files ${this.#dir}: could not ${what}: ${(cause as Error).message}`, {
        dir: this.#dir,
        cause,
      });
    }
  }
}

/** Every path under `dir`, relative to it; none when it does not exist. */
async function namesUnder(dir: string): Promise<string[]> {
  try {
    return await readdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** A catch handler that swallows the listed error codes and rethrows the rest. */
function ignore(...codes: string[]): (error: unknown) => void {
  return (error) => {
    if (!codes.includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  };
}
