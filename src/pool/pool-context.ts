// What every pool shares from the backend that owns it (clock, logging, metrics, permits, wake and routing hooks): the seam between PoolBackend and Pool.
import type { Logger } from '../observability/index.js';
import type { MachineSubject, ServerConnection } from '../upstream/index.js';
import type { Pool } from './pool.js';
import type { PoolClient } from './client.js';
import type { PoolMetrics } from './pool-metrics.js';
import type { PoolFacts, ServerPermits } from './permits.js';

/** What every pool shares from the backend that owns it. */
export interface PoolContext {
  readonly clock: { now: number };
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: PoolMetrics;
  /** A client of this pool is gone (after the pool let it go). */
  clientEnded?(client: PoolClient): void;
  /** Wakes the machine behind the pool (the tenant's, or in an `upstreams` list the server's own). */
  beforeConnect?(machine: MachineSubject, notify: (message: string) => void): Promise<void>;
  /** Bumped when that machine suspends or resumes. */
  serverEpoch?(machineId: string): number;
  connect?(machine: MachineSubject, open: () => Promise<ServerConnection>): Promise<ServerConnection>;
  /** Permits to open servers: the pool's size is a total across the node's worker processes. */
  readonly permits: ServerPermits;
  /** Defaults and accepted settings learned by the same pool on the node's other workers. */
  readonly facts?: PoolFacts;
  /** Routed tenants (src/pool/ha-router.ts): a login's ParameterStatus says what the server is. */
  serverOpened?(pool: Pool, conn: ServerConnection): void;
  /** Routed tenants: a server could not be opened; true when its waiters were taken to be routed again. */
  serverOpenFailed?(pool: Pool, err: unknown): boolean;
  /** Routed tenants: a server reported a role parameter under a live session, or answered 25006 (read-only). */
  roleHint?(pool: Pool): void;
}
