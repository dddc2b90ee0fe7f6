// Public face of the serving layer: the Backend seam, the pooling backend, and cancel-key routing.
export type { Admission, Backend, ServedSession, ClientSession, SessionDone, SessionEnd, CancelTarget } from './types.js';
export { PoolBackend, type PoolBackendOptions, type AdmissionPeers } from './pool-backend.js';
export { LocalPermits, type ServerPermits, type PermitReceiver, type PoolFacts } from './permits.js';
export { CancelKeys, sendCancel } from './cancel-keys.js';
export type { ClientSnapshot, PoolSnapshot, ServerSnapshot } from './snapshots.js';
