/**
 * Restoring a shard from this worker's own store at start.
 */
import { ShardEngine, type CardDirectory, type EngineConfig } from '../engine/index.js';
import type { StateStore } from '../state/index.js';

/**
 * The engine as this worker last committed it, streamed from the store entry by entry (a busy
 * shard's state is hundreds of MB as parsed entries; the engine built from it is a fraction).
 */
export async function restoreLocalState(
  store: StateStore,
  shardId: string,
  engineConfig: Partial<EngineConfig>,
  cards: CardDirectory,
): Promise<{ engine: ShardEngine; entries: number }> {
  const restorer = ShardEngine.restorer(engineConfig, cards);
  let entries = 0;
  for await (const [key, value] of store.scanShard(shardId)) {
    restorer.add(key, value);
    entries++;
  }
  return { engine: restorer.finish(), entries };
}
