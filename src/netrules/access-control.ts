// Decides whether a client address may reach a tenant: one compiled CidrSet per allowlist version, checked synchronously on every connection.
import { Counter, Gauge } from 'prom-client';
import { ClientError } from '../errors.js';
import { CidrSet, normaliseIp } from '../net/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Store, StoreEvent, TenantRecord } from '../store/index.js';

export interface AccessControl {
  /**
   * undefined when allowed; otherwise the ClientError to send: ALLOWLIST_DENIED (FATAL 28000
   * `no allowlist entry for host "203.0.113.7", tenant "acme"`), or ALLOWLIST_UNAVAILABLE (08004) when the store has
   * never loaded (cold start with Redis down) and the tenant is restricted. Synchronous; a binary search per call.
   */
  check(tenant: TenantRecord, clientIp: string): ClientError | undefined;
  close(): void;
}

/** The open client sessions of a tenant, so an edit can end those it no longer admits. */
export interface SessionDirectory {
  sessionsOf(tenantId: string): Iterable<{ clientIp: string; end(err: ClientError): void }>;
}

export interface AccessControlOptions {
  store: Store;
  /** What a tenant without an allowlist gets (config netrules.defaultPolicy). */
  defaultPolicy: 'allow' | 'deny';
  metrics: Metrics;
  logger: Logger;
  sessions: SessionDirectory;
}

/** The refusal a client sees, worded like PostgreSQL's pg_hba refusal. */
export function allowlistDenied(clientIp: string, tenantId: string): ClientError {
  const host = normaliseIp(clientIp) ?? clientIp;
  return new ClientError('ALLOWLIST_DENIED', `no allowlist entry for host "${host}", tenant "${tenantId}"`);
}

export function allowlistUnavailable(tenantId: string): ClientError {
  return new ClientError('ALLOWLIST_UNAVAILABLE', `allowlist for tenant "${tenantId}" is unavailable: the tenant store has not been reachable since pgporter started`, {
    hint: 'Retry once the tenant store (Redis) is reachable again.',
  });
}

/** A set that admits nobody: what a list that cannot be compiled becomes, so a bad list never means allow-all. */
const DENY_ALL = new CidrSet([]);

export function createAccessControl(opts: AccessControlOptions): AccessControl {
  const { store, defaultPolicy, metrics, sessions } = opts;
  const log = opts.logger.child({ component: 'netrules' });
  // Keyed by the allowlist array itself: every store write makes a new record and array, so an edit is a new key
  // and the old compiled set goes away with the old record.
  const compiled = new WeakMap<readonly string[], CidrSet>();
  let closed = false;

  const compile = (tenantId: string, list: readonly string[]): CidrSet => {
    let set = compiled.get(list);
    if (set) return set;
    try {
      set = new CidrSet(list);
    } catch (err) {
      // Stores validate entries on write and on load; reaching this means a bug, and the safe answer is "nobody".
      log.error({ err, tenant: tenantId }, 'allowlist does not compile; refusing every address for this tenant');
      set = DENY_ALL;
    }
    compiled.set(list, set);
    return set;
  };

  const check = (tenant: TenantRecord, clientIp: string): ClientError | undefined => {
    const list = tenant.allowlist;
    if (list === undefined && defaultPolicy === 'allow') return undefined;
    if (!store.status().loaded) return allowlistUnavailable(tenant.id);
    if (list === undefined) return allowlistDenied(clientIp, tenant.id);
    return compile(tenant.id, list).has(clientIp) ? undefined : allowlistDenied(clientIp, tenant.id);
  };

  const registry = metrics.registry;
  registry.removeSingleMetric('pgporter_allowlist_entries');
  new Gauge({
    name: 'pgporter_allowlist_entries',
    help: 'Entries in each tenant allowlist (tenants without a list follow the default policy and are not listed)',
    labelNames: ['tenant'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of store.listTenants()) if (t.allowlist !== undefined) this.set({ tenant: t.id }, t.allowlist.length);
    },
  });
  registry.removeSingleMetric('pgporter_allowlist_sessions_dropped_total');
  const dropped = new Counter({
    name: 'pgporter_allowlist_sessions_dropped_total',
    help: 'Open sessions ended because an allowlist edit no longer admits their address, by tenant',
    labelNames: ['tenant'],
    registers: [registry],
  });

  const onChange = (e: StoreEvent): void => {
    if (closed || e.type !== 'tenant-upserted') return;
    const tenant = e.tenant;
    // Compile now, off the connection path, so the first client after an edit does not pay for a 10,000-entry list.
    if (tenant.allowlist !== undefined) compile(tenant.id, tenant.allowlist);
    if (!tenant.dropDisallowedSessions) return;
    let n = 0;
    for (const s of sessions.sessionsOf(tenant.id)) {
      const err = check(tenant, s.clientIp);
      if (err && err.code === 'ALLOWLIST_DENIED') {
        n++;
        try {
          s.end(err);
        } catch (endErr) {
          log.error({ err: endErr, tenant: tenant.id }, 'ending a disallowed session failed');
        }
      }
    }
    if (n > 0) {
      dropped.inc({ tenant: tenant.id }, n);
      log.info({ event: 'sessions_dropped', tenant: tenant.id, sessions: n }, 'ended sessions the edited allowlist no longer admits');
    }
  };
  store.onChange(onChange);
  for (const t of store.listTenants()) if (t.allowlist !== undefined) compile(t.id, t.allowlist);

  return {
    check,
    close() {
      closed = true;
    },
  };
}
