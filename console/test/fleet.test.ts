/**
 * Fleet health against the processor's real /ready (its own HTTP server, on loopback sockets), so
 * that a change of that body's shape fails here: shards and lags read, a processor down, a host
 * name standing for several tasks, a task that goes away, an answer that is not a processor's.
 */
import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Registry } from 'prom-client';
import { buildHttpServer, type ProcessorStatus, type ShardStatus } from '../../processor/src/http/server.js';
import { Fleet, parseProcessorUrls } from '../src/fleet.js';
import { buildConsoleServer } from '../src/server.js';
import { ConsoleView } from '../src/view.js';

const NOW = Date.parse('2026-12-06T10:00:00Z');

function shard(shardId: string, over: Partial<ShardStatus> = {}): ShardStatus {
  return {
    shardId,
    state: 'RUNNING',
    watermarkMs: NOW - 2_000,
    idle: false,
    millisBehindLatest: 0,
    behindLatestMs: 0,
    progress: { step: 'reading', stepMs: 10, sinceCommitMs: 100, failures: 0, lastError: undefined, stuck: undefined },
    ...over,
  } as ShardStatus;
}

/** A processor's HTTP surface with this status, listening on `host` (port 0 = any). */
async function processor(status: () => ProcessorStatus, host = '127.0.0.1', port = 0) {
  const app = buildHttpServer({ registry: new Registry(), status });
  await app.listen({ host, port });
  return { app, port: (app.server.address() as AddressInfo).port };
}

const running = (shards: ShardStatus[]): ProcessorStatus => ({ shards, nowMs: NOW, shuttingDown: false, dependencies: [] });

t.test('shards, lags and readiness as each processor reports them', async (t) => {
  const a = await processor(() => running([shard('shardId-000000000001', { millisBehindLatest: 1_500 }), shard('shardId-000000000000')]));
  const b = await processor(() => running([shard('shardId-000000000002', { watermarkMs: NOW - 95_000, millisBehindLatest: 60_000, behindLatestMs: 60_000 })]));
  t.teardown(() => Promise.all([a.app.close(), b.app.close()]));
  const fleet = new Fleet({ urls: [`http://127.0.0.1:${a.port}`, `http://127.0.0.1:${b.port}`], now: () => NOW });
  const [ma, mb] = await fleet.poll();
  t.match(ma, { url: `http://127.0.0.1:${a.port}`, up: true, ready: true });
  t.same(
    ma!.shards.map((s) => [s.shardId, s.ready, s.watermarkLagMs, s.millisBehindLatest]),
    [
      ['shardId-000000000000', true, 2_000, 0],
      ['shardId-000000000001', true, 2_000, 1_500],
    ],
    'sorted by shard, with both lags',
  );
  t.match(mb, { up: true, ready: false, reason: '1 of 1 shards not ready' });
  t.match(mb!.shards[0], { ready: false, watermarkLagMs: 95_000, millisBehindLatest: 60_000, reason: /behind now/ });
  t.same(fleet.members(), [ma, mb], 'members() is the last round');
});

t.test('a processor that does not answer is shown down, and logged once until it answers again', async (t) => {
  const a = await processor(() => running([shard('shardId-000000000000')]));
  const port = a.port;
  await a.app.close();
  const warnings: string[] = [];
  const infos: string[] = [];
  const log = { warn: (_o: unknown, m: string) => warnings.push(m), info: (_o: unknown, m: string) => infos.push(m) } as never;
  const fleet = new Fleet({ urls: [`http://127.0.0.1:${port}`], log });
  t.match(await fleet.poll(), [{ up: false, ready: false, shards: [], reason: 'ECONNREFUSED' }]);
  await fleet.poll();
  t.equal(warnings.length, 1, 'one warning for two failed rounds');
  const back = await processor(() => running([shard('shardId-000000000000')]), '127.0.0.1', port);
  t.teardown(() => back.app.close());
  t.match(await fleet.poll(), [{ up: true, ready: true }]);
  t.same(infos, ['a processor answers again']);
});

t.test('a host name is polled at every address it resolves to; a task gone is gone from the list', async (t) => {
  // Two tasks on one port, as two Fargate tasks behind one Cloud Map name (127.0.0.2 is loopback too).
  const one = await processor(() => running([shard('shardId-000000000000')]), '127.0.0.1');
  const two = await processor(() => running([shard('shardId-000000000001')]), '127.0.0.2', one.port);
  t.teardown(() => Promise.all([one.app.close(), two.app.close()]));
  let addresses = ['127.0.0.2', '127.0.0.1'];
  const lookups: string[] = [];
  const fleet = new Fleet({ urls: [`http://processor.payments.local:${one.port}`], lookup: async (h) => (lookups.push(h), addresses) });
  const round = await fleet.poll();
  t.same(
    round.map((m) => [m.url, m.configured, m.shards.map((s) => s.shardId)]),
    [
      [`http://127.0.0.1:${one.port}`, `http://processor.payments.local:${one.port}`, ['shardId-000000000000']],
      [`http://127.0.0.2:${one.port}`, `http://processor.payments.local:${one.port}`, ['shardId-000000000001']],
    ],
  );
  t.same(lookups, ['processor.payments.local']);
  addresses = ['127.0.0.1'];
  t.same(
    (await fleet.poll()).map((m) => m.url),
    [`http://127.0.0.1:${one.port}`],
  );
  addresses = [];
  t.match(await fleet.poll(), [{ up: false, reason: 'processor.payments.local has no address' }]);
  const failing = new Fleet({ urls: ['http://nowhere.invalid:8080'], lookup: async () => Promise.reject(new Error('ENOTFOUND')) });
  t.match(await failing.poll(), [{ up: false, reason: 'cannot resolve nowhere.invalid: ENOTFOUND' }]);
});

t.test('an answer that is not a processor readiness, or none in time, is down with why', async (t) => {
  const servers: Server[] = [];
  const serve = async (handler: Parameters<typeof createServer>[1]) => {
    const s = createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  t.teardown(() => {
    for (const s of servers) (s.closeAllConnections(), s.close());
  });
  const html = await serve((_q, r) => r.writeHead(404, { 'content-type': 'text/html' }).end('<h1>not found</h1>'));
  const json = await serve((_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
  const silent = await serve(() => undefined);
  const fleet = new Fleet({ urls: [html, json, silent], timeoutMs: 300 });
  t.match(await fleet.poll(), [
    { up: false, reason: '/ready answered 404 without JSON' },
    { up: false, reason: "/ready answered 200, not a processor's readiness" },
    { up: false, reason: 'no answer within 300 ms' },
  ]);
});

t.test('PROCESSOR_URLS: a list of http(s) URLs, clear errors otherwise', async (t) => {
  t.same(parseProcessorUrls(' http://127.0.0.1:8080 , http://127.0.0.1:8081,'), ['http://127.0.0.1:8080', 'http://127.0.0.1:8081']);
  t.same(parseProcessorUrls(''), []);
  t.same(parseProcessorUrls(undefined), []);
  t.throws(() => parseProcessorUrls('127.0.0.1:8080'), /"127.0.0.1:8080" is not a URL \(write it as http:\/\/host:port\)/);
  t.throws(() => parseProcessorUrls('ftp://127.0.0.1:21'), /"ftp:\/\/127.0.0.1:21" is not http\(s\)/);
});

t.test('GET /api/fleet serves the last round', async (t) => {
  const a = await processor(() => running([shard('shardId-000000000000')]));
  t.teardown(() => a.app.close());
  const fleet = new Fleet({ urls: [`http://127.0.0.1:${a.port}`] });
  const app = buildConsoleServer({ view: new ConsoleView(), publish: async () => undefined, fleet });
  t.same((await app.inject('/api/fleet')).json(), [], 'nothing before the first round');
  await fleet.poll();
  t.match((await app.inject('/api/fleet')).json(), [{ up: true, ready: true, shards: [{ shardId: 'shardId-000000000000' }] }]);
  const bare = buildConsoleServer({ view: new ConsoleView(), publish: async () => undefined });
  t.same((await bare.inject('/api/fleet')).json(), [], 'no fleet configured: an empty list');
});

t.test('run() polls every interval until aborted, without piling listeners on the signal', async (t) => {
  const stopping = new AbortController();
  let rounds = 0;
  const fleet = new Fleet({
    urls: ['http://127.0.0.1:9'],
    intervalMs: 5,
    fetch: (async () => (rounds++, Promise.reject(new Error('refused')))) as typeof fetch,
  });
  const run = fleet.run(stopping.signal);
  await new Promise((r) => setTimeout(r, 300));
  t.ok(rounds > 10, `${rounds} rounds`);
  t.ok(getEventListeners(stopping.signal, 'abort').length <= 1, 'at most the current wait listens');
  stopping.abort();
  await run;
  const after = rounds;
  await new Promise((r) => setTimeout(r, 50));
  t.equal(rounds, after, 'no round after the abort');
});
