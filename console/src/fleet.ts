/**
 * Fleet health: each processor's shards, how far behind the shard's tip each one reads and how far
 * its watermark lags the clock, read from the processors' own `GET /ready` (its body lists every
 * owned shard, 200 or 503: processor/src/http/readiness.ts). The console polls; processors know
 * nothing of it.
 *
 * Where the processors are: PROCESSOR_URLS, base URLs. A host name may stand for several tasks (in
 * AWS, the processor service's Cloud Map name: one A record per task), so every address it
 * resolves to is polled, and a task that appears or goes away is seen at the next round.
 * A processor that does not answer is shown as down, with why, never silently left out.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { sleep } from '../../common/src/retry.js';

export interface FleetShard {
  shardId: string;
  state: string;
  ready: boolean;
  reason?: string;
  /** now − watermark at the processor, ms; null before its first record. */
  watermarkLagMs: number | null;
  /** The shard's MillisBehindLatest as the processor last read it. */
  millisBehindLatest: number;
}

export interface FleetMember {
  /** The base URL polled, with the address it resolved to (e.g. http://10.0.1.7:8080). */
  url: string;
  /** The URL as configured (one configured URL may give several members). */
  configured: string;
  up: boolean;
  ready: boolean;
  /** Why it is down or not ready (the processor's own reason when it answered). */
  reason?: string;
  shards: FleetShard[];
  /** ISO time of the poll this comes from. */
  checkedAt: string;
}

export interface FleetOptions {
  urls: readonly string[];
  intervalMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Every address of a host name (default: the system resolver, as the HTTP client would). */
  lookup?: (hostname: string) => Promise<string[]>;
  now?: () => number;
  log?: FastifyBaseLogger;
}

const resolveAll = async (hostname: string): Promise<string[]> => (await dnsLookup(hostname, { all: true })).map((a) => a.address);

/** The URLs of PROCESSOR_URLS (comma-separated); each must be http(s). */
export function parseProcessorUrls(text: string | undefined): string[] {
  const urls = (text ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new Error(`PROCESSOR_URLS: "${u}" is not a URL (write it as http://host:port)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`PROCESSOR_URLS: "${u}" is not http(s)`);
  }
  return urls;
}

/** Polls every processor's /ready; `members()` is the last round's result, in a stable order. */
export class Fleet {
  readonly #urls: readonly string[];
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #lookup: (hostname: string) => Promise<string[]>;
  readonly #now: () => number;
  readonly #log: FastifyBaseLogger | undefined;
  #members: FleetMember[] = [];
  /** Members last seen down, so that a change (not every round) is logged. */
  #down = new Set<string>();

  constructor(options: FleetOptions) {
    this.#urls = options.urls;
    this.#intervalMs = options.intervalMs ?? 5_000;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#fetch = options.fetch ?? fetch;
    this.#lookup = options.lookup ?? resolveAll;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
  }

  members(): FleetMember[] {
    return this.#members;
  }

  /** Polls now, then every intervalMs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.poll();
      // Its listener is removed after each wait: one added per round would pile up on the signal.
      await sleep(this.#intervalMs, signal);
    }
  }

  /** One round: every address of every URL, in parallel. */
  async poll(): Promise<FleetMember[]> {
    const rounds = await Promise.all(this.#urls.map((configured) => this.#pollUrl(configured)));
    const members = rounds.flat();
    const down = new Set(members.filter((m) => !m.up).map((m) => m.url));
    for (const m of members) {
      if (!m.up && !this.#down.has(m.url)) this.#log?.warn({ processor: m.url, reason: m.reason }, 'a processor does not answer');
      if (m.up && this.#down.has(m.url)) this.#log?.info({ processor: m.url }, 'a processor answers again');
    }
    this.#down = down;
    this.#members = members;
    return members;
  }

  async #pollUrl(configured: string): Promise<FleetMember[]> {
    const base = new URL(configured);
    const checkedAt = new Date(this.#now()).toISOString();
    let addresses: string[];
    if (isIP(base.hostname.replace(/^\[|\]$/g, ''))) addresses = [base.hostname];
    else {
      try {
        addresses = await this.#lookup(base.hostname);
      } catch (error) {
        return [
          {
            url: configured,
            configured,
            up: false,
            ready: false,
            reason: `cannot resolve ${base.hostname}: ${(error as Error).message}`,
            shards: [],
            checkedAt,
          },
        ];
      }
      if (addresses.length === 0)
        return [{ url: configured, configured, up: false, ready: false, reason: `${base.hostname} has no address`, shards: [], checkedAt }];
    }
    addresses.sort();
    return Promise.all(
      addresses.map((address) => {
        const url = new URL(configured);
        url.hostname = isIP(address) === 6 ? `[${address}]` : address;
        return this.#pollOne(url.origin, configured, checkedAt);
      }),
    );
  }

  async #pollOne(url: string, configured: string, checkedAt: string): Promise<FleetMember> {
    const down = (reason: string): FleetMember => ({ url, configured, up: false, ready: false, reason, shards: [], checkedAt });
    let res: Response;
    try {
      res = await this.#fetch(`${url}/ready`, { signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      const e = error as Error & { cause?: { code?: string } };
      return down(e.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : (e.cause?.code ?? e.message));
    }
    let body: { ready?: unknown; reason?: unknown; shards?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      return down(`/ready answered ${res.status} without JSON`);
    }
    if ((res.status !== 200 && res.status !== 503) || !Array.isArray(body.shards)) return down(`/ready answered ${res.status}, not a processor's readiness`);
    const shards: FleetShard[] = (body.shards as Record<string, unknown>[]).map((s) => ({
      shardId: String(s.shardId),
      state: String(s.state),
      ready: s.ready === true,
      ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
      watermarkLagMs: typeof s.watermarkLagMs === 'number' ? s.watermarkLagMs : null,
      millisBehindLatest: typeof s.millisBehindLatest === 'number' ? s.millisBehindLatest : 0,
    }));
    shards.sort((a, b) => a.shardId.localeCompare(b.shardId));
    const ready = body.ready === true;
    return { url, configured, up: true, ready, ...(typeof body.reason === 'string' ? { reason: body.reason } : {}), shards, checkedAt };
  }
}
