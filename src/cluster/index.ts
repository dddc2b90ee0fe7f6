// Public face of the cluster area: one node as a supervisor and several worker processes (`workers` in the config).
export { startSupervisor, workerCount, type Supervisor, type SupervisorOptions } from './supervisor.js';
export { hasReusePort } from './worker.js';
export { mergeMetrics } from './metrics-merge.js';
export { mergePools } from './supervisor-admin.js';
export { PermitBroker, type BrokerOutput } from './permit-broker.js';
export { Endpoint, IpcError, type Channel, type Protocol } from './ipc.js';
