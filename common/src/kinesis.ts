/**
 * The one place that builds AWS Kinesis clients. The production path and the local one are the same
 * SDK code; only the endpoint differs. Local emulators (kinesalite) speak HTTP/1.1 only, while the
 * SDK's Kinesis client defaults to an HTTP/2 handler, so a custom endpoint gets an HTTP/1.1 handler.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

export interface AwsEndpointConfig {
  region: string;
  /** Unset in AWS; an emulator's URL locally. */
  endpoint?: string | undefined;
}

/** Emulators accept any signature; give them fixed credentials when none are configured. */
function localCredentials(endpoint: string | undefined) {
  if (!endpoint || process.env.AWS_ACCESS_KEY_ID) return undefined;
  return { accessKeyId: 'local', secretAccessKey: 'local' };
}

/**
 * How long a kept-alive socket may sit idle before the client drops it, when the server gives no
 * shorter `Keep-Alive: timeout=N` hint. Node's agent only honours that hint (as N − 1 s) when the
 * agent has a timeout of its own; without one it keeps idle sockets forever, and a request written
 * on a socket the server is closing fails with ECONNRESET. The emulators are Node servers that
 * close idle sockets after 5 s, so a client that paused ~5–6 s failed its next call.
 */
export const IDLE_SOCKET_TIMEOUT_MS = 30_000;

export function http1Handler(): NodeHttpHandler {
  const agentOptions = { keepAlive: true, maxSockets: 64, timeout: IDLE_SOCKET_TIMEOUT_MS };
  return new NodeHttpHandler({
    httpAgent: new Agent(agentOptions),
    httpsAgent: new HttpsAgent(agentOptions),
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
  });
}

/**
 * A Kinesis client with SDK retries off: every caller here retries itself, with its own backoff and
 * counters, so that a retry is never hidden from the metrics.
 */
export function createKinesisClient(config: AwsEndpointConfig): KinesisClient {
  // The SDK warns once per process that its 2027 releases need Node 22; the image runs Node 22,
  // and on Node 20 the warning would break every CLI's one-line output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const credentials = localCredentials(config.endpoint);
  return new KinesisClient({
    region: config.region,
    maxAttempts: 1,
    ...(config.endpoint ? { endpoint: config.endpoint, requestHandler: http1Handler() } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

/** Names of the Kinesis errors callers branch on. */
export function awsErrorName(error: unknown): string {
  return (error as { name?: string } | null)?.name ?? 'Error';
}

export function isThrottle(error: unknown): boolean {
  const name = awsErrorName(error);
  return name === 'ProvisionedThroughputExceededException' || name === 'LimitExceededException' || name === 'ThrottlingException';
}

/** Network-level failures and 5xx: worth waiting for (the emulator may still be starting). */
export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; $metadata?: { httpStatusCode?: number }; name?: string } | null;
  const status = e?.$metadata?.httpStatusCode;
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'].includes(e?.code ?? '') ||
    e?.name === 'TimeoutError' ||
    e?.name === 'ResourceNotFoundException' ||
    e?.name === 'ResourceInUseException' ||
    (status !== undefined && status >= 500)
  );
}
