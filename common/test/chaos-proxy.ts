/**
 * A fault-injecting HTTP/1.1 proxy for tests. It sits between an AWS SDK client and a local emulator
 * (kinesalite, dynalite), so fault tests can run real processes against real emulators and still
 * decide when the endpoint throttles, fails part of a PutRecords, goes away or stops answering.
 *
 * It can read every request because both SDK clients speak the AWS JSON protocol over HTTP/1.1
 * (Kinesis `application/x-amz-json-1.1`, DynamoDB `application/x-amz-json-1.0`, the operation in
 * `X-Amz-Target`; checked in chaos-proxy.test.ts). It can rewrite a PutRecords body because the
 * emulators do not verify SigV4 signatures.
 */
import type { Test } from 'tap';
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { serveOnLoopback } from '../../deploy/local/loopback.js';
import { IDLE_SOCKET_TIMEOUT_MS } from '../src/kinesis.js';

/**
 * - `pass`: forward everything.
 * - `refuse`: the endpoint is down. Every open connection is reset at once (calls in flight fail)
 *   and every new one is reset as soon as it is accepted, before a request is read: the client sees
 *   ECONNRESET. The port stays bound, so no other process can take it and `pass` works at once.
 * - `hang`: requests are read and never answered; leaving `hang` closes their connections.
 */
export type ChaosMode = 'pass' | 'refuse' | 'hang';

/** One entry of a PutRecords request body as the SDK sends it (Data is base64). */
export interface PutRecordsEntry {
  PartitionKey: string;
  Data: string;
  ExplicitHashKey?: string;
}

export type Fault =
  /**
   * Answers the call itself with an AWS JSON error: `type` becomes the body's `__type` (the SDK
   * error's name), e.g. 'ProvisionedThroughputExceededException' with 400 or 'InternalFailure'
   * with 500. Nothing is forwarded.
   */
  | { kind: 'error'; status: number; type: string; message?: string }
  /**
   * PutRecords only. Entries for which `fail` returns an ErrorCode (e.g.
   * 'ProvisionedThroughputExceededException', 'InternalFailure') are not forwarded; the rest go to
   * the target in one PutRecords, and the answer is merged back in request order with
   * FailedRecordCount and each failed entry's ErrorCode and ErrorMessage, as Kinesis answers a
   * partial failure. If the target refuses the reduced call, its answer is returned as it is.
   */
  | { kind: 'putRecordsPartial'; fail: (index: number, entry: PutRecordsEntry) => string | undefined };

export interface ChaosRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/**
 * Decides the fate of one request, in `pass` mode only. `op` is the part of X-Amz-Target after the
 * dot ('PutRecords', 'GetRecords', 'UpdateItem'...); `body` is the parsed JSON body (undefined if it
 * is not JSON; `any` because every operation has its own shape). Returns undefined to forward the
 * request unchanged. A hook that throws, or a misused fault, fails the test and answers a 500.
 */
export type ChaosHook = (op: string, body: any, request: ChaosRequest) => Fault | undefined;

export interface ChaosStats {
  /** Requests read, per operation, whatever happened to them next. */
  requests: Record<string, number>;
  /** Requests answered with a fault, per operation: an error, a PutRecords with failed entries, a hang. */
  faults: Record<string, number>;
  /** PutRecords entries failed by a `putRecordsPartial` fault. */
  failedRecords: number;
  /** Connections reset on arrival in `refuse` mode. */
  refusedConnections: number;
}

export interface ChaosProxy {
  /** `http://127.0.0.1:<port>`; give it to the client instead of the emulator's endpoint. */
  endpoint: string;
  mode(): ChaosMode;
  setMode(mode: ChaosMode): void;
  /** Installs the per-operation hook (undefined removes it). */
  onRequest(hook: ChaosHook | undefined): void;
  /** A copy of the counters since the start (or the last `resetStats()`). */
  stats(): ChaosStats;
  resetStats(): void;
}

/** Connection-level headers: they describe one hop, not the message, so they are never copied. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'content-length',
]);

/** A whole HTTP answer, read before it is sent on (the proxies here may rewrite or replace it). */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders | OutgoingHttpHeaders;
  body: Buffer;
}

/** Starts a proxy to `target` (an emulator's endpoint) on a free loopback port; closed by t.teardown. */
export async function startChaosProxy(t: Test, target: string): Promise<ChaosProxy> {
  const upstream = new URL(target);
  // Idle sockets must expire before the emulator closes them (see IDLE_SOCKET_TIMEOUT_MS).
  const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_SOCKET_TIMEOUT_MS });
  let mode: ChaosMode = 'pass';
  let hook: ChaosHook | undefined;
  let stats = emptyStats();
  const sockets = new Set<Socket>();
  const held = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    res.on('error', () => {});
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket: Socket) => {
    if (mode === 'refuse') {
      stats.refusedConnections++;
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A reset socket may still surface a parse error; the default answer (a 400) is meaningless here.
  server.on('clientError', (_error, socket) => socket.destroy());

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const op = operationOf(req.headers['x-amz-target']);
    count(stats.requests, op);
    if (mode === 'refuse') {
      req.socket.resetAndDestroy();
      return;
    }
    if (mode === 'hang') {
      count(stats.faults, op);
      held.add(res);
      res.once('close', () => held.delete(res));
      return;
    }
    const body = parseJson(raw);
    let fault: Fault | undefined;
    try {
      fault = hook?.(op, body, { method: req.method ?? 'POST', path: req.url ?? '/', headers: req.headers });
      if (fault?.kind === 'putRecordsPartial' && op !== 'PutRecords') throw new Error(`a putRecordsPartial fault was returned for ${op}`);
    } catch (error) {
      return reply(res, hookFailed(req, error));
    }
    if (fault === undefined) return reply(res, await forward(req, raw));
    if (fault.kind === 'error') {
      count(stats.faults, op);
      return reply(res, errorAnswer(req, fault.status, fault.type, fault.message ?? `${fault.type} (injected by the chaos proxy)`));
    }
    return reply(res, await putRecordsPartial(req, raw, body, fault.fail));
  }

  async function putRecordsPartial(
    req: IncomingMessage,
    raw: Buffer,
    body: unknown,
    fail: (index: number, entry: PutRecordsEntry) => string | undefined,
  ): Promise<Answer> {
    const request = body as { StreamName?: string; Records?: PutRecordsEntry[] } | undefined;
    const entries = request?.Records;
    // A malformed call is the target's to refuse.
    if (!Array.isArray(entries)) return forward(req, raw);
    let codes: Array<string | undefined>;
    try {
      codes = entries.map((entry, i) => fail(i, entry));
    } catch (error) {
      return hookFailed(req, error);
    }
    const kept = entries.filter((_, i) => codes[i] === undefined);
    if (kept.length === entries.length) return forward(req, raw);

    let answer: Answer | undefined;
    let result: { FailedRecordCount?: number; Records?: object[] } = {};
    if (kept.length > 0) {
      answer = await forward(req, Buffer.from(JSON.stringify({ ...request, Records: kept })));
      if (answer.status !== 200) return answer;
      result = JSON.parse(answer.body.toString('utf8')) as typeof result;
    }
    const forwarded = result.Records ?? [];
    let next = 0;
    const records = codes.map((code) =>
      code === undefined ? forwarded[next++]! : { ErrorCode: code, ErrorMessage: entryErrorMessage(code, request?.StreamName) },
    );
    const injected = entries.length - kept.length;
    count(stats.faults, 'PutRecords');
    stats.failedRecords += injected;
    return {
      status: 200,
      headers: answer?.headers ?? answerHeaders(req),
      body: Buffer.from(JSON.stringify({ ...result, FailedRecordCount: (result.FailedRecordCount ?? 0) + injected, Records: records })),
    };
  }

  /** A broken hook is a broken test: fail it, rather than pass the mistake off as an outage. */
  function hookFailed(req: IncomingMessage, error: unknown): Answer {
    const message = `chaos proxy hook: ${(error as Error)?.message ?? String(error)}`;
    t.fail(message);
    return errorAnswer(req, 500, 'InternalFailure', message);
  }

  function forward(req: IncomingMessage, body: Buffer): Promise<Answer> {
    return forwardRequest(upstream, agent, req, body);
  }

  function releaseHeld(): void {
    for (const res of held) res.destroy();
    held.clear();
  }

  const listening = await serveOnLoopback(server);
  t.teardown(async () => {
    releaseHeld();
    for (const socket of sockets) socket.destroy();
    agent.destroy();
    await listening.close();
  });

  return {
    endpoint: listening.endpoint,
    mode: () => mode,
    setMode(next) {
      const previous = mode;
      mode = next;
      if (previous === 'hang' && next !== 'hang') releaseHeld();
      if (next === 'refuse') for (const socket of sockets) socket.resetAndDestroy();
    },
    onRequest(next) {
      hook = next;
    },
    stats: () => ({
      requests: { ...stats.requests },
      faults: { ...stats.faults },
      failedRecords: stats.failedRecords,
      refusedConnections: stats.refusedConnections,
    }),
    resetStats() {
      stats = emptyStats();
    },
  };
}

function emptyStats(): ChaosStats {
  return { requests: {}, faults: {}, failedRecords: 0, refusedConnections: 0 };
}

function count(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** 'Kinesis_20131202.PutRecords' -> 'PutRecords'; requests without the header count as 'unknown'. */
export function operationOf(target: string | string[] | undefined): string {
  const value = Array.isArray(target) ? target[0] : target;
  if (!value) return 'unknown';
  return value.slice(value.lastIndexOf('.') + 1);
}

export function parseJson(raw: Buffer): unknown {
  try {
    return raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}

function copyable(headers: IncomingHttpHeaders | OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  return out;
}

/** Sends `req`, with `body`, to the target through `agent` and reads the whole answer. */
export function forwardRequest(upstream: URL, agent: Agent, req: IncomingMessage, body: Buffer, retried = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { ...copyable(req.headers), 'content-length': body.length };
    const out: ClientRequest = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
      answer.on('error', reject);
    });
    out.on('error', (error: NodeJS.ErrnoException) => {
      // A kept-alive socket the target closed just as it was reused: the request never reached it.
      if (!retried && out.reusedSocket && error.code === 'ECONNRESET') forwardRequest(upstream, agent, req, body, true).then(resolve, reject);
      else reject(error);
    });
    out.end(body);
  });
}

/** What an AWS JSON service sends with an answer it makes itself. */
function answerHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  return { 'content-type': req.headers['content-type'] ?? 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() };
}

/** An AWS JSON error: the SDK names its exception after `__type`. */
export function errorAnswer(req: IncomingMessage, status: number, type: string, message: string): Answer {
  return { status, headers: answerHeaders(req), body: Buffer.from(JSON.stringify({ __type: type, message })) };
}

export function reply(res: ServerResponse, answer: Answer): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(answer.status, { ...copyable(answer.headers), 'content-length': answer.body.length });
  res.end(answer.body);
}

/** The ErrorMessage Kinesis gives a failed entry, marked as injected. */
function entryErrorMessage(code: string, stream: string | undefined): string {
  if (code === 'ProvisionedThroughputExceededException') return `Rate exceeded for shard in stream ${stream ?? '?'} (injected by the chaos proxy).`;
  if (code === 'InternalFailure') return 'Internal service failure (injected by the chaos proxy).';
  return `${code} (injected by the chaos proxy).`;
}
