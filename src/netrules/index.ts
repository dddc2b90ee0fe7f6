// Public face of network restrictions: the per-tenant allowlist check, bans after repeated failed logins, and the errors they refuse with.
export {
  createAccessControl,
  allowlistDenied,
  allowlistUnavailable,
  type AccessControl,
  type AccessControlOptions,
  type SessionDirectory,
} from './access-control.js';
export { BanList, authBanned, type BanListOptions, type BanEntry } from './bans.js';
export { BanCache } from './ban-cache.js';
export { MemoryBanBackend, type BanBackend, type BanPolicy, type FailureOutcome } from './ban-backend.js';
export { RedisBanBackend, type RedisBanOptions } from './bans-redis.js';
