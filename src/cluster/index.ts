// Public face of the cluster area: one node as a supervisor and several worker processes (`workers` in the config).
export { startSupervisor, type Supervisor, type SupervisorOptions } from './supervisor.js';
export { workerCount } from './worker-count.js';
export { hasReusePort } from './reuse-port.js';
export { mergeMetrics } from './metrics-merge.js';
export { mergePools } from './supervisor-admin.js';
export { PermitBroker, type BrokerOutput } from './permit-broker.js';
export { Endpoint, IpcError, type Channel, type Protocol } from './ipc.js';
