// The declarative config table: every option with its type, default and unit; the one place config shape is defined.
import { z } from 'zod';
import { duration } from './duration.js';
import { authSchema } from './schema-auth.js';
import { adminSchema, allowlistEntrySchema as cidrSchema, allowlistSchema, authFailureBanOverrideSchema, netrulesSchema, storeSchema } from './schema-netrules.js';
import { flyGlobalSchema, flyTenantSchema } from './schema-wake.js';
import { globalPoolSchema, tenantPoolSchema } from './schema-pool.js';
import { fleetSchema } from './schema-fleet.js';
import { failoverSchema, healthSchema, routingSchema, upstreamEntrySchema } from './schema-ha.js';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);

/** Upstream PostgreSQL for a tenant. */
export const upstreamSchema = z.strictObject({
  host: host, // hostname or IP (a Fly machine's private_ip, fdaa:…)
  port: port.default(5432),
  /** TLS towards the upstream: disable (default), require (no verification) or verify-full. */
  tls: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  /** CA bundle for verify-full. */
  caFile: z.string().optional(),
});

/** One server of a tenant's `upstreams` list: an upstream plus name, region and role hint. */
export const upstreamEntry = upstreamEntrySchema(upstreamSchema);

/** A tenant: whose database this is, where it runs, who may reach it and how it is pooled. */
export const tenantSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_", starting with a letter or digit'),
  /** The one server (no routing, no probes). Give this or `upstreams`, not both. */
  upstream: upstreamSchema.optional(),
  /** Several servers (a primary and replicas): roles probed at run time, clients routed by target, failover. */
  upstreams: z
    .array(upstreamEntry)
    .min(1)
    .max(16)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((u, i) => {
        const n = u.name ?? `${u.host}:${u.port}`;
        if (seen.has(n)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate upstream name "${n}"` });
        seen.add(n);
      });
    })
    .optional(),
  /** How clients are routed among `upstreams` (ignored with a single `upstream`). */
  routing: routingSchema.optional(),
  /** Refuse clients that did not negotiate TLS (default: the global tls.requireTls). */
  requireTls: z.boolean().optional(),
  /** Initial allowlist (CIDRs or addresses); absent means the netrules default policy applies. */
  allowlist: allowlistSchema.optional(),
  /** End sessions already open from an address that an allowlist edit removes. */
  dropDisallowedSessions: z.boolean().default(false),
  /** How pgporter authenticates this tenant's clients itself; defaults to scram-sha-256 with no users. */
  auth: authSchema.prefault({}),
  /** The machine holding this tenant's database, for wake-on-connect and suspend-when-idle. Absent: always awake. With `upstreams`, each entry has its own. */
  fly: flyTenantSchema.optional(),
  /** Connection pooling for this tenant: mode, size, timeouts. */
  pool: tenantPoolSchema.prefault({}),
  /** Changes netrules.authFailureBan for this tenant (absent: the global values). */
  authFailureBan: authFailureBanOverrideSchema.optional(),
}).superRefine((t, ctx) => {
  if ((t.upstream === undefined) === (t.upstreams === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['upstream'], message: t.upstream ? 'give upstream or upstreams, not both' : 'required (or upstreams)' });
  }
  if (t.upstreams !== undefined && t.fly !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['fly'], message: 'with an upstreams list, give each upstream its own fly block (each server runs on its own machine)' });
  }
  const pref = t.routing?.preferredPrimary;
  if (pref !== undefined && !(t.upstreams ?? []).some((u) => (u.name ?? `${u.host}:${u.port}`) === pref)) {
    ctx.addIssue({ code: 'custom', path: ['routing', 'preferredPrimary'], message: `no upstream named "${pref}"` });
  }
});

export type TenantConfig = z.output<typeof tenantSchema>;

export const configSchema = z.strictObject({
  /** Worker processes sharing the listener, each with its own pools: a number (1..8, the cancel key has 3 worker bits) or `auto`, one per core. */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(8)]).default('auto'),
  /** Who spreads new connections over workers when they share one listening socket (Node before 22.12, or port 0):
   * `kernel`: each worker accepts from the socket itself (the supervisor stays off the data path; the spread follows
   * which worker is free first); `round-robin`: the supervisor accepts every connection and passes it to the next
   * worker over IPC (an even spread, at a few hundred µs of supervisor CPU per connection). With `reusePort` (Node
   * 22.12 and later) every worker has a socket of its own and the kernel spreads by address hash either way. */
  workerScheduling: z.enum(['kernel', 'round-robin']).default('kernel'),
  listen: z
    .strictObject({
      host: host.default('0.0.0.0'),
      port: port.default(6432),
    })
    .prefault({}),
  proxyProtocol: z
    .strictObject({
      /** required: every connection must start with a header; optional: honoured when present; off: never read. */
      mode: z.enum(['required', 'optional', 'off']).default('optional'),
      /** CIDRs of the proxies whose headers are believed (Fly's proxy). Default: loopback only. */
      trustedProxies: z.array(cidrSchema).default(['127.0.0.0/8', '::1/128']),
      /** How long a peer has to send a complete header. */
      headerTimeout: duration('3s'),
    })
    .prefault({}),
  tls: z
    .strictObject({
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      /** Refuse plain-text clients for every tenant (a tenant's requireTls overrides). */
      requireTls: z.boolean().default(false),
    })
    .prefault({}),
  startup: z
    .strictObject({
      /** Largest StartupMessage accepted, in bytes (PostgreSQL's own limit is 10000). */
      maxPacketSize: z.number().int().min(64).max(1_048_576).default(10_000),
      /** Time from accept to a complete StartupMessage. */
      timeout: duration('10s'),
    })
    .prefault({}),
  upstream: z
    .strictObject({
      /** Time to open and authenticate a server connection. */
      connectTimeout: duration('5s'),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: host.default('127.0.0.1'),
      port: port.default(9187),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    })
    .prefault({}),
  netrules: netrulesSchema,
  store: storeSchema,
  admin: adminSchema,
  fly: flyGlobalSchema,
  pool: globalPoolSchema,
  fleet: fleetSchema,
  health: healthSchema,
  failover: failoverSchema,
  shutdown: z
    .strictObject({
      /** SIGTERM or POST /v1/drain: how long clients may finish their transactions before the rest are ended. Default 30s. */
      timeout: duration('30s'),
    })
    .prefault({}),
  tenants: z.array(tenantSchema).default([]),
});

export type Config = z.output<typeof configSchema>;
