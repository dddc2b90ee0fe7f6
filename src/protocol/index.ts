// Public face of the wire-protocol helpers shared by the proxy and pool areas.
export * from './codes.js';
export * from './backend.js';
export * from './frontend.js';
export { MAX_FRONTEND_MESSAGE, frontendMessageProblem } from './frontend-limits.js';
