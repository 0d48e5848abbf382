/** The pure event-time engine: one ShardEngine per shard; see shard-engine.ts for the runtime contract. */
export { ShardEngine } from './shard-engine.js';
export { DEFAULT_ENGINE_CONFIG, engineConfig, type EngineConfig } from './options.js';
export { EngineStateError } from './errors.js';
export type { CardDirectory, Emission, IdleInput, PaymentInput, PaymentOutcome, StateChanges, StatusInput, StatusOutcome } from './types.js';
export { alertEventId, summaryEventId, EventIds, ALERT_ID_NAMESPACE, SUMMARY_ID_NAMESPACE } from './ids.js';
export { META_KEY, META_VERSION, PANE_KEY_PREFIX, hashKeyOf, inheritEntries, type EngineMeta } from './codec.js';
export type { ReportedCards } from './card-status.js';
export type { SipKey } from './recent.js';
