// Config for high availability: a tenant's list of upstreams (primary and replicas, roles learned at run time), how clients are routed among them, and the health checks and failover timings.
import { z } from 'zod';
import { duration } from './duration.js';
import { flyTenantSchema } from './schema-wake.js';

/** libpq's target_session_attrs values: which kind of server a client wants. */
export const TARGETS = ['read-write', 'primary', 'read-only', 'standby', 'prefer-standby', 'any'] as const;
export type Target = (typeof TARGETS)[number];

/** One PostgreSQL server of a tenant (an entry of `upstreams`). Its role is learned at run time; `role` is only a hint. */
export function upstreamEntrySchema<T extends z.ZodRawShape>(base: z.ZodObject<T>) {
  return base.extend({
    /** Name in logs, metrics and SHOW UPSTREAMS; unique within the tenant. Default `host:port`. */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/, 'letters, digits, ".", ":", "-" and "_"').optional(),
    /** Fly region this server runs in (e.g. `ams`); replicas in FLY_REGION are preferred for reads. */
    region: z.string().regex(/^[a-z0-9]{2,8}$/, 'a region code such as "ams"').optional(),
    /** What the operator believes this server is. A hint only: the role probed at run time wins; breaks ties (split brain). */
    role: z.enum(['primary', 'replica']).optional(),
    /**
     * The machine running this server, for waking and suspending it as a tenant's `fly` does: a suspended replica is
     * not woken to be probed, and is used for reads only when no awake replica is left. Absent: always awake.
     */
    fly: flyTenantSchema.optional(),
  });
}

/** Per-tenant routing among its upstreams (only with `upstreams`; absent: every default). */
export const routingSchema = z
  .strictObject({
    /** What a client gets when it names no target (libpq's target_session_attrs names). Default read-write. */
    defaultTarget: z.enum(TARGETS).default('read-write'),
    /** read-only / standby clients when no replica is usable: `primary` serves them from the primary, `refuse` ends them (57P03). */
    readFallback: z.enum(['primary', 'refuse']).default('primary'),
    /** How replicas share reads: least-busy (fewest active servers, then random) or random. Same-region replicas first either way. */
    balance: z.enum(['least-busy', 'random']).default('least-busy'),
    /** The upstream (by name) that stays the writer when two say they are writable (split brain). Absent: writes are refused then. */
    preferredPrimary: z.string().optional(),
    /** Probe login: user and password the health probe logs in with. Absent: the credentials of the tenant's latest client. */
    probeUser: z.string().min(1).optional(),
    probePassword: z.string().optional(),
    /** Database the probe logs in to. Default: the probe user's latest client database, else `postgres`. */
    probeDatabase: z.string().min(1).optional(),
  });

/** Global `health`: the background role probe of every upstream in a list, and bans of those that fail. */
export const healthSchema = z
  .strictObject({
    /** Time between probes of one upstream. Default 2s. */
    interval: duration('2s'),
    /** A probe (login and query) that takes longer fails. Default 1s. */
    timeout: duration('1s'),
    /** First ban of an upstream that failed to connect or answer; doubled per failure in a row. Default 2s. */
    banMin: duration('2s'),
    /** Longest ban. Default 30s. */
    banMax: duration('30s'),
  })
  .prefault({});

/** Global `failover`: what read-write work does while the tenant has no writer. */
export const failoverSchema = z
  .strictObject({
    /** How long a client needing a writer waits for one (a replica being promoted) before it gets 57P03. Default 45s. */
    primaryWait: duration('45s'),
  })
  .prefault({});

export type RoutingConfig = z.output<typeof routingSchema>;

const DEFAULT_ROUTING: RoutingConfig = Object.freeze(routingSchema.parse({}));

/** A tenant's routing with its defaults (records without the block, or from before it existed). */
export function routingOf(t: { routing?: RoutingConfig | undefined }): RoutingConfig {
  return t.routing ?? DEFAULT_ROUTING;
}
export type HealthConfig = z.output<typeof healthSchema>;
export type FailoverConfig = z.output<typeof failoverSchema>;
