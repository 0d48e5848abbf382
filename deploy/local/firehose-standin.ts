/**
 * The local stand-in for the Firehose delivery stream: reads every shard of the Kinesis stream and
 * lands every record in the warehouse staging table, in buffered batches, exactly once.
 *
 * Exactly once comes from one rule: a batch's rows, its rejects and the shard positions that cover
 * them are written in ONE warehouse transaction. After a crash the stand-in resumes each shard
 * after its committed position, so a record is either in the table with its position, or in
 * neither. Each record becomes a row as in AWS (deploy/warehouse/rows.ts, shared with the Firehose
 * transformation Lambda): valid events go to the staging table; anything else (not UTF-8, not JSON,
 * a bad envelope or payload, a value the warehouse cannot hold) goes, raw and with its reason, to
 * the rejects table. Nothing is dropped.
 *
 * Shards follow Kinesis resharding: a child shard is read only after its parents are finished.
 */
import type { KinesisClient, _Record } from '@aws-sdk/client-kinesis';
import type pg from 'pg';
import type { Logger } from 'pino';
import { ShardReader, isReadable, listAllShards, type StartPosition } from '../../common/src/shard-reader.js';
import { backoffDelay, sleep } from '../../common/src/retry.js';
import { DELIVERY } from '../delivery-stream.js';
import { literal } from '../warehouse/schema.js';
import { EVENT_COLUMNS, REJECT_COLUMNS, toWarehouseRow } from '../warehouse/rows.js';
import type { CardTokenizer } from '../../common/src/card-token.js';

export interface StandinOptions {
  kinesis: KinesisClient;
  stream: string;
  /** Opens a warehouse connection; called again after a connection fails. */
  connect: () => Promise<pg.Client>;
  log: Logger;
  /** The card token key: every card number becomes its token before a row is written (rows.ts). */
  tokenizer: CardTokenizer;
  flushIntervalMs?: number;
  flushBytes?: number;
  shardRefreshMs?: number;
  /** Passed to every shard reader (tests shorten the pacing). */
  minCallIntervalMs?: number;
}

export interface StandinCounters {
  delivered: number;
  rejected: number;
  flushes: number;
  flushFailures: number;
}

interface Position {
  sequenceNumber: string | undefined;
  finished: boolean;
}

interface Buffer_ {
  rows: string[];
  rejects: string[];
  positions: Map<string, Position>;
  bytes: number;
}

const ROWS_PER_INSERT = 1_000;

const emptyBuffer = (): Buffer_ => ({ rows: [], rejects: [], positions: new Map(), bytes: 0 });

export class FirehoseStandin {
  readonly counters: StandinCounters = { delivered: 0, rejected: 0, flushes: 0, flushFailures: 0 };
  #o: Required<StandinOptions>;
  #buffer = emptyBuffer();
  #committed = new Map<string, Position>();
  /** Shards whose last record is in a buffer or committed: their children may start. */
  #ended = new Set<string>();
  #readers = new Map<string, Promise<void>>();
  #client: pg.Client | undefined;
  #flushing: Promise<void> | undefined;
  #controller = new AbortController();

  constructor(options: StandinOptions) {
    this.#o = {
      flushIntervalMs: DELIVERY.localBuffering.intervalSeconds * 1000,
      flushBytes: DELIVERY.localBuffering.sizeMiB * 1024 * 1024,
      shardRefreshMs: 10_000,
      minCallIntervalMs: 200,
      ...options,
    };
  }

  /** Runs until `signal` aborts; then stops reading and flushes what it holds. */
  async run(signal: AbortSignal): Promise<void> {
    const stop = () => this.#controller.abort();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    try {
      await this.#loadPositions();
      const ticker = this.#flushLoop();
      while (!this.#controller.signal.aborted) {
        await this.#startReadableShards();
        await sleep(this.#o.shardRefreshMs, this.#controller.signal);
      }
      await Promise.all(this.#readers.values());
      await ticker;
      await this.flush();
    } finally {
      signal.removeEventListener('abort', stop);
      await this.#client?.end().catch(() => undefined);
    }
  }

  async #warehouse(): Promise<pg.Client> {
    if (!this.#client) {
      const client = await this.#o.connect();
      client.on('error', () => {
        if (this.#client === client) this.#client = undefined;
      });
      this.#client = client;
    }
    return this.#client;
  }

  async #loadPositions(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const client = await this.#warehouse();
        const { rows } = await client.query<{ shard_id: string; sequence_number: string | null; finished: boolean }>(
          `SELECT shard_id, sequence_number, finished FROM delivery.shard_positions WHERE delivery_stream = ${literal(DELIVERY.name)}`,
        );
        for (const r of rows) {
          this.#committed.set(r.shard_id, { sequenceNumber: r.sequence_number ?? undefined, finished: r.finished });
          if (r.finished) this.#ended.add(r.shard_id);
        }
        return;
      } catch (error) {
        this.#client = undefined;
        const delayMs = backoffDelay(Math.min(attempt, 6));
        this.#o.log.warn({ err: error, delayMs }, 'warehouse not reachable yet; retrying');
        await sleep(delayMs, this.#controller.signal);
        if (this.#controller.signal.aborted) throw error;
      }
    }
  }

  async #startReadableShards(): Promise<void> {
    let shards;
    try {
      shards = await listAllShards(this.#o.kinesis, this.#o.stream);
    } catch (error) {
      this.#o.log.warn({ err: error, stream: this.#o.stream }, 'cannot list shards yet (stream missing or Kinesis unreachable); retrying');
      return;
    }
    const known = new Set(shards.map((s) => s.ShardId!));
    for (const shard of shards) {
      const id = shard.ShardId!;
      if (this.#readers.has(id) || this.#ended.has(id)) continue;
      if (!isReadable(shard, known, this.#ended)) continue;
      const committed = this.#committed.get(id);
      const start: StartPosition = committed?.sequenceNumber
        ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: committed.sequenceNumber }
        : { type: 'TRIM_HORIZON' };
      this.#o.log.info({ shardId: id, start: start.type }, 'reading shard');
      this.#readers.set(id, this.#readShard(id, start));
    }
  }

  async #readShard(shardId: string, start: StartPosition): Promise<void> {
    const signal = this.#controller.signal;
    const reader = new ShardReader(this.#o.kinesis, this.#o.stream, shardId, start, {
      signal,
      minCallIntervalMs: this.#o.minCallIntervalMs,
      onRetry: (info) => this.#o.log.warn({ shardId, reason: info.reason, delayMs: info.delayMs }, 'GetRecords retry'),
    });
    while (!signal.aborted) {
      const batch = await reader.next();
      for (const record of batch.records) this.#add(shardId, record);
      if (batch.records.length > 0 || batch.end) {
        this.#buffer.positions.set(shardId, {
          sequenceNumber: reader.lastSequenceNumber ?? this.#committed.get(shardId)?.sequenceNumber,
          finished: batch.end,
        });
      }
      if (batch.end) {
        this.#ended.add(shardId);
        this.#o.log.info({ shardId }, 'shard finished; its children may start');
        this.#startReadableShards().catch((error: unknown) =>
          this.#o.log.error({ err: error }, 'could not start the children of a finished shard; the next refresh retries'),
        );
        return;
      }
      // Backpressure: a full buffer holds the readers until it is in the warehouse.
      if (this.#buffer.bytes >= this.#o.flushBytes) await this.flush();
    }
  }

  #add(shardId: string, record: _Record): void {
    const { table, row } = toWarehouseRow(record.Data ?? new Uint8Array(), { shardId, sequenceNumber: record.SequenceNumber ?? '' }, this.#o.tokenizer);
    if (table === 'events') {
      this.#buffer.rows.push(`(${EVENT_COLUMNS.map((c) => literal(row[c])).join(',')})`);
      this.#buffer.bytes += row.event_json_data.length + 128;
    } else {
      this.#buffer.rejects.push(`(${REJECT_COLUMNS.map((c) => literal(row[c])).join(',')})`);
      this.#buffer.bytes += row.raw_data.length + 256;
    }
  }

  async #flushLoop(): Promise<void> {
    while (!this.#controller.signal.aborted) {
      await sleep(this.#o.flushIntervalMs, this.#controller.signal);
      await this.flush();
    }
  }

  /** Writes the buffer in one transaction; retried until it succeeds, so nothing buffered is lost. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flushOnce().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    const batch = this.#buffer;
    if (batch.positions.size === 0) return;
    this.#buffer = emptyBuffer();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#write(batch);
        break;
      } catch (error) {
        this.counters.flushFailures++;
        const delayMs = backoffDelay(Math.min(attempt, 6));
        this.#o.log.error({ err: error, rows: batch.rows.length, delayMs }, 'flush to warehouse failed; retrying the same batch');
        await sleep(delayMs);
      }
    }
    for (const [shardId, p] of batch.positions) this.#committed.set(shardId, p);
    this.counters.delivered += batch.rows.length;
    this.counters.rejected += batch.rejects.length;
    this.counters.flushes++;
  }

  async #write(batch: Buffer_): Promise<void> {
    const client = await this.#warehouse();
    const statements: string[] = [];
    for (let i = 0; i < batch.rows.length; i += ROWS_PER_INSERT) {
      statements.push(`INSERT INTO ${DELIVERY.table} (${EVENT_COLUMNS.join(', ')}) VALUES ${batch.rows.slice(i, i + ROWS_PER_INSERT).join(',')}`);
    }
    for (let i = 0; i < batch.rejects.length; i += ROWS_PER_INSERT) {
      statements.push(`INSERT INTO ${DELIVERY.rejectsTable} (${REJECT_COLUMNS.join(', ')}) VALUES ${batch.rejects.slice(i, i + ROWS_PER_INSERT).join(',')}`);
    }
    // DELETE + INSERT rather than ON CONFLICT: the same statements run on Redshift.
    const shardList = [...batch.positions.keys()].map(literal).join(',');
    statements.push(
      `DELETE FROM delivery.shard_positions WHERE delivery_stream = ${literal(DELIVERY.name)} AND shard_id IN (${shardList})`,
      `INSERT INTO delivery.shard_positions (delivery_stream, shard_id, sequence_number, finished) VALUES ${[...batch.positions]
        .map(([id, p]) => `(${literal(DELIVERY.name)},${literal(id)},${literal(p.sequenceNumber ?? null)},${literal(p.finished)})`)
        .join(',')}`,
    );
    try {
      await client.query('BEGIN');
      for (const s of statements) await client.query(s);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        this.#client = undefined;
      });
      throw error;
    }
  }
}
