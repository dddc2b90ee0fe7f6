// Config for waking and suspending tenants' database machines: the global Machines API settings and the per-tenant `fly` block.
import { z } from 'zod';
import { duration, optionalDuration } from './duration.js';

/** Global `fly`: how pgporter talks to the Machines API. */
export const flyGlobalSchema = z
  .strictObject({
    /** Machines API base URL. Default https://api.machines.dev; inside Fly use http://_api.internal:4280. */
    apiBaseUrl: z
      .string()
      .regex(/^https?:\/\/[^\s/]+/, 'expected an http(s) URL')
      .transform((v) => v.replace(/\/+$/, ''))
      .default('https://api.machines.dev'),
    /** Bearer token, typically "${FLY_API_TOKEN}"; secret, never logged. Optional for the local driver. */
    token: z.string().optional(),
    /** Timeout of one API request (a wait request gets its own wait time on top). Default 10s. */
    requestTimeout: duration('10s'),
    /** Total time to get a machine to `started`, API calls and waits included. Default 30s. */
    wakeTimeout: duration('30s'),
    retry: z
      .strictObject({
        /** Attempts per API call, the first included. Default 4. */
        maxAttempts: z.number().int().min(1).max(20).default(4),
        /** First backoff before jitter; doubles per attempt. Default 200ms. */
        baseDelay: duration('200ms'),
        /** Largest backoff between attempts (a Retry-After header may ask for longer). Default 5s. */
        maxDelay: duration('5s'),
      })
      .prefault({}),
  })
  .prefault({});

/** Per-tenant `fly`: which machine holds the tenant's database and when to suspend it. */
export const flyTenantSchema = z
  .strictObject({
    /** fly: the Machines API (needs app and machineId); local: SIGSTOP/SIGCONT a local PostgreSQL (needs dataDir). */
    driver: z.enum(['fly', 'local']).default('fly'),
    /** Fly app name. */
    app: z.string().min(1).optional(),
    /** Fly machine id. */
    machineId: z.string().regex(/^[A-Za-z0-9]+$/, 'letters and digits only').optional(),
    /** local driver: the PostgreSQL data directory (its postmaster.pid names the process). */
    dataDir: z.string().min(1).optional(),
    /** Suspend the machine after this long with no client connections. Absent: never suspend. */
    suspendAfterIdle: optionalDuration(),
    /** Overrides the global fly.wakeTimeout for this tenant. */
    wakeTimeout: optionalDuration(),
  })
  .superRefine((v, ctx) => {
    if (v.driver === 'fly') {
      if (v.app === undefined) ctx.addIssue({ code: 'custom', path: ['app'], message: 'required when driver is "fly"' });
      if (v.machineId === undefined) ctx.addIssue({ code: 'custom', path: ['machineId'], message: 'required when driver is "fly"' });
    } else if (v.dataDir === undefined) {
      ctx.addIssue({ code: 'custom', path: ['dataDir'], message: 'required when driver is "local"' });
    }
  });

export type FlyGlobalConfig = z.output<typeof flyGlobalSchema>;
export type FlyTenantConfig = z.output<typeof flyTenantSchema>;
