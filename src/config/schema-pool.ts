// Config for connection pooling: the per-tenant `pool` block (mode, sizes, timeouts) and the global `pool` limits.
import { z } from 'zod';
import { duration, durationOrOff } from './duration.js';

/** A tenant's pooling settings; one pool per (tenant, database, user) uses them. */
export const tenantPoolSchema = z
  .strictObject({
    /** transaction (default): a server serves a client for one transaction; session: for the client's whole connection. */
    mode: z.enum(['transaction', 'session']).default('transaction'),
    /** Most server connections per (database, user) pool. Default 10. */
    size: z.number().int().min(1).max(10_000).default(10),
    /** Server connections kept open even when idle (opened once a client has logged in). Default 0. */
    minSize: z.number().int().min(0).default(0),
    /** Most client connections for this tenant at once; over it clients get 53300. Default: no per-tenant limit. */
    maxClientConnections: z.number().int().min(1).optional(),
    /** Most client connections for this tenant across every node of the fleet (Redis store); 53300 over it. Default: none. */
    maxClientConnectionsFleet: z.number().int().min(1).optional(),
    /** Longest a client waits for a server before it gets an error. Default 30s. */
    queryWaitTimeout: duration('30s'),
    /** An unused server connection is closed after this long (minSize excepted). Default 10m. */
    serverIdleTimeout: duration('10m'),
    /** A server connection is closed once this old (±10% jitter), when next idle. Default 1h. */
    serverLifetime: duration('1h'),
    /** A client idle inside a transaction this long is disconnected. Default off. */
    idleTransactionTimeout: durationOrOff(),
    /** A client that sends nothing for this long (outside a transaction) is disconnected. Default off. */
    clientIdleTimeout: durationOrOff(),
    /** Run on a server before another client gets it in session mode. Default DISCARD ALL. */
    resetQuery: z.string().min(1).default('DISCARD ALL'),
    /** Server-side prepared statements kept per server connection (least recently used closed first). Default 256. */
    preparedStatementCacheSize: z.number().int().min(1).max(100_000).default(256),
  })
  .refine((p) => p.minSize <= p.size, { message: 'minSize must not exceed size', path: ['minSize'] });

/** Global pooling limits across tenants. */
export const globalPoolSchema = z
  .strictObject({
    /** Most client connections across every tenant; over it clients get 53300. Default 10000. */
    maxClientConnections: z.number().int().min(1).default(10_000),
  })
  .prefault({});

export type TenantPoolConfig = z.output<typeof tenantPoolSchema>;
export type GlobalPoolConfig = z.output<typeof globalPoolSchema>;
