// The pooling Backend: admits clients against connection limits, runs each session on its (tenant, database, user) pool, routes cancels.
import { ClientError } from '../errors.js';
import { isRouted, sameTarget, tenantUpstreams, type MachineSubject, type ServerConnection, type UpstreamSpec, type UpstreamStatus } from '../upstream/index.js';
import type { Config } from '../config/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { TenantRecord } from '../store/index.js';
import type { Admission, Backend, CancelTarget, ClientSession, ServedSession, SessionDone } from './types.js';
import { CancelKeys, sendCancel } from './cancel-keys.js';
import { Pool } from './pool.js';
import type { PoolContext } from './pool-context.js';
import { PoolClient } from './client.js';
import { PoolMetrics, newTotals, type TenantTotals } from './pool-metrics.js';
import type { ClientSnapshot, PoolSnapshot, ServerSnapshot } from './snapshots.js';
import { HaRouter } from './ha-router.js';
import { targetOf } from './target-choice.js';
import { LocalPermits, type PoolFacts, type ServerPermits } from './permits.js';

/**
 * The clients the node's other worker processes have admitted, and where this one's counts go, so client limits hold
 * across workers. Absent with one process.
 */
export interface AdmissionPeers {
  /** Clients of the tenant admitted by the other workers, as last told. */
  tenantElsewhere(tenantId: string): number;
  /** Clients admitted by the other workers, every tenant. */
  totalElsewhere(): number;
  /**
   * This worker's count of the tenant's clients changed (the peers coalesce and publish it): at once when `near` a
   * limit, where the others need it exact, else with the next batch.
   */
  counted(tenantId: string, clients: number, near: boolean): void;
}

export interface PoolBackendOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /**
   * Called when a pool must open a server and has none (wake-on-connect). May take seconds; `notify` sends a
   * NoticeResponse to the waiting clients; a thrown ClientError (57P03) is what those clients get.
   */
  beforeConnect?(machine: MachineSubject, notify: (message: string) => void): Promise<void>;
  /** Opens a logged-in server connection, e.g. retrying what a just-woken server may answer. Default: `open()` once. */
  connect?(machine: MachineSubject, open: () => Promise<ServerConnection>): Promise<ServerConnection>;
  /** Servers opened under an older epoch are closed instead of reused (the machine behind them restarted). */
  serverEpoch?(machineId: string): number;
  /** This node's slot in the fleet, carried by the cancel keys it hands out. Default 0 (a node alone). */
  cancelSlot?: number;
  /** This worker process's number inside the node (0..7), also carried by the cancel keys. Default 0. */
  cancelWorker?: number;
  /** Permits to open server connections (pool size across workers). Default: one process, every permit granted. */
  permits?: ServerPermits;
  /** The node's other workers' client counts. Default: none. */
  peers?: AdmissionPeers;
  /**
   * Hears each admission and its release, after the counts here (suspend-when-idle counts its clients so). A hook
   * rather than a wrapping Backend: each idle client would keep a wrapper admission of its own.
   */
  admissions?: { admitted(tenantId: string): void; released(tenantId: string): void };
  /** What the same pools learned on the other workers (server defaults, accepted settings). Default: none. */
  facts?: PoolFacts;
  /** Clients of a tenant on the other nodes of the fleet (for maxClientConnectionsFleet). Default: none. */
  clientsElsewhere?(tenantId: string): number;
  /** Period of the timeout sweep in ms. Default 500. */
  sweepIntervalMs?: number;
  /** This node's region (FLY_REGION): same-region replicas are preferred for reads. */
  localRegion?: string;
  /** Whether an upstream's machine is suspended (it is then not probed, and used for reads only when no other replica is left). */
  upstreamAsleep?(machine: MachineSubject): boolean;
  /** Wakes an upstream's machine that no client's server opening would wake (a writer must be found). */
  wakeUpstream?(machine: MachineSubject): Promise<void>;
  /** A routed client moved onto (+1) or off (-1) an upstream with a machine: it stays awake while it has clients. */
  upstreamClients?(machine: MachineSubject, delta: 1 | -1): void;
}

/**
 * Within this many clients of a limit (a quarter of it, at least 16), other workers must hear a count at once: further
 * away a count may wait for the next batch, since logins on other workers cannot close the gap meanwhile.
 */
function near(clients: number, limit: number | undefined): boolean {
  return limit !== undefined && clients >= limit - Math.max(16, limit >> 2);
}

/** The admissions of one tenant record: one object shared by its clients (each releases once), none per client. */
class TenantAdmission implements Admission {
  constructor(
    private readonly backend: PoolBackend,
    private readonly tenant: TenantRecord,
  ) {}

  release(): void {
    this.backend.admissionReleased(this.tenant);
  }
}

export class PoolBackend implements Backend {
  private readonly pools = new Map<string, Pool>();
  /** Every client being served holds a cancel key: this is also the index of the sessions (no map of them by id). */
  private readonly keys: CancelKeys<PoolClient>;
  /** Set once pgporter drains: sessions end at their next transaction boundary, new ones are refused. */
  private draining: ClientError | undefined;
  /** Tenants paused by PAUSE: pools created for them later start paused too. */
  private readonly pausedTenants = new Set<string>();
  private sessionsGone: (() => void) | undefined;
  private readonly clientsByTenant = new Map<string, number>();
  private readonly totals = new Map<string, TenantTotals>();
  private clientsTotal = 0;
  /** Keyed by the record admitted with (an edited tenant is a new record; its earlier clients release with the old one). */
  private readonly admissionOf = new WeakMap<TenantRecord, TenantAdmission>();
  private readonly ctx: PoolContext;
  private readonly timer: NodeJS.Timeout;
  private readonly clock = { now: Date.now() };
  /** Tenants with an `upstreams` list: roles, health, routing, failover. */
  readonly router: HaRouter;

  /**
   * The pool a permit message is for: permits are keyed per upstream (`Pool.key`), the pools map per client route, so
   * the two differ; looked up only when a server opens or closes, never per transaction.
   */
  private permitPool(key: string): Pool | undefined {
    for (const pool of this.pools.values()) if (pool.key === key) return pool;
    return undefined;
  }

  constructor(private readonly opts: PoolBackendOptions) {
    this.keys = new CancelKeys(opts.cancelSlot ?? 0, opts.cancelWorker ?? 0);
    const permits = opts.permits ?? new LocalPermits();
    permits.attach({
      granted: (key, n) => {
        const pool = this.permitPool(key);
        if (pool) pool.permitsGranted(n);
        else permits.release(key, n);
      },
      handOver: (key, n, mode) => this.permitPool(key)?.handOver(n, mode),
    });
    const metrics = new PoolMetrics(
      opts.metrics.registry,
      () => this.poolsSnapshot(),
      () => this.totals,
    );
    this.ctx = {
      clock: this.clock,
      connectTimeoutMs: opts.config.upstream.connectTimeout,
      logger: opts.logger,
      metrics,
      clientEnded: (client) => this.clientEnded(client),
      ...(opts.beforeConnect ? { beforeConnect: opts.beforeConnect } : {}),
      ...(opts.serverEpoch ? { serverEpoch: opts.serverEpoch } : {}),
      ...(opts.connect ? { connect: opts.connect } : {}),
      permits,
      ...(opts.facts ? { facts: opts.facts } : {}),
      serverOpened: (pool, conn) => this.router.serverOpened(pool, conn),
      serverOpenFailed: (pool, err) => this.router.serverOpenFailed(pool, err),
      roleHint: (pool) => this.router.roleHint(pool),
    };
    this.router = new HaRouter({
      config: () => this.opts.config,
      logger: opts.logger,
      clock: this.clock,
      localRegion: opts.localRegion,
      pool: (tenant, spec, database, user) => this.poolOn(tenant, spec, database, user),
      poolsOf: (id) => [...this.pools.values()].filter((p) => p.tenant.id === id),
      totals: (id) => this.totalsOf(id),
      ...(opts.upstreamAsleep ? { asleep: opts.upstreamAsleep } : {}),
      ...(opts.wakeUpstream ? { wake: opts.wakeUpstream } : {}),
      ...(opts.upstreamClients ? { clients: opts.upstreamClients } : {}),
    });
    // One coarse timer for every pool's timeouts, instead of a timer per connection.
    this.timer = setInterval(() => this.sweep(), opts.sweepIntervalMs ?? 500);
    this.timer.unref();
  }

  admit(tenant: TenantRecord): Admission | ClientError {
    const perTenant = this.clientsByTenant.get(tenant.id) ?? 0;
    const max = tenant.pool.maxClientConnections;
    const peers = this.opts.peers;
    if (this.clientsTotal + (peers ? peers.totalElsewhere() : 0) >= this.opts.config.pool.maxClientConnections) {
      return new ClientError('TOO_MANY_CONNECTIONS', 'sorry, too many clients already');
    }
    if (max !== undefined && perTenant + (peers ? peers.tenantElsewhere(tenant.id) : 0) >= max) {
      return new ClientError('TOO_MANY_CONNECTIONS', `sorry, too many clients already for tenant "${tenant.id}"`);
    }
    const fleetMax = tenant.pool.maxClientConnectionsFleet;
    if (fleetMax !== undefined && perTenant + (this.opts.clientsElsewhere?.(tenant.id) ?? 0) >= fleetMax) {
      return new ClientError('TOO_MANY_CONNECTIONS', `sorry, too many clients already for tenant "${tenant.id}" across all nodes`);
    }
    this.clientsByTenant.set(tenant.id, perTenant + 1);
    this.clientsTotal++;
    peers?.counted(tenant.id, perTenant + 1, this.nearLimit(peers, tenant, perTenant + 1));
    this.opts.admissions?.admitted(tenant.id);
    let admission = this.admissionOf.get(tenant);
    if (admission === undefined) this.admissionOf.set(tenant, (admission = new TenantAdmission(this, tenant)));
    return admission;
  }

  /** An admission released: the client no longer counts against the limits. */
  admissionReleased(tenant: TenantRecord): void {
    this.clientsTotal--;
    const n = (this.clientsByTenant.get(tenant.id) ?? 1) - 1;
    if (n > 0) this.clientsByTenant.set(tenant.id, n);
    else this.clientsByTenant.delete(tenant.id);
    const peers = this.opts.peers;
    peers?.counted(tenant.id, n, this.nearLimit(peers, tenant, n + 1));
    this.opts.admissions?.released(tenant.id);
  }

  /** Whether `n` clients of the tenant here (or the node's total) are near a limit the other workers must hear of at once. */
  private nearLimit(peers: AdmissionPeers, tenant: TenantRecord, n: number): boolean {
    return (
      near(this.clientsTotal + peers.totalElsewhere(), this.opts.config.pool.maxClientConnections) ||
      near(n + peers.tenantElsewhere(tenant.id), tenant.pool.maxClientConnections) ||
      near(n + (this.opts.clientsElsewhere?.(tenant.id) ?? 0), tenant.pool.maxClientConnectionsFleet)
    );
  }

  /** Not async: an idle session keeps no suspended frame, only its client (which calls `done` once). */
  serve(original: ClientSession, done: SessionDone): ServedSession | undefined {
    if (this.draining) {
      done.failed(this.draining);
      return undefined;
    }
    // target_session_attrs (and a -ro database suffix for routed tenants) is pgporter's to read, never a server setting.
    const { session, target } = targetOf(original);
    let client: PoolClient;
    if (isRouted(session.tenant)) {
      const routed = this.router.host(session, target);
      client = new PoolClient(session, routed);
      routed.attach(client, (c) => this.clientEnded(c));
    } else {
      const pool = this.poolFor(session);
      pool.secret = session.secret;
      client = new PoolClient(session, pool);
      pool.clients.add(client);
    }
    const key = this.keys.allocate(client);
    client.run(key, done);
    return client.state === 'closed' ? undefined : client;
  }

  /** A served client is gone (its pool, or its routed host, has already let it go). */
  private clientEnded(client: PoolClient): void {
    this.keys.release(client.keyPid);
    if (this.keys.size === 0) this.sessionsGone?.();
  }

  /**
   * Drain: every session ends with `err` (57P01) at its next transaction boundary: at once when it holds no server,
   * after its current transaction otherwise. Resolves when none is left; at `deadlineMs` the rest are ended anyway.
   */
  async drain(err: ClientError, deadlineMs: number): Promise<void> {
    this.draining = err;
    for (const c of this.keys.routesNow()) c.drain(err);
    if (this.keys.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.sessionsGone = resolve;
        timer = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()));
      });
      clearTimeout(timer);
      this.sessionsGone = undefined;
    }
    for (const c of [...this.keys.routesNow()]) c.fail(err);
  }

  /** PAUSE a tenant: transactions under way finish, no new one starts, its servers close. Resolves once they have. */
  pause(tenantId: string): Promise<void> {
    this.pausedTenants.add(tenantId);
    return Promise.all([...this.pools.values()].filter((p) => p.tenant.id === tenantId).map((p) => p.pause())).then(() => undefined);
  }

  resume(tenantId: string): void {
    this.pausedTenants.delete(tenantId);
    for (const p of this.pools.values()) if (p.tenant.id === tenantId) p.resume();
  }

  isPaused(tenantId: string): boolean {
    return this.pausedTenants.has(tenantId);
  }

  cancelTarget(pid: number, secret: number): CancelTarget | undefined {
    const route = this.keys.lookup(pid, secret);
    if (!route) return undefined;
    return {
      tenantId: route.tenantId,
      cancel: () => {
        const cur = route.current();
        if (cur) {
          sendCancel(cur.target, cur.key, (err) =>
            this.opts.logger.warn({ event: 'cancel_failed', tenant: route.tenantId, code: (err as { code?: string }).code, err: (err as Error).message }, 'could not deliver a cancel to the server'),
          );
        }
      },
    };
  }

  /** Closes a tenant's idle servers now and its busy ones as soon as their clients let go (before suspending its machine). */
  async closeTenantServers(tenantId: string): Promise<void> {
    for (const p of this.pools.values()) if (p.tenant.id === tenantId) p.closeServers();
  }

  /** Before a machine is suspended: the servers of the pools it serves close (busy ones as their clients let go), and so does its probe. */
  async closeMachineServers(machineId: string): Promise<void> {
    for (const p of this.pools.values()) if (p.machine.id === machineId) p.closeServers();
    this.router.machineSleeps(machineId);
  }

  /** Every pool's figures, for `GET /v1/pools`. */
  poolsSnapshot(): PoolSnapshot[] {
    return [...this.pools.values()].map((p) => p.snapshot());
  }

  // --- read-only snapshots for the admin console (src/console): plain data, taken on demand ---

  /** Every pool's figures plus how long its oldest waiting client has waited (SHOW POOLS maxwait). */
  poolsDetail(now = Date.now()): (PoolSnapshot & { maxWaitMs: number })[] {
    return [...this.pools.values()].map((p) => ({ ...p.snapshot(), maxWaitMs: p.maxWaitMs(now) }));
  }

  /** Every served client (SHOW CLIENTS). */
  clientsSnapshot(): ClientSnapshot[] {
    return [...this.pools.values()].flatMap((p) => p.clientSnapshots());
  }

  /** Every open server connection (SHOW SERVERS). */
  serversSnapshot(): ServerSnapshot[] {
    return [...this.pools.values()].flatMap((p) => p.serverSnapshots());
  }

  /** Running totals per tenant since start (SHOW STATS): queries and transactions. */
  totalsSnapshot(): { tenant: string; queries: number; transactions: number }[] {
    return [...this.totals].map(([tenant, t]) => ({ tenant, queries: t.queries, transactions: t.transactions }));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.router.close();
    for (const p of this.pools.values()) p.close();
  }

  private poolFor(session: ClientSession): Pool {
    return this.poolOn(session.tenant, tenantUpstreams(session.tenant)[0]!, session.database, session.user);
  }

  /** The pool of (tenant, database, user) on one of the tenant's upstreams; pools are per upstream. */
  private poolOn(tenant: TenantRecord, spec: UpstreamSpec, database: string, user: string): Pool {
    // A single `upstream` keeps its one pool per (tenant, database, user) whatever its address becomes.
    const id = `${tenant.id}\0${database}\0${user}\0${isRouted(tenant) ? spec.name : ''}`;
    let pool = this.pools.get(id);
    if (!pool) {
      pool = new Pool(this.ctx, tenant, spec, database, user, this.totalsOf(tenant.id));
      this.pools.set(id, pool);
      if (this.pausedTenants.has(tenant.id)) void pool.pause();
    } else if (pool.tenant !== tenant) this.follow(pool, tenant);
    return pool;
  }

  private totalsOf(tenantId: string): TenantTotals {
    let totals = this.totals.get(tenantId);
    if (!totals) this.totals.set(tenantId, (totals = newTotals()));
    return totals;
  }

  /** A tenant was edited (admin API, reload, another node): its pools take the new settings now, not at their next login. */
  tenantChanged(tenant: TenantRecord): void {
    for (const p of this.pools.values()) if (p.tenant.id === tenant.id && p.tenant !== tenant) this.follow(p, tenant);
    this.router.tenantChanged(tenant, tenant.id);
  }

  /** A tenant was deleted: its routing stops (its servers are closed by closeTenantServers). */
  tenantDeleted(tenantId: string): void {
    this.router.tenantChanged(undefined, tenantId);
  }

  /** Every routed upstream's role, health, ban and lag (admin API, console, metrics). */
  upstreamsSnapshot(): UpstreamStatus[] {
    return this.router.statuses();
  }

  /** Pool settings follow the new record; servers of a previous (or removed) upstream must not serve another transaction. */
  private follow(pool: Pool, tenant: TenantRecord): void {
    const list = tenantUpstreams(tenant);
    const next = isRouted(tenant) === isRouted(pool.tenant) ? (isRouted(tenant) ? list.find((u) => u.name === pool.upstream.name) : list[0]) : undefined;
    pool.tenant = tenant;
    if (next && sameTarget(next.target, pool.upstream.target)) {
      pool.upstream = next;
      pool.settingsChanged();
      return;
    }
    if (next) pool.upstream = next;
    pool.closeServers();
  }

  private sweep(): void {
    const now = Date.now();
    this.clock.now = now;
    this.router.sweep(now);
    for (const [id, p] of this.pools) {
      try {
        p.sweep(now);
      } catch (err) {
        this.opts.logger.error({ err, pool: id }, 'pool sweep failed');
      }
      if (p.empty && !p.isPaused) {
        p.dispose();
        this.pools.delete(id);
      }
    }
  }
}
