// The timeouts a pool's sweep enforces on its clients: waiting too long for a server, idle in transaction (holding a server in an open transaction), and client idle.
import { ClientError } from '../errors.js';
import type { TenantPoolConfig } from '../config/index.js';
import type { PoolClient } from './client.js';
import type { PoolMetrics } from './pool-metrics.js';
import type { Waiters } from './pool-waiters.js';

/** Ends the clients that have waited for a server longer than queryWaitTimeout (ms). */
export function sweepWaitTimeout(waiters: Waiters, queryWaitTimeout: number, metrics: PoolMetrics, tenantId: string): void {
  const limit = Date.now() - queryWaitTimeout;
  // FIFO: the oldest waiters are at the front, so stop at the first one still in time.
  waiters.fail(
    waiters.count,
    () => {
      metrics.errors.inc({ tenant: tenantId, kind: 'query_wait_timeout' });
      return new ClientError('QUERY_WAIT_TIMEOUT', 'query_wait_timeout: no server connection became free in time');
    },
    (c) => c.waitingSince > limit,
  );
}

/** Ends the clients of one pool that stayed quiet past their limit (`now` is the coarse clock, as `lastActive`). */
export function sweepClientTimeouts(clients: Iterable<PoolClient>, cfg: TenantPoolConfig, now: number, metrics: PoolMetrics, tenantId: string): void {
  for (const c of clients) {
    const sv = c.server;
    const quiet = now - c.lastActive;
    if (sv && cfg.idleTransactionTimeout > 0 && sv.idleInTransaction && quiet > cfg.idleTransactionTimeout) {
      metrics.errors.inc({ tenant: tenantId, kind: 'idle_transaction_timeout' });
      c.fail(new ClientError('IDLE_IN_TRANSACTION_TIMEOUT', 'terminating connection due to idle-in-transaction timeout'));
    } else if (cfg.clientIdleTimeout > 0 && quiet > cfg.clientIdleTimeout && (c.state === 'idle' || (sv !== undefined && sv.clean))) {
      metrics.errors.inc({ tenant: tenantId, kind: 'client_idle_timeout' });
      c.fail(new ClientError('CLIENT_IDLE_TIMEOUT', 'terminating connection due to idle timeout'));
    }
  }
}
