/**
 * The risk console's HTTP surface (fastify), tested with `inject()`:
 *
 * GET  /                      the page: the latest alerts rendered, then kept live by /events
 * GET  /events                server-sent events: `alerts`, a JSON array of new alerts, at most
 *                             one message per BATCH_MS (100 alerts/s arrive as ~10 messages/s)
 * GET  /api/alerts            the latest alerts, newest first (JSON)
 * GET  /api/cards/:token      a card's latest summary and its alerts held (JSON)
 * GET  /api/cards/:token/history  the card's alerts in the warehouse (history.ts), newest first;
 *                             503 when there is no warehouse or it does not answer
 * GET  /api/alerts-per-minute alerts per minute over the last hour (JSON), drawn by uPlot
 * GET  /api/fleet             each processor's readiness and shards, as last polled (fleet.ts)
 * GET  /api/csrf-token        the token a state-changing request must carry
 * POST /api/cards/status      reports a card STOLEN (from a time) or ACTIVE again: publishes one
 *                             CARD_STATUS_CHANGED to the payments stream; 202 {event_id}
 * GET  /health                200 while the process runs and its feed reads the stream; 503 with why
 *                             while the feed cannot
 *
 * CSRF: a POST must carry the header `x-csrf-token` with this process's random token. Another site
 * cannot read it (same-origin policy), and a request with that header from another origin needs a
 * CORS preflight this server never grants. The card number of a report is never logged or echoed.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { cardStatusData, type CardStatusEvent } from '../../common/src/events.js';
import { maskCardNumber } from '../../common/src/luhn.js';
import { CARD_TOKEN } from '../../common/src/card-token.js';
import { CONSOLE_CSS, CONSOLE_JS, renderPage } from './page.js';
import type { FleetMember } from './fleet.js';
import { HistoryError, type CardHistory } from './history.js';
import { IdentityError, type AlbIdentity } from './identity.js';
import type { ConsoleAlert, ConsoleView } from './view.js';

// The chart library, served from this origin (the CSP allows scripts from 'self' only).
const resolve = createRequire(import.meta.url).resolve;
const UPLOT_JS = readFileSync(resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
const UPLOT_CSS = readFileSync(resolve('uplot/dist/uPlot.min.css'), 'utf8');

/** Alerts of a card's history a page gets at most. */
const HISTORY_ROWS = 200;
/** The longest a new alert waits before it is sent to the pages (one SSE message per batch). */
export const BATCH_MS = 100;
/** A page that has this much unsent data is too slow to follow: its stream is closed (it reconnects). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export interface ConsoleServerOptions {
  view: ConsoleView;
  /** Publishes a status change (keyed by its card number, like the card's payments). */
  publish: (event: CardStatusEvent) => Promise<void>;
  /**
   * Sign-in through the load balancer (identity.ts): when given, a report needs a valid
   * x-amzn-oidc-data and records the user as `reported_by`; without, reports are `console`'s.
   */
  identity?: Pick<AlbIdentity, 'userOf'>;
  /** A card's alerts in the warehouse (history.ts); the history route answers 503 when absent. */
  history?: CardHistory;
  /** Whether the feed reads the output stream (main.ts); /health fails while it does not. */
  feedDown?: () => { error: string; forSeconds: number } | undefined;
  /** The processors' health (fleet.ts); an empty list when absent. */
  fleet?: { members(): FleetMember[] };
  logger?: FastifyBaseLogger;
  now?: () => number;
  /** The CSRF token (default: 32 random bytes, base64url, new at each start). */
  csrfToken?: string;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function buildConsoleServer(options: ConsoleServerOptions): FastifyInstance {
  const { view, publish } = options;
  const now = options.now ?? Date.now;
  const csrf = Buffer.from(options.csrfToken ?? randomBytes(32).toString('base64url'));
  // No line per request: pages poll every few seconds and stream events; errors are still logged.
  const app = Fastify({ loggerInstance: options.logger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 4096 });

  app.addHook('onSend', async (_request, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
  });

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(renderPage(view.latestAlerts(), csrf.toString())));
  app.get('/console.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(CONSOLE_JS));
  app.get('/console.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(CONSOLE_CSS));
  app.get('/vendor/uplot.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(UPLOT_JS));
  app.get('/vendor/uplot.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(UPLOT_CSS));
  // A console that cannot read the stream shows no new alert: it says so here (the container's health
  // check, the load balancer) rather than look healthy.
  app.get('/health', async (_request, reply) => {
    const down = options.feedDown?.();
    if (down) return reply.code(503).send({ status: 'feed_down', ...down, ...view.sizes });
    return { status: 'ok', ...view.sizes };
  });
  app.get('/api/alerts', async () => view.latestAlerts());
  app.get('/api/alerts-per-minute', async () => view.alertsPerMinute());
  app.get<{ Params: { token: string } }>('/api/cards/:token', async (request) => view.card(request.params.token));
  app.get<{ Params: { token: string } }>('/api/cards/:token/history', async (request, reply) => {
    if (!CARD_TOKEN.test(request.params.token)) return reply.code(400).send({ error: 'not a card token' });
    if (!options.history) return reply.code(503).send({ error: 'no warehouse configured (WAREHOUSE_URL, or WAREHOUSE_REDSHIFT_CLUSTER in AWS)' });
    try {
      return { alerts: await options.history.alerts(request.params.token, HISTORY_ROWS) };
    } catch (error) {
      if (!(error instanceof HistoryError)) throw error;
      request.log.warn({ err: error.message }, 'card history not read');
      return reply.code(503).send({ error: error.message });
    }
  });
  app.get('/api/fleet', async () => options.fleet?.members() ?? []);
  app.get('/api/csrf-token', async () => ({ token: csrf.toString() }));

  app.post('/api/cards/status', async (request, reply) => {
    const sent = Buffer.from(String(request.headers['x-csrf-token'] ?? ''));
    if (sent.length !== csrf.length || !timingSafeEqual(sent, csrf)) return reply.code(403).send({ error: 'missing or wrong x-csrf-token' });
    let reportedBy = 'console';
    if (options.identity) {
      try {
        const header = request.headers['x-amzn-oidc-data'];
        reportedBy = `console:${(await options.identity.userOf(typeof header === 'string' ? header : undefined)).name}`.slice(0, 128);
      } catch (error) {
        if (!(error instanceof IdentityError)) throw error;
        request.log.warn({ err: error.message }, 'a report without a verified sign-in was refused');
        return reply.code(401).send({ error: `not signed in: ${error.message}` });
      }
    }
    const body = (request.body ?? {}) as Record<string, unknown>;
    const at = new Date(now()).toISOString();
    // Who reports is the server's to say, not the page's.
    const checked = cardStatusData.safeParse({ ...body, reported_by: reportedBy, effective_at: body.effective_at ?? at });
    if (!checked.success) {
      // Field names only: the card number is never echoed.
      const fields = [...new Set(checked.error.issues.map((i) => String(i.path[0] ?? 'body')))];
      return reply.code(400).send({ error: `invalid ${fields.join(', ')}` });
    }
    const event: CardStatusEvent = { event_type: 'CARD_STATUS_CHANGED', event_id: randomUUID(), event_date_origin: at, data: checked.data };
    try {
      await publish(event);
    } catch (error) {
      request.log.error({ err: (error as Error).message, card: maskCardNumber(checked.data.card_number) }, 'card status not published');
      return reply.code(502).send({ error: 'the payments stream refused the report; try again' });
    }
    request.log.info(
      {
        eventId: event.event_id,
        card: maskCardNumber(checked.data.card_number),
        status: checked.data.status,
        effectiveAt: checked.data.effective_at,
        reportedBy: checked.data.reported_by,
      },
      'card status published',
    );
    return reply.code(202).send({ event_id: event.event_id });
  });

  // Event streams never end by themselves: closing the server ends them (the pages reconnect).
  const streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });

  app.get('/events', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    streams.add(res);
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    let batch: ConsoleAlert[] = [];
    let timer: NodeJS.Timeout | undefined;
    const send = () => {
      timer = undefined;
      if (batch.length === 0) return;
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        request.log.warn({ buffered: res.writableLength }, 'an alert page is too slow to follow: its stream is closed');
        res.destroy();
        return;
      }
      res.write(`event: alerts\ndata: ${JSON.stringify(batch)}\n\n`);
      batch = [];
    };
    const unsubscribe = view.subscribe((alert) => {
      batch.push(alert);
      timer ??= setTimeout(send, BATCH_MS);
    });
    // Comments keep proxies (and the load balancer's idle timeout) from closing a quiet stream.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    res.on('close', () => {
      streams.delete(res);
      unsubscribe();
      clearInterval(keepAlive);
      if (timer) clearTimeout(timer);
    });
  });

  return app;
}
