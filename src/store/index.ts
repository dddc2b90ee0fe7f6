// Public face of the tenant/allowlist store.
export type { Store, StoreEvent, StoreStatus, TenantRecord } from './types.js';
export { MemoryStore } from './memory.js';
export { EmbeddedStore, EMBEDDED_FORMAT, type EmbeddedStoreOptions } from './embedded.js';
export { RedisStore, type RedisStoreOptions } from './redis.js';
export { createStore } from './create.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { registerStoreMetrics, type StoreMetrics } from './metrics.js';
