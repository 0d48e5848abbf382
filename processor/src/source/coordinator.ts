/**
 * Finds the stream's shards and runs one ShardTask per readable shard. A child shard (from a split
 * or a merge) starts only when every parent that still exists is finished, and takes over the part
 * of its parents' state that belongs to its hash-key range, so one card's payments are processed
 * in order and its summaries continue across resharding. A task that fails is logged and started
 * again from its checkpoint at the next refresh; one shard's failure never stops the others.
 */
import type { Shard } from '@aws-sdk/client-kinesis';
import { isReadable, listAllShards } from '../../../common/src/shard-reader.js';
import { sleep } from '../../../common/src/retry.js';
import type { ShardStatus } from '../http/status.js';
import { inheritEntries, hashKeyOf } from '../engine/inherit.js';
import { ShardTask, type ShardTaskDeps } from './shard-task.js';

export interface CoordinatorOptions extends ShardTaskDeps {
  refreshMs: number;
}

export class ShardCoordinator {
  #o: CoordinatorOptions;
  #tasks = new Map<string, { task: ShardTask; done: Promise<void> }>();
  #finished = new Set<string>();
  #known: Shard[] = [];
  #listed = false;
  #wake: (() => void) | undefined;

  constructor(options: CoordinatorOptions) {
    this.#o = options;
  }

  /** Open shards this process runs (and closed ones not yet finished); for /ready and metrics. */
  status(): ShardStatus[] {
    const running = [...this.#tasks.values()].map(({ task }) => task.status());
    // Open shards that no task runs yet are reported too, so /ready can say they are not owned.
    const waiting: ShardStatus[] = this.#known
      .filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber && !this.#tasks.has(s.ShardId!) && !this.#finished.has(s.ShardId!))
      .map((s) => ({ shardId: s.ShardId!, state: 'CREATED', watermarkMs: null, idle: false, millisBehindLatest: 0 }));
    return [...running, ...waiting];
  }

  /** True once the shard list has been read at least once. */
  get discovered(): boolean {
    return this.#listed;
  }

  /** Runs until `signal` aborts, then waits for every task to finish its batch and checkpoint. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#refresh(signal);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        void sleep(this.#o.refreshMs, signal).then(resolve);
      });
    }
    await Promise.all([...this.#tasks.values()].map((t) => t.done));
  }

  async #refresh(signal: AbortSignal): Promise<void> {
    const { log, store } = this.#o;
    let shards: Shard[];
    try {
      shards = await listAllShards(this.#o.kinesis, this.#o.stream);
    } catch (error) {
      log.warn({ err: error, stream: this.#o.stream }, 'cannot list shards (stream missing or Kinesis unreachable); retrying');
      return;
    }
    this.#known = shards;
    this.#listed = true;
    const known = new Set(shards.map((s) => s.ShardId!));
    for (const shard of shards) {
      const id = shard.ShardId!;
      if (signal.aborted || this.#tasks.has(id) || this.#finished.has(id)) continue;
      if (shard.SequenceNumberRange?.EndingSequenceNumber) {
        const { checkpoint } = await store.loadShard(id);
        if (checkpoint?.shardEnd) {
          this.#finished.add(id);
          continue;
        }
      }
      if (!isReadable(shard, known, this.#finished)) continue;
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (p): p is string => p !== undefined && known.has(p),
      );
      const inherited = parents.length > 0 ? await this.#inherit(shard, parents) : undefined;
      this.#startTask(id, signal, inherited, parents.length > 0);
    }
  }

  async #inherit(shard: Shard, parents: string[]): Promise<Array<[string, unknown]>> {
    const range = shard.HashKeyRange!;
    const lo = BigInt(range.StartingHashKey!);
    const hi = BigInt(range.EndingHashKey!);
    const loaded = await Promise.all(parents.map((p) => this.#o.store.loadShard(p)));
    return inheritEntries(
      loaded.map((l) => l.entries),
      (card) => {
        const h = hashKeyOf(card);
        return h >= lo && h <= hi;
      },
    );
  }

  #startTask(shardId: string, signal: AbortSignal, inherited: Array<[string, unknown]> | undefined, hasParents: boolean): void {
    const task = new ShardTask({ shardId, ...(inherited ? { inherited } : {}), hasParents }, this.#o);
    const done = task.run(signal).then(
      () => {
        if (task.finished) {
          this.#finished.add(shardId);
          this.#tasks.delete(shardId);
          this.#o.metrics.removeShard(shardId);
          this.#wake?.(); // its children may start now
        }
      },
      (error: unknown) => {
        this.#tasks.delete(shardId);
        this.#o.log.error({ err: error, shardId }, 'shard task failed; it restarts from its checkpoint at the next refresh');
      },
    );
    this.#tasks.set(shardId, { task, done });
  }
}
