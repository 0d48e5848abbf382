/** The pure event-time engine: one ShardEngine per shard; see shard-engine.ts for the runtime contract. */
export { ShardEngine, META_KEY, PANE_KEY_PREFIX, WINDOW_KEY_PREFIX, type EngineMeta } from './shard-engine.js';
export {
  DEFAULT_ENGINE_CONFIG,
  engineConfig,
  EngineStateError,
  type EngineConfig,
  type Emission,
  type IdleInput,
  type PaymentInput,
  type PaymentOutcome,
  type StateChanges,
} from './types.js';
export { alertEventId, summaryEventId, ALERT_ID_NAMESPACE, SUMMARY_ID_NAMESPACE } from './ids.js';
