/** The lease layer's public contract; implementations live beside it. */
export { LeaseManager } from './manager.js';
export { resolveLeaseOptions, DEFAULT_FAILOVER_TIME_MS, type LeaseManagerOptions, type ResolvedLeaseOptions } from './options.js';
export { LeaseLostError } from './errors.js';
export { createDynamoClient, isConditionalFailure, isRetriableDynamoError } from './dynamo.js';
export { parentsFinished } from './balance.js';
export * from './types.js';
