// The composition root: builds every area from the config and starts the listeners; the only file that knows them all.
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import { ClientError } from './errors.js';
import { createLogger, Metrics, setLogLevel, startObservabilityServer, type Logger, type ObservabilityServer } from './observability/index.js';
import { PoolBackend, type AdmissionPeers, type Backend, type PoolFacts, type ServerPermits } from './pool/index.js';
import { handleConnection, SessionRegistry, tuneListener } from './proxy/index.js';
import { createStore, type Store } from './store/index.js';
import { BanList, createAccessControl, type BanBackend } from './netrules/index.js';
import { registerBanRoutes, registerLifecycleRoutes, registerReloadRoute, registerUpstreamRoutes, startAdminServer, type AdminServer } from './admin/index.js';
import { machineById, machineOf, registerUpstreamMetrics, tenantUpstreams } from './upstream/index.js';
import { CredentialResolver, runAuthQuery } from './auth/index.js';
import { createWakeManager, serverReach } from './wake/index.js';
import { createFleet, registerFleetMetrics, type Fleet } from './fleet/index.js';
import { CancelRouter } from './proxy/cancel-router.js';
import { LiveSettings, loadTls, Reloader, type ReloadOutcome } from './reload.js';
import { CidrSet } from './net/index.js';
import { AdminConsole, type ConsoleControl } from './console/index.js';
import { reloadMarkOf } from './config/index.js';

export interface App {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly adminPort: number | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: Store;
  /** The pooling backend (a worker's supervisor reads and drives it: snapshots, pause, resume). */
  readonly pools: PoolBackend;
  /** Live sessions on this process. */
  sessionCount(): number;
  /** A worker takes the config its supervisor re-read and validated (a reload that succeeded there). */
  applyConfig(config: Config): void;
  /** Resolves when something other than a signal asks the process to stop (POST /v1/drain, the console's SHUTDOWN). */
  readonly stopRequested: Promise<string>;
  /** Re-reads the config file (SIGHUP, POST /v1/reload); `trigger` is logged. */
  reload(trigger: string): Promise<ReloadOutcome>;
  /** Drains (healthz unhealthy, no new connections, sessions end at transaction boundaries) and closes everything. */
  close(): Promise<void>;
}

export interface AppOptions {
  logger?: Logger;
  /** Reads and validates the config file again, for reloads; without it a reload is refused. */
  readConfig?: () => Config;
  /** Set when this process is one of several workers (src/cluster): node-level state comes from the supervisor. */
  worker?: WorkerSeams;
}

/**
 * What a worker process gets from its supervisor instead of building it (docs/internals.md, "with several workers"):
 * a read-only copy of the store, the fleet seam with the supervisor as a local hub, bans, server permits, the other
 * workers' client counts, and the controls that act on the whole node.
 */
export interface WorkerSeams {
  /** 0..7: the worker's bits in the cancel keys. */
  index: number;
  /** How many workers the node runs (per-node rates are split between them). */
  count: number;
  store: Store;
  fleet: Fleet;
  banBackend: BanBackend;
  permits: ServerPermits;
  peers: AdmissionPeers;
  facts: PoolFacts;
  /** The node's reload (the supervisor re-reads the file and hands the result to every worker). */
  reload(trigger: string): Promise<ReloadOutcome>;
  /** PAUSE/RESUME on every worker of the node. */
  pause(tenant: string | undefined): Promise<void>;
  resume(tenant: string | undefined): Promise<void>;
  /** Asks the supervisor to drain the node (console SHUTDOWN). */
  stop(reason: string): void;
  /** Binds the shared listener (cluster's shared handle, or a reusePort socket of its own). */
  listen(server: Server, host: string, port: number): Promise<void>;
}

export async function startApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config.log.level);
  const metrics = new Metrics();
  const worker = opts.worker;
  // What a reload may change is read through `live`, never captured (src/config/reload-marks.ts says which options).
  const live = new LiveSettings(config);
  const store: Store = worker ? worker.store : createStore(config, logger, metrics);
  await store.start();
  // Before anything hands out cancel keys: the fleet gives this node its slot in them.
  const fleet = worker ? worker.fleet : createFleet(config, logger);
  await fleet.start();
  const fleetMetrics = registerFleetMetrics(metrics.registry, fleet);
  const sessions = new SessionRegistry();
  const access = createAccessControl({ store, defaultPolicy: config.netrules.defaultPolicy, metrics, logger, sessions });
  // Resume suspended machines before connecting; suspend idle ones.
  // A wake subject is a tenant or, in an `upstreams` list, one server with a machine of its own (`tenant/name`).
  const wake = createWakeManager({ config, logger, metrics, getTenant: (id) => machineById(id, (t) => store.getTenant(t)), fleet });
  const reach = serverReach(wake, config.upstream.connectTimeout);
  const pools = new PoolBackend({
    get config() {
      return live.config;
    },
    logger,
    metrics,
    beforeConnect: reach.beforeConnect,
    connect: reach.connect,
    serverEpoch: (id) => wake.epoch(id),
    cancelSlot: fleet.slot,
    clientsElsewhere: (id) => fleet.clientsElsewhere(id),
    // Suspend-when-idle counts admitted clients per tenant: from admission (before any wake) to the session's end.
    admissions: { admitted: (id) => wake.clientConnected(id), released: (id) => wake.clientDisconnected(id) },
    ...(worker ? { cancelWorker: worker.index, permits: worker.permits, peers: worker.peers, facts: worker.facts } : {}),
    ...(process.env.FLY_REGION ? { localRegion: process.env.FLY_REGION } : {}),
    upstreamAsleep: (m) => wake.asleep(m),
    wakeUpstream: (m) => wake.ensureAwake(m),
    upstreamClients: (m, delta) => (delta > 0 ? wake.clientConnected(m.id) : wake.clientDisconnected(m.id)),
  });
  registerUpstreamMetrics(metrics.registry, () => pools.upstreamsSnapshot());
  // Routed tenants with a probe user are watched from the start, not from their first client.
  for (const t of store.listTenants()) if (t.routing?.probeUser !== undefined) pools.router.watch(t);
  // Server connections to a machine about to be suspended would be dead after the resume: close them first.
  wake.setBeforeSuspend((id) => pools.closeMachineServers(id));
  // A deleted tenant keeps nothing open: its sessions end and its servers close.
  store.onChange((e) => {
    if (e.type === 'tenant-upserted') return pools.tenantChanged(e.tenant);
    const gone = new ClientError('TENANT_UNKNOWN', `tenant "${e.id}" was deleted`);
    for (const s of sessions.sessionsOf(e.id)) s.end(gone);
    void pools.closeTenantServers(e.id);
    pools.tenantDeleted(e.id);
  });
  const backend: Backend = pools;
  // Reads the tenant afresh on every lookup, so an edited tenant's auth settings apply at once.
  const credentials = new CredentialResolver({
    tenant: (id) => store.getTenant(id),
    upstreamFor: (id) => pools.router.authTarget(id),
    // An authQuery reads the upstream, so a suspended machine must be woken for it (then cached for cacheTtl).
    query: async (req) => {
      const tenant = store.getTenant(req.tenantId);
      if (tenant?.fly) await wake.ensureAwake(tenant);
      // In an `upstreams` list, the server queried may run on a machine of its own.
      const spec = tenant?.upstreams ? tenantUpstreams(tenant).find((u) => u.target.host === req.host && u.target.port === req.port) : undefined;
      if (tenant && spec?.fly) await wake.ensureAwake(machineOf(tenant, spec));
      return runAuthQuery(req);
    },
  });
  const cancels = new CancelRouter({
    fleet,
    backend,
    tenants: store,
    access,
    logger,
    metrics: fleetMetrics,
    refused: (reason, tenant) => metrics.connectionsRefused.inc({ reason, tenant }),
    // Per node: round-robin spreads one address's CancelRequests evenly, so each worker takes its share of the rate.
    ratePerAddress: worker ? Math.max(1, Math.ceil(config.fleet.cancelRatePerAddress / worker.count)) : config.fleet.cancelRatePerAddress,
    ...(worker ? { worker: worker.index } : {}),
  });
  // Failed-login bans: in Redis for the fleet when the store is Redis, else in this process.
  const bans = new BanList({ config, logger, metrics, isTrustedProxy: live.isTrustedProxy, ...(worker ? { backend: worker.banBackend } : {}) });
  await bans.start();
  let requestStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const reloader = new Reloader({ live, ...(opts.readConfig ? { read: opts.readConfig } : {}), store, logger, metrics });
  const reload = (trigger: string) => (worker ? worker.reload(trigger) : reloader.reload(trigger));
  // The admin console (database `pgporter` on this port), when console users are configured.
  const tenantIds = (tenant?: string) => (tenant !== undefined ? [tenant] : store.listTenants().map((t) => t.id));
  const consoleControl: ConsoleControl = {
    pause: async (tenant) => {
      if (worker) return worker.pause(tenant);
      await Promise.all(tenantIds(tenant).map((id) => pools.pause(id)));
    },
    resume: async (tenant) => {
      if (worker) return worker.resume(tenant);
      for (const id of tenantIds(tenant)) pools.resume(id);
    },
    reload: async () => {
      const r = await reload('console RELOAD');
      if (r.result !== 'ok') throw new Error(r.message);
      return r.changed.length ? `reloaded: ${r.changed.join(', ')}` : 'reloaded: nothing changed';
    },
    reloadable: (key) => reloadMarkOf(key)?.kind !== 'restart',
  };
  const adminConsole =
    config.admin.consoleUsers.length > 0
      ? new AdminConsole({
          config,
          logger,
          metrics,
          pools,
          tenants: store,
          sessions,
          fleet,
          control: consoleControl,
          shutdown: () => (worker ? worker.stop('console SHUTDOWN') : requestStop('console SHUTDOWN')),
        })
      : undefined;
  // Each connection reads the settings current when it is accepted.
  const deps = {
    get config() {
      return live.config;
    },
    logger,
    metrics,
    tenants: store,
    access,
    bans,
    backend,
    credentials,
    sessions,
    get secureContext() {
      return live.secureContext;
    },
    cancels,
    isTrustedProxy: live.isTrustedProxy,
    console: adminConsole,
    listenerTuned: false,
  };

  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    void handleConnection(socket, deps);
  });
  if (worker) await worker.listen(server, config.listen.host, config.listen.port);
  else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  deps.listenerTuned = tuneListener(server);
  const port = (server.address() as AddressInfo).port;

  let draining = false;

  let obs: ObservabilityServer | undefined;
  if (config.metrics.enabled && !worker) {
    obs = await startObservabilityServer(metrics, config.metrics.host, config.metrics.port, () => {
      const st = store.status();
      // Unhealthy as soon as draining starts, so Fly's proxy routes new clients elsewhere.
      return { ok: st.loaded && !draining, detail: { store: store.kind, storeHealthy: st.healthy, sessions: sessions.count(), draining } };
    });
  }
  // The admin API, on a listener of its own.
  let admin: AdminServer | undefined;
  if (config.admin.enabled && config.admin.tokens.length === 0) {
    logger.warn({ event: 'admin_disabled' }, 'admin API not started: admin.tokens is empty, so it could refuse every request only');
  } else if (config.admin.enabled && !worker) {
    admin = await startAdminServer({
      host: config.admin.host,
      port: config.admin.port,
      tokens: config.admin.tokens,
      store,
      logger,
      defaultPolicy: config.netrules.defaultPolicy,
      maxBodyBytes: config.admin.maxBodyBytes,
    });
    admin.route('GET', '/v1/pools', () => ({ status: 200, body: { pools: pools.poolsSnapshot() } }));
    admin.route('GET', '/v1/nodes', async () => ({ status: 200, body: { self: fleet.nodeId, shared: fleet.shared, healthy: fleet.healthy(), nodes: await fleet.nodes() } }));
    registerBanRoutes(admin.route, { bans, logger });
    registerUpstreamRoutes(admin.route, { statuses: () => pools.upstreamsSnapshot(), store });
    registerLifecycleRoutes(
      admin.route,
      {
        drain: (reason) => requestStop(reason),
        pause: (id) => pools.pause(id),
        resume: (id) => pools.resume(id),
        tenantExists: (id) => store.getTenant(id) !== undefined,
      },
      logger,
    );
    registerReloadRoute(admin.route, { reloader, logger });
  }
  if (worker) logger.info({ event: 'worker_listening', worker: worker.index, port }, 'worker listening');
  else logger.info({ event: 'listening', host: config.listen.host, port, metricsPort: obs?.port, adminPort: admin?.port, proxyProtocol: config.proxyProtocol.mode, tls: !!live.secureContext, tenants: store.listTenants().length }, 'pgporter listening');

  let closing: Promise<void> | undefined;
  const app: App = {
    port,
    metricsPort: obs?.port,
    adminPort: admin?.port,
    logger,
    metrics,
    store,
    pools,
    sessionCount: () => sessions.count(),
    applyConfig(next) {
      live.swap(next, loadTls(next), new CidrSet(next.proxyProtocol.trustedProxies));
      setLogLevel(logger, next.log.level);
    },
    stopRequested,
    reload,
    close: () =>
      (closing ??= (async () => {
        draining = true;
        server.close();
        const bye = new ClientError('SHUTTING_DOWN', 'terminating connection due to administrator command');
        const drainMs = live.config.shutdown.timeout;
        logger.info({ event: 'draining', sessions: sessions.count(), timeoutMs: drainMs }, 'draining: sessions end at their next transaction boundary');
        await pools.drain(bye, Date.now() + drainMs);
        adminConsole?.close();
        access.close();
        await admin?.close();
        // Whatever never reached the pool (a login under way) ends now.
        for (const s of sessions.all()) s.end(bye);
        await backend.close();
        await wake.close();
        await fleet.close();
        await bans.close();
        await obs?.close();
        await store.close();
        logger.info({ event: 'stopped' }, 'pgporter stopped');
      })()),
  };
  return app;
}
