// The timeouts a pool's sweep enforces on its clients: idle in transaction (holding a server in an open transaction) and client idle.
import { ClientError } from '../errors.js';
import type { TenantPoolConfig } from '../config/index.js';
import type { PoolClient } from './client.js';
import type { PoolMetrics } from './pool-metrics.js';

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
