/**
 * Issue 20, "The terminal too": what `npm start` prints. The components' JSON log lines made
 * readable (and kept JSON when not asked), the processors' metrics read from their real
 * exposition, and the status line's arithmetic over scrapes, a processor down and a restart.
 */
import t, { type Test } from 'tap';
import { createServer, type RequestListener } from 'node:http';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/src/log.js';
import { createMetrics } from '../../processor/src/metrics.js';
import type { ShardStatus } from '../../processor/src/http/status.js';
import { freePort } from '../local/loopback.js';
import { StatusLine, countersOf, createLineFormatter, scrapeProcessor, type ProcessorCounters, type Scrape } from '../local/terminal.js';
import { prometheusSamples } from '../../common/src/prom-text.js';

/** One JSON line as the components write it (common/src/log.ts), from `write`. */
function logLine(component: string, write: (log: ReturnType<typeof createLogger>) => void): string {
  const lines: string[] = [];
  write(createLogger(component, 'info', { write: (line: string) => void lines.push(line) }));
  if (lines.length !== 1) throw new Error(`expected one log line, got ${lines.length}`);
  return lines[0]!.replace(/\n$/, '');
}

// Every control character that ends a line or starts a terminal escape sequence.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

t.test('a pino line becomes one readable line: time, level, [component], message, the other fields compact', async (t) => {
  const format = createLineFormatter({ pretty: true, colorize: false });
  const line = logLine('processor', (log) => log.warn({ shardId: 'shardId-000000000001', records: 3 }, 'shard behind'));
  t.match(line, /^\{"level":40,"time":"/, 'the input is what the components print');
  const out = format('processor-2', line);
  t.match(out, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[processor-2\] shard behind \{"shardId":"shardId-000000000001","records":3\}$/, out);
  t.notMatch(out, /"pid"|"hostname"|"component"|"name"/, 'pid, hostname and the component field are left out');
  const info = format(
    'console',
    logLine('console', (log) => log.info('listening')),
  );
  t.match(info, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[console\] listening$/, 'no fields, no braces');
});

t.test('not pretty (a file, a pipe, --json): every line as the component printed it, after [name]', async (t) => {
  const format = createLineFormatter({ pretty: false });
  const line = logLine('processor', (log) => log.info({ a: 1 }, 'hello'));
  t.equal(format('processor', line), `[processor] ${line}`);
  t.same(JSON.parse(format('processor', line).slice('[processor] '.length)), JSON.parse(line), 'the JSON intact');
});

t.test('a line that is not a pino record passes through unchanged, after [name]', async (t) => {
  const format = createLineFormatter({ pretty: true, colorize: false });
  for (const line of ['wrote 500 cards to data/cards.csv', '{"not":"pino"}', '{"level":30', '[1,2,3]', '', '    at Object.<anonymous> (file.ts:1:1)']) {
    t.equal(format('cardgen', line), `[cardgen] ${line}`, JSON.stringify(line));
  }
});

t.test('attacker text in a log record stays on one line and cannot drive the terminal', async (t) => {
  const evil = 'Bad\nMerchant\r[processor] fake\u001b[2J\u0007\u009b31m\u2028end';
  const line = logLine('processor', (log) =>
    log.error({ merchant: evil, [`key\n${evil}`]: 1, err: new Error(`boom ${evil}`), name_in_start: 'console' }, `rejected ${evil}`),
  );
  for (const colorize of [false, true]) {
    const out = createLineFormatter({ pretty: true, colorize })('processor', line);
    // With colours, the only escape sequences are pino-pretty's own colour codes (SGR).
    const text = out.replace(/\u001b\[[0-9;]*m/g, '');
    t.notMatch(text, CONTROL, `no control character left (colorize ${colorize})`);
    t.match(
      text,
      /^\[\d\d:\d\d:\d\d\.\d{3}\] ERROR: \[processor\] rejected Bad\\nMerchant\\r\[processor\] fake\\x1b\[2J\\x07\\x9b31m\\u2028end /,
      'escaped, visible',
    );
    t.match(text, /"stack":"Error: boom Bad\\nMerchant/, 'the stack on the same line');
    t.notMatch(text, /\[console\]/, 'a field cannot rename the component');
  }
});

/** A processor's registry with known counts, as its /metrics serves them. */
function processorRegistry(shards: readonly ShardStatus[] = [], nowMs = 1_000_000) {
  const registry = new Registry();
  const metrics = createMetrics(registry);
  metrics.recordRead('PAYMENT_EVENT', 1000);
  metrics.recordRead('PAYMENT_ALERT', 7); // our own output read back: not payments
  metrics.recordRead('CARD_STATUS_CHANGED', 2);
  metrics.alertEmitted(false, 30);
  metrics.alertEmitted(true, 4);
  metrics.summariesEmitted.inc(12);
  metrics.recordRejected('not_json', 2);
  metrics.recordRejected('bad_amount', 1);
  metrics.observeShards(() => ({ shards, nowMs }));
  return registry;
}

const shard = (shardId: string, over: Partial<ShardStatus> = {}): ShardStatus => ({
  shardId,
  state: 'RUNNING',
  watermarkMs: 1_000_000 - 2_000,
  idle: false,
  millisBehindLatest: 0,
  behindLatestMs: 0,
  progress: { step: 'read', stepMs: 5, sinceCommitMs: 100, failures: 0, lastError: undefined, stuck: undefined },
  ...over,
});

t.test("a processor's real /metrics text gives the status line's numbers", async (t) => {
  const registry = processorRegistry([
    shard('shardId-000000000001'),
    shard('shardId-000000000002', { watermarkMs: 1_000_000 - 1_500, behindLatestMs: 7_250 }),
    shard('shardId-000000000003', { watermarkMs: null, behindLatestMs: null, state: 'CREATED' }),
  ]);
  const counters = countersOf(prometheusSamples(await registry.metrics()));
  t.same(
    counters,
    {
      payments: 1000,
      alerts: 34,
      summaries: 12,
      rejects: 3,
      maxLagMs: 7250,
      shards: ['shardId-000000000001', 'shardId-000000000002', 'shardId-000000000003'],
    },
    'payments only, alerts late and on time, every reject, the largest lag of either kind, the shards owned',
  );
  t.equal(countersOf(prometheusSamples(await processorRegistry().metrics())).maxLagMs, null, 'no shard owned: no lag');
});

const counters = (over: Partial<ProcessorCounters> = {}): ProcessorCounters => ({
  payments: 0,
  alerts: 0,
  summaries: 0,
  rejects: 0,
  maxLagMs: null,
  ...over,
  shards: over.shards ?? [],
});
const up = (name: string, over: Partial<ProcessorCounters> = {}): Scrape => ({ name, up: true, counters: counters(over) });

t.test('the status line: rates between scrapes, counts in the interval and in total, summed and maxed over the processors', async (t) => {
  const status = new StatusLine(0);
  t.equal(
    status.next(
      [
        up('processor-1', { payments: 600, alerts: 5, summaries: 10, rejects: 1, maxLagMs: 1200 }),
        up('processor-2', { payments: 400, alerts: 1, maxLagMs: 3400 }),
      ],
      10_000,
    ),
    '100.0 payments/s  alerts +6 (6)  summaries +10 (10)  rejects +1 (1)  max lag 3.4 s  processors 2/2 up',
    'the first interval: from the processors start, their counters at 0',
  );
  t.equal(
    status.next(
      [
        up('processor-1', { payments: 1100, alerts: 8, summaries: 20, rejects: 1, maxLagMs: 900 }),
        up('processor-2', { payments: 900, alerts: 1, maxLagMs: 800 }),
      ],
      20_000,
    ),
    '100.0 payments/s  alerts +3 (9)  summaries +10 (20)  rejects +0 (1)  max lag 0.9 s  processors 2/2 up',
  );
});

t.test('a processor that does not answer is named, and the others still counted', async (t) => {
  const status = new StatusLine(0);
  status.next([up('processor-1', { payments: 500, alerts: 2 }), up('processor-2', { payments: 500, alerts: 2, maxLagMs: 1000 })], 10_000);
  const line = status.next([up('processor-1', { payments: 1000, alerts: 3 }), { name: 'processor-2', up: false, error: 'ECONNREFUSED' }], 20_000);
  t.equal(line, '50.0 payments/s  alerts +1 (5)  summaries +0 (0)  rejects +0 (0)  max lag -  processors 1/2 up  processor-2 down (ECONNREFUSED)');
  // Back after 20 s away: its increase is spread over the 20 s since it was last read.
  t.match(
    status.next([up('processor-1', { payments: 1500, alerts: 3 }), up('processor-2', { payments: 1500, alerts: 6 })], 30_000),
    /^100\.0 payments\/s {2}alerts \+4 \(9\) .* processors 2\/2 up$/,
  );
});

t.test('shards owned of the stream: a shard nobody reads shows there, since the max lag covers owned shards only', async (t) => {
  const status = new StatusLine(0, 4);
  const a = ['shardId-000000000000', 'shardId-000000000001'];
  const b = ['shardId-000000000002', 'shardId-000000000003'];
  t.match(
    status.next([up('processor-1', { shards: a, maxLagMs: 500 }), up('processor-2', { shards: b, maxLagMs: 700 })], 10_000),
    /max lag 0\.7 s {2}shards 4\/4 owned {2}processors 2\/2 up$/,
  );
  t.match(
    status.next([up('processor-1', { shards: a, maxLagMs: 500 }), { name: 'processor-2', up: false, error: 'ECONNREFUSED' }], 20_000),
    /max lag 0\.5 s {2}shards 2\/4 owned {2}processors 1\/2 up {2}processor-2 down/,
  );
  // A shard handed over while both answer is counted once.
  t.match(status.next([up('processor-1', { shards: [...a, b[0]!] }), up('processor-2', { shards: b })], 30_000), /shards 4\/4 owned/);
});

t.test('a counter reset (the processor restarted) counts from 0 again, never a negative rate or a shrinking total', async (t) => {
  const status = new StatusLine(0);
  status.next([up('processor', { payments: 5000, alerts: 40, summaries: 100, rejects: 3 })], 10_000);
  const line = status.next([up('processor', { payments: 300, alerts: 2, summaries: 1, rejects: 0 })], 20_000);
  t.equal(line, '30.0 payments/s  alerts +2 (42)  summaries +1 (101)  rejects +0 (3)  max lag -  processors 1/1 up');
  t.match(
    status.next([up('processor', { payments: 1300, alerts: 2, summaries: 1, rejects: 0 })], 30_000),
    /^100\.0 payments\/s {2}alerts \+0 \(42\)/,
    'then counts on from the new counter',
  );
});

/** An HTTP server on a free loopback port, closed (with its open connections) when the test ends. */
async function listen(t: Test, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())));
  return `http://127.0.0.1:${port}`;
}

t.test('scrapeProcessor: a /metrics over HTTP, and down when refused, failing, unreadable or silent', async (t) => {
  const registry = processorRegistry([shard('shardId-000000000001')]);
  const ok = await listen(t, (req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  t.same(await scrapeProcessor('processor-1', ok), {
    name: 'processor-1',
    up: true,
    counters: { payments: 1000, alerts: 34, summaries: 12, rejects: 3, maxLagMs: 2000, shards: ['shardId-000000000001'] },
  });

  const refused = `http://127.0.0.1:${await freePort()}`;
  t.same(await scrapeProcessor('processor-2', refused), { name: 'processor-2', up: false, error: 'ECONNREFUSED' });
  const failing = await listen(t, (_req, res) => void res.writeHead(503).end('no'));
  t.same(await scrapeProcessor('processor-3', failing), { name: 'processor-3', up: false, error: 'HTTP 503' });
  const garbage = await listen(t, (_req, res) => void res.writeHead(200).end('<html>not metrics</html>'));
  t.match(await scrapeProcessor('processor-4', garbage), { up: false, error: /not a sample line/ });
  const silent = await listen(t, () => undefined);
  t.same(await scrapeProcessor('processor-5', silent, 200), { name: 'processor-5', up: false, error: 'timeout' });
});
