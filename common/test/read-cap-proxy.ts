/**
 * A read-capping HTTP/1.1 proxy for tests and benches: it puts Kinesis' per-shard read limits in
 * front of kinesalite, which has none. Per shard, shared by every reader of that shard (the
 * processor and the Firehose stand-in polling one shard share one budget, as on AWS):
 * - at most `callsPerSecond` GetRecords calls (5 on AWS) in any sliding window of one second;
 * - at most `bytesPerSecond` of returned records (2 MiB/s on AWS), accounted the way AWS documents
 *   it: one call may return up to 10 MiB, and after a call returns N bytes the shard's next calls
 *   are throttled for N / 2 MiB seconds. That is a token bucket refilled at `bytesPerSecond` that a
 *   call may enter only when it is not in debt, and that the call's answer may drive into debt.
 * A refused call gets what Kinesis answers: HTTP 400 with `{"__type":
 * "ProvisionedThroughputExceededException", "message": "Rate exceeded for shard ..."}`, which the
 * SDK v3 (AWS JSON 1.1) turns into an error named ProvisionedThroughputExceededException from
 * `__type` alone. Every other call, and every answer, passes through untouched.
 *
 * GetRecords names no shard, only a ShardIterator, and kinesalite's iterators are opaque. So the
 * proxy learns them: a GetShardIterator answer ties its iterator to the shard the request named, and
 * a GetRecords answer's NextShardIterator inherits the shard of the iterator it was read with. A
 * GetRecords call with an iterator the proxy has not seen (one obtained around the proxy, or before
 * it started) is forwarded uncapped and counted in `unmappedCalls`.
 */
import { Agent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { serveOnLoopback, type LocalEmulator } from '../../deploy/local/loopback.js';
import { IDLE_SOCKET_TIMEOUT_MS } from '../src/kinesis.js';
import { errorAnswer, forwardRequest, operationOf, parseJson, reply, type Answer } from './chaos-proxy.js';

export const MiB = 1024 * 1024;

export interface ReadCaps {
  /** GetRecords calls admitted per shard in any sliding one-second window (AWS: 5). */
  callsPerSecond: number;
  /** Rate at which a shard's byte budget refills, in record bytes per second (AWS: 2 MiB). */
  bytesPerSecond: number;
  /**
   * Credit an idle shard may save up, in bytes. 0 (the default) is what AWS documents: a call that
   * returns 10 MiB blocks the shard for 5 s whatever the shard did before. Infinity caps are allowed
   * (`Infinity` bytesPerSecond or callsPerSecond turns that cap off).
   */
  burstBytes: number;
}

export const KINESIS_READ_CAPS: Readonly<ReadCaps> = Object.freeze({ callsPerSecond: 5, bytesPerSecond: 2 * MiB, burstBytes: 0 });

/** One second: the window of the calls cap. */
const WINDOW_MS = 1_000;
/** Kinesalite's iterators expire 5 minutes after they are made; the map forgets them then. */
const ITERATOR_TTL_MS = 5 * 60_000;

export type ThrottleReason = 'calls' | 'bytes';

/**
 * One shard's read budget: a pure object on an injected clock (milliseconds), shared by the proxy
 * and by its unit tests. `admit` decides a call when it arrives; `charge` bills the bytes its
 * answer returned as of the moment the call was admitted, so the reader's round trip does not add
 * to its debt. A call is admitted on the budget it sees: calls admitted together may all put the
 * shard in debt, as overlapping calls can on AWS.
 *
 * The byte bucket is kept as the time its debt is repaid (`#repaidAt`): the credit at `t` is
 * min(burstBytes, bytesPerSecond × (t − #repaidAt)), and a call is admitted from #repaidAt on. A
 * call admitted at T that returns N bytes moves it to max(#repaidAt, T − burst time) + N / rate.
 */
export class ShardReadBudget {
  #caps: () => ReadCaps;
  /** Admission times of the calls in the current window, oldest first. */
  #calls: number[] = [];
  #repaidAt: number;

  constructor(caps: () => ReadCaps, now: number) {
    this.#caps = caps;
    const { burstBytes, bytesPerSecond } = caps();
    // A new shard starts with its full credit.
    this.#repaidAt = now - (1_000 * burstBytes) / bytesPerSecond;
  }

  /** Admits a call at `now` (and counts it in the window), or says which cap refuses it. */
  admit(now: number): ThrottleReason | undefined {
    const { callsPerSecond, bytesPerSecond } = this.#caps();
    while (this.#calls.length > 0 && this.#calls[0]! <= now - WINDOW_MS) this.#calls.shift();
    if (this.#calls.length >= callsPerSecond) return 'calls';
    if (bytesPerSecond !== Infinity && now < this.#repaidAt) return 'bytes';
    this.#calls.push(now);
    return undefined;
  }

  /** Bills `bytes` returned by the call admitted at `admittedAt`. */
  charge(bytes: number, admittedAt: number): void {
    const { burstBytes, bytesPerSecond } = this.#caps();
    if (bytesPerSecond === Infinity) return;
    const creditFrom = admittedAt - (1_000 * burstBytes) / bytesPerSecond;
    this.#repaidAt = Math.max(this.#repaidAt, creditFrom) + (1_000 * bytes) / bytesPerSecond;
  }

  /** When the shard's byte debt is repaid (in the past when it has credit). */
  repaidAt(): number {
    return this.#repaidAt;
  }
}

export interface ShardReadCounters {
  stream: string;
  shardId: string;
  /** GetRecords calls admitted and forwarded (whatever kinesalite answered). */
  calls: number;
  /** Records returned, and their bytes as Kinesis counts a record: data blob + partition key. */
  records: number;
  bytes: number;
  /** GetRecords calls answered ProvisionedThroughputExceededException, and by which cap. */
  throttles: number;
  throttledByCalls: number;
  throttledByBytes: number;
}

export interface ReadCapProxyOptions extends Partial<ReadCaps> {
  /** The emulator's endpoint, e.g. kinesalite's `http://127.0.0.1:4567`. */
  target: string;
  /** Loopback port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Account id in the throttle message. */
  accountId?: string;
  /** Clock in milliseconds; Date.now by default. */
  now?: () => number;
}

interface ShardState {
  budget: ShardReadBudget;
  counters: ShardReadCounters;
}

interface IteratorEntry {
  key: string;
  seenAt: number;
}

/**
 * Usage: `const proxy = new ReadCapProxy({ target: kinesis.endpoint }); const url = await
 * proxy.start();` then build the readers' clients with `endpoint: url`; `await proxy.stop()`.
 */
export class ReadCapProxy {
  #target: URL;
  #port: number;
  #accountId: string;
  #now: () => number;
  #caps: ReadCaps;
  #agent: Agent | undefined;
  #listening: LocalEmulator | undefined;
  /** Keyed `stream/shardId`. */
  #shards = new Map<string, ShardState>();
  /** Iterator -> shard key, in the order they were seen (so the oldest are forgotten first). */
  #iterators = new Map<string, IteratorEntry>();
  #unmappedCalls = 0;

  constructor(options: ReadCapProxyOptions) {
    this.#target = new URL(options.target);
    this.#port = options.port ?? 0;
    this.#accountId = options.accountId ?? '000000000000';
    this.#now = options.now ?? Date.now;
    this.#caps = { ...KINESIS_READ_CAPS };
    this.setCaps(options);
  }

  /** Listens on 127.0.0.1 and returns the URL to give the SDK clients instead of the target's. */
  async start(): Promise<string> {
    if (this.#listening) return this.#listening.endpoint;
    // Idle sockets must expire before the emulator closes them (see IDLE_SOCKET_TIMEOUT_MS).
    this.#agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_SOCKET_TIMEOUT_MS });
    const server = createServer((req, res) => {
      res.on('error', () => {});
      this.#handle(req, res).catch(() => res.destroy());
    });
    server.on('clientError', (_error, socket) => socket.destroy());
    this.#listening = await serveOnLoopback(server, this.#port);
    return this.#listening.endpoint;
  }

  /** Closes every connection (calls in flight fail) and the port. */
  async stop(): Promise<void> {
    const listening = this.#listening;
    this.#listening = undefined;
    this.#agent?.destroy();
    this.#agent = undefined;
    await listening?.close();
  }

  get endpoint(): string {
    if (!this.#listening) throw new Error('the read-cap proxy is not started');
    return this.#listening.endpoint;
  }

  caps(): ReadCaps {
    return { ...this.#caps };
  }

  /** Changes caps at once for every shard (debts and windows already counted stay). */
  setCaps(caps: Partial<ReadCaps>): void {
    const next = { ...this.#caps };
    for (const name of ['callsPerSecond', 'bytesPerSecond', 'burstBytes'] as const) {
      const value = caps[name];
      if (value === undefined) continue;
      // callsPerSecond 0 refuses every GetRecords (a shard throttled for good); a byte rate of 0 has no meaning.
      if (!(name === 'bytesPerSecond' ? value > 0 : value >= 0))
        throw new Error(`read cap ${name} must be a number ${name === 'bytesPerSecond' ? '>' : '>='} 0 (or Infinity), got ${value}`);
      next[name] = value;
    }
    this.#caps = next;
  }

  /** A copy of every shard's counters since the start (or the last resetStats()). */
  stats(): ShardReadCounters[] {
    return [...this.#shards.values()].map((s) => ({ ...s.counters }));
  }

  /** One shard's counters (all zero if it was never read). */
  shardStats(stream: string, shardId: string): ShardReadCounters {
    const s = this.#shards.get(`${stream}/${shardId}`);
    return s ? { ...s.counters } : emptyCounters(stream, shardId);
  }

  /** GetRecords calls forwarded uncapped because their iterator was never seen by this proxy. */
  get unmappedCalls(): number {
    return this.#unmappedCalls;
  }

  /** Zeroes the counters; budgets (debts, windows) and known iterators stay. */
  resetStats(): void {
    for (const s of this.#shards.values()) s.counters = emptyCounters(s.counters.stream, s.counters.shardId);
    this.#unmappedCalls = 0;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const op = operationOf(req.headers['x-amz-target']);
    if (op === 'GetShardIterator') return reply(res, await this.#getShardIterator(req, raw));
    if (op === 'GetRecords') return reply(res, await this.#getRecords(req, raw));
    return reply(res, await this.#forward(req, raw));
  }

  #forward(req: IncomingMessage, body: Buffer): Promise<Answer> {
    if (!this.#agent) throw new Error('the read-cap proxy is stopped');
    return forwardRequest(this.#target, this.#agent, req, body);
  }

  async #getShardIterator(req: IncomingMessage, raw: Buffer): Promise<Answer> {
    const answer = await this.#forward(req, raw);
    const request = parseJson(raw) as { StreamName?: string; StreamARN?: string; ShardId?: string } | undefined;
    const stream = request?.StreamName ?? streamOfArn(request?.StreamARN);
    if (answer.status === 200 && stream && request?.ShardId) {
      const iterator = (parseJson(answer.body) as { ShardIterator?: string } | undefined)?.ShardIterator;
      if (iterator) this.#learn(iterator, `${stream}/${canonicalShardId(request.ShardId)}`);
    }
    return answer;
  }

  async #getRecords(req: IncomingMessage, raw: Buffer): Promise<Answer> {
    const iterator = (parseJson(raw) as { ShardIterator?: string } | undefined)?.ShardIterator;
    const key = iterator === undefined ? undefined : this.#iterators.get(iterator)?.key;
    if (key === undefined) {
      this.#unmappedCalls++;
      return this.#forward(req, raw);
    }
    const shard = this.#shard(key);
    const admittedAt = this.#now();
    const refused = shard.budget.admit(admittedAt);
    if (refused) {
      shard.counters.throttles++;
      if (refused === 'calls') shard.counters.throttledByCalls++;
      else shard.counters.throttledByBytes++;
      const { stream, shardId } = shard.counters;
      return errorAnswer(
        req,
        400,
        'ProvisionedThroughputExceededException',
        `Rate exceeded for shard ${shardId} in stream ${stream} under account ${this.#accountId}.`,
      );
    }
    shard.counters.calls++;
    const answer = await this.#forward(req, raw);
    if (answer.status !== 200) return answer;
    const out = parseJson(answer.body) as { Records?: Array<{ Data?: string; PartitionKey?: string }>; NextShardIterator?: string } | undefined;
    let bytes = 0;
    for (const record of out?.Records ?? []) bytes += recordBytes(record);
    shard.budget.charge(bytes, admittedAt);
    shard.counters.records += out?.Records?.length ?? 0;
    shard.counters.bytes += bytes;
    if (out?.NextShardIterator) this.#learn(out.NextShardIterator, key);
    return answer;
  }

  #shard(key: string): ShardState {
    let s = this.#shards.get(key);
    if (!s) {
      const slash = key.lastIndexOf('/');
      s = { budget: new ShardReadBudget(() => this.#caps, this.#now()), counters: emptyCounters(key.slice(0, slash), key.slice(slash + 1)) };
      this.#shards.set(key, s);
    }
    return s;
  }

  #learn(iterator: string, key: string): void {
    const now = this.#now();
    this.#iterators.delete(iterator);
    this.#iterators.set(iterator, { key, seenAt: now });
    // Oldest first: forget the expired ones so a long bench does not grow the map without end.
    for (const [old, entry] of this.#iterators) {
      if (now - entry.seenAt <= ITERATOR_TTL_MS) break;
      this.#iterators.delete(old);
    }
  }
}

function emptyCounters(stream: string, shardId: string): ShardReadCounters {
  return { stream, shardId, calls: 0, records: 0, bytes: 0, throttles: 0, throttledByCalls: 0, throttledByBytes: 0 };
}

/** A record's size as Kinesis counts it against its limits: data blob (base64 in JSON) + partition key. */
export function recordBytes(record: { Data?: string; PartitionKey?: string }): number {
  return (record.Data ? Buffer.byteLength(record.Data, 'base64') : 0) + (record.PartitionKey ? Buffer.byteLength(record.PartitionKey, 'utf8') : 0);
}

/** 'arn:aws:kinesis:us-east-1:000000000000:stream/payments' -> 'payments'. */
function streamOfArn(arn: string | undefined): string | undefined {
  const at = arn?.indexOf(':stream/') ?? -1;
  return at >= 0 ? arn!.slice(at + ':stream/'.length) : undefined;
}

/** Kinesis accepts '1', 'shardId-1' and 'shardId-000000000001' for the same shard. */
function canonicalShardId(shardId: string): string {
  const digits = /^(?:shardId-)?(\d+)$/.exec(shardId)?.[1];
  return digits === undefined ? shardId : `shardId-${digits.padStart(12, '0')}`;
}
