/**
 * A pass-through HTTP proxy in front of the Kinesis emulator, serving one client process, that
 * follows that client's reading of one stream shard by shard (requests and responses pass
 * unchanged; it runs in the bench process, so its own CPU is never the client's):
 *
 * - Start. While `holding`, each shard's first GetRecords call is held, not forwarded: the client
 *   has listed the shards and taken its iterators but read nothing, and the bench can wait for its
 *   start-up to settle, sample its CPU time and only then `release()` the calls.
 * - End. It counts the records each shard hands out and the GetRecords calls made on the shard
 *   since it last returned records; `onDone` is called (synchronously, as the call arrives, so the
 *   caller can sample CPU at once) when every shard has handed out all its expected records and
 *   has been called twice more since. Why twice: common/src/shard-reader.ts with `prefetch` (the
 *   processor's reader) asks for the next batch as soon as it hands one out, so the first call
 *   after the last batch overlaps the work on that batch; the second is made only when the reader
 *   is asked for the batch after it, i.e. once the caller is done with the last batch (the
 *   processor: classified, emitted, output acknowledged, commit handed to LevelDB).
 *
 * A call is tied to its shard by its iterator: GetShardIterator's request names the shard, each
 * GetRecords response's NextShardIterator continues it.
 */
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface ShardSeen {
  records: number;
  callsSinceRecords: number;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length'];

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export class KinesisTap {
  readonly #upstream: URL;
  readonly #stream: string;
  readonly #expected: ReadonlyMap<string, number>;
  readonly #onDone: () => void;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly #server: Server;
  readonly #shardOf = new Map<string, string>();
  readonly #seen = new Map<string, ShardSeen>();
  #held: Array<{ shardId: string; forward: () => void }> = [];
  #holding = true;
  #done = false;

  /** `expected`: shard id → records the client must be handed out on that shard. */
  constructor(upstream: string, stream: string, expected: ReadonlyMap<string, number>, onDone: () => void) {
    this.#upstream = new URL(upstream);
    this.#stream = stream;
    this.#expected = expected;
    this.#onDone = onDone;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => res.destroy(error as Error));
    });
  }

  /** Listens on 127.0.0.1; returns the endpoint to give the client. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Shards whose first GetRecords call is being held. */
  get heldShards(): number {
    return new Set(this.#held.map((h) => h.shardId)).size;
  }

  /** Records handed out so far, all shards. */
  get delivered(): number {
    let n = 0;
    for (const s of this.#seen.values()) n += s.records;
    return n;
  }

  /** Forwards the held calls, and every call from now on. */
  release(): void {
    this.#holding = false;
    const held = this.#held;
    this.#held = [];
    for (const h of held) h.forward();
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#agent.destroy();
  }

  #track(shardId: string): ShardSeen {
    let s = this.#seen.get(shardId);
    if (!s) this.#seen.set(shardId, (s = { records: 0, callsSinceRecords: 0 }));
    return s;
  }

  #check(): void {
    if (this.#done) return;
    for (const [shardId, records] of this.#expected) {
      const s = this.#seen.get(shardId);
      if (!s || s.records < records || s.callsSinceRecords < 2) return;
    }
    this.#done = true;
    this.#onDone();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.slice(target.lastIndexOf('.') + 1);
    let shardId: string | undefined;
    if (op === 'GetRecords') {
      const iterator = (JSON.parse(body.toString('utf8')) as { ShardIterator?: string }).ShardIterator ?? '';
      shardId = this.#shardOf.get(iterator);
      if (shardId !== undefined) {
        this.#track(shardId).callsSinceRecords++;
        this.#check();
      }
    }
    const forward = () => this.#forward(req, res, body, op, shardId);
    if (this.#holding && shardId !== undefined) this.#held.push({ shardId, forward });
    else forward();
  }

  #forward(req: IncomingMessage, res: ServerResponse, body: Buffer, op: string, shardId: string | undefined): void {
    const headers = { ...req.headers, 'content-length': String(body.length) };
    const up = request(
      { host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: req.url, headers, agent: this.#agent },
      (upRes) => {
        readAll(upRes).then(
          (out) => {
            if (upRes.statusCode === 200) this.#observe(op, body, out, shardId);
            const outHeaders = { ...upRes.headers };
            for (const h of HOP_BY_HOP) delete outHeaders[h];
            res.writeHead(upRes.statusCode ?? 502, { ...outHeaders, 'content-length': String(out.length) });
            res.end(out);
          },
          (error: unknown) => res.destroy(error as Error),
        );
      },
    );
    up.once('error', (error) => res.destroy(error));
    up.end(body);
  }

  #observe(op: string, requestBody: Buffer, responseBody: Buffer, shardId: string | undefined): void {
    if (op === 'GetShardIterator') {
      const r = JSON.parse(requestBody.toString('utf8')) as { StreamName?: string; ShardId?: string };
      const out = JSON.parse(responseBody.toString('utf8')) as { ShardIterator?: string };
      if (r.StreamName === this.#stream && r.ShardId && out.ShardIterator) this.#shardOf.set(out.ShardIterator, r.ShardId);
    } else if (op === 'GetRecords' && shardId !== undefined) {
      // Scanned rather than parsed (a response is ~4 MB, and this thread also runs the emulator):
      // each record has one "SequenceNumber" key, and no data, key or number can hold that text.
      let n = 0;
      for (let i = responseBody.indexOf(SEQUENCE_KEY); i !== -1; i = responseBody.indexOf(SEQUENCE_KEY, i + SEQUENCE_KEY.length)) n++;
      if (n > 0) {
        const s = this.#track(shardId);
        s.records += n;
        s.callsSinceRecords = 0;
      }
      const at = responseBody.indexOf(NEXT_ITERATOR_KEY);
      if (at !== -1) {
        const from = at + NEXT_ITERATOR_KEY.length;
        this.#shardOf.set(responseBody.toString('latin1', from, responseBody.indexOf('"', from)), shardId);
      }
    }
  }
}

const SEQUENCE_KEY = Buffer.from('"SequenceNumber":', 'latin1');
const NEXT_ITERATOR_KEY = Buffer.from('"NextShardIterator":"', 'latin1');
