/**
 * A small client for the Grafana HTTP API, authenticated with a service-account token.
 *
 * Retry: a request answered 429 or 5xx, or failing on the network (refused, reset, timed out), is
 * retried; right after CloudFormation creates a workspace its endpoint may still be starting. At
 * most `attempts` tries in all, waiting `initialDelayMs`, then ×`multiplier` each time (capped at
 * `maxDelayMs`), each wait ±`jitter`. Any other non-2xx answer fails at once.
 */
import { setTimeout as delay } from 'node:timers/promises';

export const RETRY_DEFAULTS = Object.freeze({ attempts: 5, initialDelayMs: 1_000, multiplier: 2, maxDelayMs: 30_000, jitter: 0.2 });
export type RetryOptions = typeof RETRY_DEFAULTS;

/** A non-2xx answer that was not expected; `body` is truncated to 500 characters. */
export class GrafanaHttpError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`Grafana ${method} ${path} answered ${status}: ${body}`);
    this.name = 'GrafanaHttpError';
  }

  get retriable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

export interface GrafanaApiOptions {
  /** The workspace URL, e.g. https://g-abc.grafana-workspace.eu-west-1.amazonaws.com */
  baseUrl: string;
  token: string;
  fetch: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  retry?: Partial<RetryOptions>;
  /** Per attempt. */
  timeoutMs?: number;
}

export interface GrafanaResponse {
  status: number;
  body: unknown;
}

export interface GrafanaApi {
  /** Resolves for a 2xx answer or one of `accept`; throws GrafanaHttpError (or the network error) otherwise. */
  request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, accept?: readonly number[]): Promise<GrafanaResponse>;
}

const BODY_LIMIT = 500;

export function grafanaApi(options: GrafanaApiOptions): GrafanaApi {
  const base = options.baseUrl.replace(/\/+$/, '');
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const retry = { ...RETRY_DEFAULTS, ...options.retry };
  const timeoutMs = options.timeoutMs ?? 15_000;

  async function once(method: string, path: string, body: unknown, accept: readonly number[]): Promise<GrafanaResponse> {
    let response: Response;
    try {
      response = await options.fetch(base + path, {
        method,
        headers: {
          Authorization: `Bearer ${options.token}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new NetworkError(`Grafana ${method} ${path} failed: ${(err as Error).message}`, { cause: err });
    }
    const text = await response.text();
    if (!response.ok && !accept.includes(response.status)) {
      throw new GrafanaHttpError(method, path, response.status, text.slice(0, BODY_LIMIT));
    }
    return { status: response.status, body: parse(text) };
  }

  return {
    async request(method, path, body, accept = []) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await once(method, path, body, accept);
        } catch (err) {
          const retriable = err instanceof NetworkError || (err instanceof GrafanaHttpError && err.retriable);
          if (!retriable || attempt >= retry.attempts) throw err;
          const backoff = Math.min(retry.maxDelayMs, retry.initialDelayMs * retry.multiplier ** (attempt - 1));
          await sleep(backoff * (1 + retry.jitter * (2 * Math.random() - 1)));
        }
      }
    },
  };
}

class NetworkError extends Error {
  override name = 'NetworkError';
}

function parse(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
