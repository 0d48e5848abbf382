/**
 * The one place that builds DynamoDB clients, and the retry rule every lease call follows. Same
 * pattern as common/src/kinesis.ts: production and local differ only by the endpoint; dynalite
 * speaks HTTP/1.1 only, so a custom endpoint gets an HTTP/1.1 handler and fixed local credentials;
 * SDK retries are off (maxAttempts 1) so each retry is ours, counted and bounded.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { http1Handler, awsErrorName, type AwsEndpointConfig } from '../../../common/src/kinesis.js';
import { DEFAULT_BACKOFF, backoffDelay, sleep, type BackoffOptions } from '../../../common/src/retry.js';

export function createDynamoClient(config: AwsEndpointConfig): DynamoDBClient {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const local = config.endpoint && !process.env.AWS_ACCESS_KEY_ID;
  return new DynamoDBClient({
    region: config.region,
    maxAttempts: 1,
    ...(config.endpoint ? { endpoint: config.endpoint, requestHandler: http1Handler() } : {}),
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}

/** The normal "someone else changed the item first" answer to a conditional write. */
export function isConditionalFailure(error: unknown): boolean {
  return awsErrorName(error) === 'ConditionalCheckFailedException';
}

const RETRIABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
  // A write that collided with another transaction on the same item; DynamoDB says to retry.
  'TransactionConflictException',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Throttling, 5xx and network failures: a later attempt can succeed. Never a conditional failure. */
export function isRetriableDynamoError(error: unknown): boolean {
  if (isConditionalFailure(error)) return false;
  const e = error as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } } | null;
  const status = e?.$metadata?.httpStatusCode;
  return RETRIABLE_NAMES.has(awsErrorName(error)) || NETWORK_CODES.has(e?.code ?? '') || (status !== undefined && status >= 500);
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  backoff: BackoffOptions;
  random: () => number;
  signal?: AbortSignal | undefined;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 4,
  backoff: DEFAULT_BACKOFF,
  random: Math.random,
});

/**
 * Runs `op` until it succeeds, fails with an error that is not retriable (conditional failures
 * included), or `attempts` are used up; then the last error is thrown. `op` receives the attempt
 * number, so a conditional write can tell a first refusal from one that may follow its own earlier
 * attempt which landed but whose answer was lost.
 */
export async function withRetry<T>(op: (attempt: number) => Promise<T>, policy: RetryPolicy = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op(attempt);
    } catch (error) {
      if (!isRetriableDynamoError(error) || attempt + 1 >= policy.attempts || policy.signal?.aborted) throw error;
      await sleep(backoffDelay(attempt, policy.backoff, policy.random), policy.signal);
    }
  }
}
