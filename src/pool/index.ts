// Public face of the serving layer: the Backend seam, the per-client relay, and cancel-key routing.
export type { Backend, ClientSession, SessionEnd, CancelTarget } from './types.js';
export { SessionRelay, type SessionRelayOptions } from './session-relay.js';
export { CancelKeys, sendCancel } from './cancel-keys.js';
