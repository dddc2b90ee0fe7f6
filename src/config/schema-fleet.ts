// Config for several pgporter nodes on one Redis (store.kind: redis): node identity, liveness and cancel forwarding limits.
import { z } from 'zod';
import { duration } from './duration.js';

/** `fleet`: used only with the Redis store; a node alone (embedded or memory store) ignores it. */
export const fleetSchema = z
  .strictObject({
    /** This node's id. Default: FLY_MACHINE_ID, else "<hostname>-<pid>". */
    nodeId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64').optional(),
    /** How often a node renews its liveness in Redis (and publishes its client counts). Default 1s. */
    heartbeatInterval: duration('1s'),
    /** How long a node counts as alive after its last heartbeat: what it wrote for others expires with it. Default 5s. */
    nodeTtl: duration('5s'),
    /** CancelRequests accepted per second from one source address (a burst of twice that is allowed). Default 20. */
    cancelRatePerAddress: z.number().int().min(1).max(100_000).default(20),
  })
  .superRefine((v, ctx) => {
    if (v.nodeTtl < 2 * v.heartbeatInterval) ctx.addIssue({ code: 'custom', path: ['nodeTtl'], message: 'must be at least twice heartbeatInterval' });
  })
  .prefault({});

export type FleetConfig = z.output<typeof fleetSchema>;
