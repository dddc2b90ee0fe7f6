// Public face of the tenant/allowlist store.
export type { Store, StoreEvent, StoreStatus, TenantRecord } from './types.js';
export { MemoryStore } from './memory.js';
