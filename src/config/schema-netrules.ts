// Config for network restrictions: the default policy, where tenants and allowlists are stored, and the admin API listener.
import { z } from 'zod';
import { duration, optionalDuration } from './duration.js';
import { CidrParseError, parseCidr } from '../net/index.js';
import { consoleUsersSchema } from './schema-console.js';

const port = z.number().int().min(0).max(65535);

/** One allowlist entry: an IPv4/IPv6 address or CIDR, refused with the entry named when it does not parse. */
export const allowlistEntrySchema = z.string().superRefine((text, ctx) => {
  try {
    parseCidr(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof CidrParseError ? err.message : `invalid address or CIDR "${text}"` });
  }
});

/** A tenant's allowlist; absent means the default policy. The cap keeps one request from exhausting memory. */
export const allowlistSchema = z.array(allowlistEntrySchema).max(100_000);

/**
 * `netrules.authFailureBan`: repeated failed logins from one client address for one tenant ban that address for that
 * tenant, on every node (Redis) or this node (embedded/memory store). Defaults follow Supavisor's circuit breaker.
 */
export const authFailureBanSchema = z
  .strictObject({
    /** Off: no failure is counted and nobody is banned (a tenant cannot turn it back on). Default true. */
    enabled: z.boolean().default(true),
    /** Failed logins within `window` that make a ban. Default 10. */
    maxFailures: z.number().int().min(1).max(1_000_000).default(10),
    /** Counting window, from the first failure counted. Default 150s. */
    window: duration('150s'),
    /** How long a ban lasts. Default 120s. */
    banTime: duration('120s'),
    /** How often a node re-reads the fleet's bans from Redis (pub/sub delivers them at once; this catches a lost message). Default 1s. */
    syncInterval: duration('1s'),
  })
  .prefault({});

/** A tenant's `authFailureBan`: changes the global values for this tenant; absent fields keep them. */
export const authFailureBanOverrideSchema = z.strictObject({
  /** false: never ban for this tenant. */
  enabled: z.boolean().optional(),
  maxFailures: z.number().int().min(1).max(1_000_000).optional(),
  window: optionalDuration(),
  banTime: optionalDuration(),
});

/** `netrules`: what applies to a tenant that has no allowlist, and bans after repeated failed logins. */
export const netrulesSchema = z
  .strictObject({
    /** allow (default): a tenant without a list admits every address; deny: it admits none. */
    defaultPolicy: z.enum(['allow', 'deny']).default('allow'),
    authFailureBan: authFailureBanSchema,
  })
  .prefault({});

/**
 * `store`: where tenants and allowlists live. Tenants in `tenants:` seed the store at start: an id the store
 * does not hold yet is written from the config; an id it already holds keeps the stored (possibly edited) record.
 */
export const storeSchema = z
  .strictObject({
    /** embedded (default): a JSON file on local disk; redis: shared by every node; memory: config only, lost on restart. */
    kind: z.enum(['embedded', 'redis', 'memory']).default('embedded'),
    /** The embedded store's file; written atomically (temp file, fsync, rename). */
    path: z.string().min(1).default('./pgporter-state.json'),
    /** How often the embedded file is stat()ed in case a file-system watch event was missed. */
    pollInterval: duration('1s'),
    redis: z
      .strictObject({
        /** redis://[:password@]host:port[/db] or rediss:// for TLS. */
        url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
        /** Overrides a password in the URL; write it as ${ENV_VAR}. */
        password: z.string().optional(),
        /** CA bundle to verify a rediss:// server. */
        caFile: z.string().optional(),
        /** Prefix for every key and channel, so several deployments can share one Redis. */
        keyPrefix: z.string().default('pgporter:'),
        /** Full resync period: bounds how long a lost pub/sub message can leave a node stale. */
        resyncInterval: duration('5s'),
        /** Time to wait for Redis at start before serving with `loaded=false`. */
        connectTimeout: duration('2s'),
        /** A node that starts and finds Redis empty waits this long for a peer to restore the fleet's tenants before seeding from config (default 2 x resyncInterval, at least 5s). */
        restoreGrace: optionalDuration(),
      })
      .prefault({}),
  })
  .prefault({});

/** `admin`: the HTTP API that edits tenants and allowlists. */
export const adminSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Loopback by default: expose it deliberately. */
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(9188),
    /** Bearer tokens; the name appears in audit logs, the token never does. Write tokens as ${ENV_VAR}. */
    tokens: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(64),
          token: z.string().min(16, 'tokens must be at least 16 characters'),
        }),
      )
      .default([]),
    /** Largest request body accepted, in bytes (default 1 MiB). */
    maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1_048_576),
    /** Users of the admin console (database `pgporter` on the client port, src/console); empty (default): no console. */
    consoleUsers: consoleUsersSchema,
    /** Real client addresses (from the PROXY header) that may reach the console, as CIDRs. Default: loopback only. */
    consoleAllowlist: z.array(allowlistEntrySchema).max(10_000).default(['127.0.0.0/8', '::1/128']),
  })
  .prefault({});
