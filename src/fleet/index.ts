// Public face of the fleet area: several pgporter nodes on one Redis, or a node alone.
export type { Fleet, FleetLock, ForwardedCancel, MachineEvent, NodeInfo, TenantActivity } from './types.js';
export { createFleet, nodeIdFor } from './create.js';
export { LocalFleet } from './local-fleet.js';
export { RedisFleet, type RedisFleetOptions } from './redis-fleet.js';
export { keyPid, slotOf, workerOf, KEYS_PER_WORKER } from './cancel-keys-layout.js';
export { AddressRateLimiter } from './rate-limiter.js';
export { registerFleetMetrics, type FleetMetrics } from './fleet-metrics.js';
