// Public face of the wake area: waking suspended machines on connect, suspending idle ones, and the drivers behind that.
export { createWakeManager, type WakeManager, type WakeManagerOptions } from './waker.js';
export type { WakeSubject } from './subject.js';
export { connectWithRetry, isTransientConnectError, type ConnectRetryOptions } from './connect-retry.js';
export { FlyDriver, HOPELESS_STATES, type MachineDriver, type MachineState } from './driver.js';
export { LocalDriver, LocalDriverError } from './local-driver.js';
export { MachinesApi, type CallOptions, type Machine, type MachinesApiOptions, type StartResult, type WaitState } from './machines-api.js';
export { FlyApiError } from './fly-error.js';
export { couldRetry, retryAfterMs, parseRetryAfter, maxTotalBackoffMs, DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { apiFromConfig, defaultDriverFor } from './driver-factory.js';
export { wakeMetrics, type WakeMetrics } from './wake-metrics.js';
export { serverReach, type ServerReach } from './server-reach.js';
