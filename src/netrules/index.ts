// Public face of network restrictions: the per-tenant allowlist check and the errors it refuses with.
export {
  createAccessControl,
  allowlistDenied,
  allowlistUnavailable,
  type AccessControl,
  type AccessControlOptions,
  type SessionDirectory,
} from './access-control.js';
