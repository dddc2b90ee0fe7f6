// The admin API of a node with several workers, served by the supervisor: store writes here, pool reads and PAUSE/RESUME fanned out to every worker and merged.
import { registerBanRoutes, registerLifecycleRoutes, registerReloadRoute, registerUpstreamRoutes, startAdminServer, type AdminServer } from '../admin/index.js';
import type { Config } from '../config/index.js';
import type { Fleet } from '../fleet/index.js';
import type { BanList } from '../netrules/index.js';
import type { Logger } from '../observability/index.js';
import type { PoolSnapshot } from '../pool/index.js';
import type { ReloadOutcome } from '../reload.js';
import type { Store } from '../store/index.js';
import type { UpstreamStatus } from '../upstream/index.js';

export interface SupervisorAdminOptions {
  config: Config;
  store: Store;
  logger: Logger;
  fleet: Fleet;
  bans: BanList;
  /** A ban was lifted: the workers' copies follow at once. */
  afterBanChange(): void;
  reload(trigger: string): Promise<ReloadOutcome>;
  drain(reason: string): void;
  pause(tenant: string): Promise<void>;
  resume(tenant: string): Promise<void>;
  /** Every worker's pools (one entry per worker and pool). */
  pools(): Promise<PoolSnapshot[]>;
  /** Every worker's view of the routed upstreams (each worker probes on its own). */
  upstreams(): Promise<UpstreamStatus[]>;
}

export type SupervisorAdmin = AdminServer;

/** One entry per (tenant, database, user): clients and servers summed over workers; the size is the node's total already. */
export function mergePools(list: PoolSnapshot[]): PoolSnapshot[] {
  const out = new Map<string, PoolSnapshot>();
  for (const p of list) {
    const key = `${p.tenant}\0${p.database}\0${p.user}`;
    const m = out.get(key);
    if (!m) {
      out.set(key, { ...p });
      continue;
    }
    m.clientsActive += p.clientsActive;
    m.clientsWaiting += p.clientsWaiting;
    m.serversActive += p.serversActive;
    m.serversIdle += p.serversIdle;
    m.serversOpening += p.serversOpening;
  }
  return [...out.values()];
}

/** One entry per (tenant, upstream): the view of the worker that heard from it last (its latest probe). */
export function mergeUpstreams(list: UpstreamStatus[]): UpstreamStatus[] {
  const out = new Map<string, UpstreamStatus>();
  for (const u of list) {
    const key = `${u.tenant}\0${u.name}`;
    const m = out.get(key);
    if (!m || (u.lastProbeAt ?? 0) > (m.lastProbeAt ?? 0)) out.set(key, u);
  }
  return [...out.values()];
}

export async function startSupervisorAdmin(o: SupervisorAdminOptions): Promise<SupervisorAdmin> {
  const admin = await startAdminServer({
    host: o.config.admin.host,
    port: o.config.admin.port,
    tokens: o.config.admin.tokens,
    store: o.store,
    logger: o.logger,
    defaultPolicy: o.config.netrules.defaultPolicy,
    maxBodyBytes: o.config.admin.maxBodyBytes,
  });
  admin.route('GET', '/v1/pools', async () => ({ status: 200, body: { pools: mergePools(await o.pools()) } }));
  registerUpstreamRoutes(admin.route, { statuses: async () => mergeUpstreams(await o.upstreams()), store: o.store });
  admin.route('GET', '/v1/nodes', async () => ({ status: 200, body: { self: o.fleet.nodeId, shared: o.fleet.shared, healthy: o.fleet.healthy(), nodes: await o.fleet.nodes() } }));
  const bans = {
    list: (tenant?: string) => o.bans.list(tenant),
    lift: async (tenant: string, address: string) => {
      const lifted = await o.bans.lift(tenant, address);
      o.afterBanChange();
      return lifted;
    },
  };
  registerBanRoutes(admin.route, { bans, logger: o.logger });
  registerLifecycleRoutes(
    admin.route,
    {
      drain: o.drain,
      pause: o.pause,
      resume: (id) => void o.resume(id),
      tenantExists: (id) => o.store.getTenant(id) !== undefined,
    },
    o.logger,
  );
  registerReloadRoute(admin.route, { reloader: { reload: o.reload }, logger: o.logger });
  return admin;
}
