/**
 * The processor's HTTP surface: liveness, readiness and Prometheus metrics. It only READS: the
 * status comes from a function main.ts provides, metrics from the injected registry. It owns no
 * state, starts nothing, and is tested with `inject()` without a socket; main.ts starts it first
 * (so that a start-up waiting for a dependency is visible) and closes it during shutdown.
 *
 * GET /health  200 {status:'ok'} while the process is alive and no owned shard is stuck;
 *              503 {status:'stuck', stuck:[{shardId, reason}]} when one is (see health.ts: the
 *              container health check then replaces the task); 503 {status:'shutting_down'} once
 *              shutdown has begun, so that nothing new is routed to a draining task (ECS keeps
 *              stopping it regardless; liveness turning red then is expected, not an incident).
 * GET /ready   200 when started, every dependency answers, and every owned shard is RUNNING and
 *              near real time (see readiness.ts), else 503; the body says why not.
 * GET /metrics Prometheus text exposition of the registry.
 * Request logging is off: probes every few seconds would drown the log. Errors are still logged.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { DEFAULT_MAX_WATERMARK_LAG_MS, evaluateReadiness } from './readiness.js';
import { evaluateHealth } from './health.js';
import type { ProcessorStatus } from './status.js';

export type { ProcessorStatus, ShardStatus, ShardState } from './status.js';
export { SHARD_STATES } from './status.js';
export { evaluateReadiness, DEFAULT_MAX_WATERMARK_LAG_MS, type Readiness, type ShardReadiness } from './readiness.js';
export { evaluateHealth, type Health } from './health.js';

export interface HttpServerOptions {
  registry: Registry;
  /** Called on every /health and /ready request; must be cheap and must not throw. */
  status: () => ProcessorStatus;
  /** A pino logger (child of the process logger); silent when absent. */
  logger?: FastifyBaseLogger;
  /** A shard whose watermark lags now by more than this is not ready unless idle or caught up. */
  maxWatermarkLagMs?: number;
}

export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const { registry, status } = options;
  const maxLag = options.maxWatermarkLagMs ?? DEFAULT_MAX_WATERMARK_LAG_MS;
  if (!(Number.isFinite(maxLag) && maxLag > 0)) throw new RangeError(`maxWatermarkLagMs must be a positive number, got ${maxLag}`);

  // Fastify's own logger stays off: it would log every probe and scrape. Errors are logged below.
  const app: FastifyInstance = Fastify({ logger: false });
  if (options.logger) {
    const logger = options.logger;
    app.setErrorHandler((error, _request, reply) => {
      logger.error({ err: error }, 'http handler failed');
      void reply.code(500).send({ status: 'error' });
    });
  }

  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });

  app.get('/health', async (_request, reply) => {
    const health = evaluateHealth(status());
    if (health.status === 'shutting_down') return reply.code(503).send({ status: 'shutting_down' });
    if (!health.healthy) return reply.code(503).send({ status: health.status, stuck: health.stuck });
    return reply.code(200).send({ status: 'ok' });
  });

  app.get('/ready', async (_request, reply) => {
    const readiness = evaluateReadiness(status(), maxLag);
    return reply.code(readiness.ready ? 200 : 503).send({ status: readiness.ready ? 'ready' : 'not_ready', ...readiness });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await registry.metrics();
    return reply.code(200).type(registry.contentType).send(body);
  });

  return app;
}
