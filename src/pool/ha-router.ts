// Routing for tenants with an `upstreams` list: each client's transactions go to the server its target asks for (writer, replica), wait for a writer during a failover, and move when roles change.
import { ClientError } from '../errors.js';
import type { Config } from '../config/index.js';
import { routingOf, type Target } from '../config/schema-ha.js';
import type { Logger } from '../observability/index.js';
import type { TenantRecord } from '../store/index.js';
import { UpstreamAuth, type UpstreamSecret } from '../auth/index.js';
import {
  TenantHealth,
  UpstreamError,
  findWriter,
  machineOf,
  reportFromParams,
  route,
  tenantUpstreams,
  type Candidate,
  type MachineSubject,
  type ProbeLogin,
  type Route,
  type ServerConnection,
  type UpstreamSpec,
  type UpstreamStatus,
} from '../upstream/index.js';
import type { Pool } from './pool.js';
import type { PoolClient } from './client.js';
import type { PooledServer } from './server.js';
import type { TenantTotals } from './pool-metrics.js';
import type { ClientSession } from './types.js';
import { RO_PARAM, RoutedHost } from './routed-host.js';

/** What the router needs from the backend that owns the pools. */
export interface HaRouterDeps {
  config(): Config;
  logger: Logger;
  clock: { now: number };
  /** Region of this node (FLY_REGION): replicas there are preferred for reads. */
  localRegion: string | undefined;
  /** The pool of (tenant, database, user) on one upstream, created when missing. */
  pool(tenant: TenantRecord, spec: UpstreamSpec, database: string, user: string): Pool;
  /** Every pool of a tenant (failover acts on them). */
  poolsOf(tenantId: string): Pool[];
  totals(tenantId: string): TenantTotals;
  /** A suspended upstream machine is not woken to be probed, and serves reads only when no awake replica is left. */
  asleep?(machine: MachineSubject): boolean;
  /** Wakes an upstream's machine whose role must be learned (clients wait for a writer and it was never probed). */
  wake?(machine: MachineSubject): Promise<void>;
  /** A client moved onto (+1) or off (-1) an upstream with a machine: the machine stays awake while it has clients. */
  clients?(machine: MachineSubject, delta: 1 | -1): void;
}

/** Every routed tenant of one backend. */
export class HaRouter {
  private readonly tenants = new Map<string, TenantRouter>();

  constructor(private readonly deps: HaRouterDeps) {}

  /** The ClientHost of a new client of a routed tenant. */
  host(session: ClientSession, target: Target): RoutedHost {
    let r = this.tenants.get(session.tenant.id);
    if (!r) this.tenants.set(session.tenant.id, (r = new TenantRouter(this.deps, session.tenant)));
    r.remember(session);
    return new RoutedHost(r, session, target);
  }

  /** The tenant was edited: its list, routing and pools follow; a tenant no longer routed (or deleted) stops probing. */
  tenantChanged(tenant: TenantRecord | undefined, id: string): void {
    const r = this.tenants.get(id);
    if (!r) {
      if (tenant && routingOf(tenant).probeUser !== undefined) this.watch(tenant);
      return;
    }
    if (!tenant || tenant.upstreams === undefined) {
      r.stop();
      this.tenants.delete(id);
    } else r.setTenant(tenant);
  }

  serverOpened(pool: Pool, conn: ServerConnection): void {
    this.tenants.get(pool.tenant.id)?.health.observe(pool.upstream.name, reportFromParams(conn.params));
  }

  /** A login failed: servers that cannot be reached are banned and their waiters routed again. */
  serverOpenFailed(pool: Pool, err: unknown): boolean {
    const r = this.tenants.get(pool.tenant.id);
    if (!r || !(err instanceof UpstreamError) || !err.transient) return false;
    r.health.failed(pool.upstream.name, err);
    r.reroute(pool.evictWaiters());
    return true;
  }

  roleHint(pool: Pool): void {
    this.tenants.get(pool.tenant.id)?.health.reprobe(pool.upstream.name);
  }

  /** Clients past failover.primaryWait get 57P03. */
  sweep(now: number): void {
    for (const r of this.tenants.values()) r.sweep(now);
  }

  /** Where an authQuery of a routed tenant goes: the writer, else a replica, else nothing known (the caller picks). */
  authTarget(tenantId: string): UpstreamSpec['target'] | undefined {
    const r = this.tenants.get(tenantId);
    if (!r) return undefined;
    const st = r.health.statuses();
    const pick = st.find((u) => u.role === 'primary') ?? st.find((u) => u.role === 'standby');
    return pick ? tenantUpstreams(r.tenant).find((u) => u.name === pick.name)?.target : undefined;
  }

  /** An upstream's machine is about to be suspended (`tenant/upstream`): its probe stops until it wakes. */
  machineSleeps(machineId: string): void {
    const slash = machineId.indexOf('/');
    if (slash > 0) this.tenants.get(machineId.slice(0, slash))?.health.sleep(machineId.slice(slash + 1));
  }

  statuses(): UpstreamStatus[] {
    return [...this.tenants.values()].flatMap((r) => r.health.statuses());
  }

  /** Starts probing a routed tenant before its first client (when a probe user is configured). */
  watch(tenant: TenantRecord): void {
    if (tenant.upstreams === undefined || this.tenants.has(tenant.id)) return;
    this.tenants.set(tenant.id, new TenantRouter(this.deps, tenant));
  }

  close(): void {
    for (const r of this.tenants.values()) r.stop();
    this.tenants.clear();
  }
}

/** One routed tenant: its servers' health, the clients waiting for a writer, and what happens when the writer changes. */
export class TenantRouter {
  readonly health: TenantHealth;
  readonly totals: TenantTotals;
  private specs = new Map<string, UpstreamSpec>();
  /** The upstreams with a machine of their own (a `fly` block), by name. */
  private machines = new Map<string, MachineSubject>();
  /** Clients waiting for a writer (or for any server their target accepts). */
  private readonly held = new Set<RoutedHost>();
  private writer: string | undefined;
  private lastLogin: { user: string; database: string; secret: UpstreamSecret } | undefined;
  private readonly log: Logger;

  constructor(
    private readonly deps: HaRouterDeps,
    public tenant: TenantRecord,
  ) {
    this.log = deps.logger.child({ tenant: tenant.id, component: 'router' });
    this.totals = deps.totals(tenant.id);
    for (const s of tenantUpstreams(tenant)) this.specs.set(s.name, s);
    this.machines = this.machinesOf(tenant);
    this.health = new TenantHealth({
      tenantId: tenant.id,
      specs: [...this.specs.values()],
      settings: () => deps.config().health,
      login: () => this.probeLogin(),
      asleep: (name: string) => this.asleep(name),
      logger: deps.logger,
      changed: () => queueMicrotask(() => this.changed()),
    });
  }

  get clock(): { now: number } {
    return this.deps.clock;
  }

  setTenant(tenant: TenantRecord): void {
    this.tenant = tenant;
    this.specs = new Map(tenantUpstreams(tenant).map((s) => [s.name, s]));
    const before = this.machines;
    this.machines = this.machinesOf(tenant);
    // Clients counted on a machine that changed or went move their count with them.
    for (const h of this.hosts.values()) {
      const name = h.pool?.upstream.name;
      if (name === undefined || before.get(name) === this.machines.get(name)) continue;
      const was = before.get(name);
      const now = this.machines.get(name);
      if (was) this.deps.clients?.(was, -1);
      if (now) this.deps.clients?.(now, 1);
    }
    this.health.setSpecs([...this.specs.values()]);
  }

  private machinesOf(tenant: TenantRecord): Map<string, MachineSubject> {
    const m = new Map<string, MachineSubject>();
    const old = this.machines;
    for (const s of this.specs.values()) {
      if (s.fly === undefined) continue;
      // The same object while its fly block is unchanged: the wake manager keys its driver on it.
      const prev = old.get(s.name);
      m.set(s.name, prev && prev.fly === s.fly ? prev : machineOf(tenant, s));
    }
    return m;
  }

  /** Whether an upstream's machine is asleep (never for servers without a machine of their own). */
  asleep(name: string): boolean {
    const m = this.machines.get(name);
    return m !== undefined && this.deps.asleep !== undefined && this.deps.asleep(m);
  }

  /**
   * The tenant no longer routes (its list became one `upstream`, or it was deleted). Its routed clients end at their
   * next transaction boundary with a clear error: they would otherwise go on using the old list's pools.
   */
  stop(): void {
    this.health.stop();
    const err = new ClientError('NO_WRITER', `tenant "${this.tenant.id}" no longer routes among upstreams`);
    for (const h of [...this.held]) {
      this.unhold(h);
      h.client.fail(err);
    }
    const changed = new ClientError('PRIMARY_CHANGED', `terminating connection: tenant "${this.tenant.id}" no longer routes among upstreams; reconnect`);
    for (const h of [...this.hosts.values()]) h.client.drain(changed);
  }

  /** A client's credentials serve the probe when the tenant names no probeUser (the latest client of the user the probe last used). */
  remember(session: ClientSession): void {
    this.lastLogin = { user: session.user, database: session.database, secret: session.secret };
  }

  private probeLogin(): ProbeLogin | undefined {
    const rt = routingOf(this.tenant);
    if (rt.probeUser !== undefined) {
      const secret: UpstreamSecret = rt.probePassword !== undefined ? { kind: 'password', password: rt.probePassword } : { kind: 'none' };
      const user = rt.probeUser;
      return { user, database: rt.probeDatabase ?? 'postgres', auth: () => new UpstreamAuth(user, secret) };
    }
    const l = this.lastLogin;
    if (!l) return undefined;
    return { user: l.user, database: rt.probeDatabase ?? l.database, auth: () => new UpstreamAuth(l.user, l.secret) };
  }

  /** Where a client wanting `target` goes now. */
  route(target: Target): Route {
    const now = Date.now();
    const busy = new Map<string, number>();
    const rt = routingOf(this.tenant);
    // Load matters only when a replica is to be picked; a writer-bound transaction skips the walk over the pools.
    if (rt.balance === 'least-busy' && target !== 'read-write' && target !== 'primary') {
      for (const p of this.deps.poolsOf(this.tenant.id)) busy.set(p.upstream.name, (busy.get(p.upstream.name) ?? 0) + p.busy);
    }
    return route(this.candidates(now, busy), target, {
      localRegion: this.deps.localRegion,
      balance: rt.balance,
      readFallback: rt.readFallback,
      preferredPrimary: rt.preferredPrimary,
    });
  }

  private candidates(now: number, busy?: Map<string, number>): Candidate[] {
    return [...this.specs.values()].map((s) => ({
      name: s.name,
      role: this.health.role(s.name),
      banned: this.health.isBanned(s.name, now),
      region: s.region,
      hint: s.hint,
      busy: busy?.get(s.name) ?? 0,
      asleep: this.asleep(s.name),
    }));
  }

  acquire(h: RoutedHost, client: PoolClient): PooledServer | undefined {
    const r = this.route(h.target);
    if (r.t === 'ok') {
      this.place(h, r);
      return h.pool!.acquire(client);
    }
    if (r.t === 'refuse') {
      // Not from inside the client's own call into its host: it ends at its next turn.
      queueMicrotask(() => client.fail(this.refusal(r.why)));
      return undefined;
    }
    client.queued(Date.now());
    this.hold(h);
    return undefined;
  }

  /** Clients taken out of a pool whose server failed: each goes where its target now points, or waits. */
  reroute(clients: PoolClient[]): void {
    for (const c of clients) {
      const h = this.hostOf(c);
      if (h) this.settle(h);
      else c.fail(new ClientError('SERVER_UNAVAILABLE', 'could not connect to the database server'));
    }
  }

  sweep(now: number): void {
    for (const h of this.held) {
      if (h.waitUntil > now) continue;
      this.unhold(h);
      h.client.fail(new ClientError('NO_WRITER', `no writable server for tenant "${this.tenant.id}" within failover.primaryWait`, { hint: 'the primary is down or read-only and no replica has been promoted yet' }));
    }
  }

  unhold(h: RoutedHost): void {
    this.held.delete(h);
    h.waitUntil = 0;
  }

  /**
   * The client ran SET or RESET in the transaction now ending: the default_transaction_read_only it holds is its own
   * choice, kept on every upstream it is routed to later. Not when pgporter put it there (a read-only client on the
   * writer), nor when the server turned read-only meanwhile (a fence reload reports "on" the same way).
   */
  clientSet(h: RoutedHost): void {
    if (h.readOnly || h.pool === undefined || this.health.role(h.pool.upstream.name) === 'fenced') return;
    const v = h.client.settings.want.get(RO_PARAM);
    if (v !== undefined) h.ownReadOnly = v;
  }

  /** Puts the client on the chosen upstream's pool (moving its membership there) and sets its read-only fallback. */
  private place(h: RoutedHost, r: Extract<Route, { t: 'ok' }>): void {
    const spec = this.specs.get(r.name)!;
    const pool = this.deps.pool(this.tenant, spec, h.database, h.user);
    if (h.pool !== pool) {
      this.countOn(h.pool, -1);
      h.pool?.clients.delete(h.client);
      pool.clients.add(h.client);
      pool.secret = h.session.secret;
      h.pool = pool;
      this.countOn(pool, 1);
    }
    // A read-only client served by the writer runs with default_transaction_read_only on, so it stays read-only as it
    // asked. Otherwise the client's own startup value, else off (synced as RESET, the server's own default): never
    // what a server reported, or a client that saw a fenced primary's "on" would carry it to the new writer.
    h.client.settings.insist(RO_PARAM, r.readOnlySession ? 'on' : (h.ownReadOnly ?? h.startupReadOnly ?? 'off'));
    h.readOnly = r.readOnlySession;
  }

  /** A client on an upstream with a machine keeps it awake (counted as a tenant's clients keep its machine awake). */
  private countOn(pool: Pool | undefined, delta: 1 | -1): void {
    if (pool === undefined || this.machines.size === 0) return;
    const m = this.machines.get(pool.upstream.name);
    if (m) this.deps.clients?.(m, delta);
  }

  private hold(h: RoutedHost): void {
    if (h.waitUntil === 0) h.waitUntil = Date.now() + this.deps.config().failover.primaryWait;
    this.held.add(h);
    this.health.urgent(h.waitUntil);
    this.wakeUnknown();
  }

  /**
   * Clients wait and a sleeping server's role was never learned (pgporter started while it slept, and it has no role
   * hint): only waking it can tell whether it is the writer they wait for.
   */
  private wakeUnknown(): void {
    if (!this.deps.wake) return;
    for (const [name, m] of this.machines) {
      if (this.health.role(name) !== 'unknown' || !this.asleep(name)) continue;
      this.deps.wake(m).catch((err: unknown) => this.log.warn({ upstream: name, err: err instanceof Error ? err.message : String(err) }, 'could not wake an upstream to learn its role'));
    }
  }

  /** A waiting client (in a pool queue or held here) goes where its target points now. */
  private settle(h: RoutedHost): void {
    const r = this.route(h.target);
    if (r.t === 'wait') return this.hold(h);
    this.unhold(h);
    if (r.t === 'refuse') return h.client.fail(this.refusal(r.why));
    this.place(h, r);
    h.pool!.adopt(h.client);
  }

  private refusal(why: string): ClientError {
    return why.startsWith('more than one') ? new ClientError('SPLIT_BRAIN', why) : new ClientError('NO_SERVER_FOR_TARGET', why);
  }

  private readonly hosts = new Map<PoolClient, RoutedHost>();
  register(h: RoutedHost): void {
    this.hosts.set(h.client, h);
  }
  forget(h: RoutedHost): void {
    this.hosts.delete(h.client);
    this.unhold(h);
    this.countOn(h.pool, -1);
    h.pool?.clients.delete(h.client);
  }
  private hostOf(c: PoolClient): RoutedHost | undefined {
    return this.hosts.get(c);
  }

  /**
   * Roles, bans or the list changed. A new writer: session-mode clients bound to the old one end with a clear error,
   * its servers close (transactions under way there get an error, never a replay), idle transaction-mode clients
   * simply land on the new one at their next transaction. Servers that may no longer serve anyone (down, fenced,
   * removed) are closed and their waiters routed again; clients waiting for a writer are served.
   */
  private changed(): void {
    const now = Date.now();
    const cands = this.candidates(now);
    const w = findWriter(cands, routingOf(this.tenant).preferredPrimary);
    const old = this.writer;
    if (w.name !== old) {
      this.writer = w.name;
      this.log.warn({ event: 'writer_changed', from: old ?? null, to: w.name ?? null, split: w.split }, `writer of tenant ${this.tenant.id}: ${old ?? 'none'} -> ${w.name ?? (w.split ? 'refused (split brain)' : 'none')}`);
    }
    const byName = new Map(cands.map((c) => [c.name, c]));
    for (const pool of this.deps.poolsOf(this.tenant.id)) {
      const c = byName.get(pool.upstream.name);
      // Still answering but no longer to be written to: fenced, demoted, or the other writer of a split brain with a preference.
      const stopWrites =
        c !== undefined &&
        (c.role === 'fenced' || (old === c.name && w.name !== old && c.role !== 'down') || (c.role === 'primary' && w.name !== undefined && c.name !== w.name));
      // Gone (or removed from the list): its servers are dead or soon will be; a probe that merely timed out must not kill work that is running.
      const gone = c === undefined || c.role === 'down';
      if (!stopWrites && !gone) continue;
      if (stopWrites) {
        if (pool.mode === 'session') {
          const err = new ClientError('PRIMARY_CHANGED', `terminating connection: the primary of tenant "${this.tenant.id}" changed (${old ?? pool.upstream.name} -> ${w.name ?? 'none yet'}); reconnect`);
          for (const client of [...pool.clients]) if (client.server) client.fail(err, 'pgporter');
        }
        // Transactions under way there end with an error now (never replayed): no write may land on it any more.
        pool.closeServersNow(c.role === 'fenced' ? 'upstream fenced (read-only, not in recovery)' : 'upstream is no longer the writer');
      } else pool.closeServers();
      this.reroute(pool.evictWaiters());
    }
    for (const h of [...this.held]) this.settle(h);
  }

  /** The ParameterStatus values a client of `pool` is told at login: the pool's, with the server's role as known now. */
  clientDefaults(pool: Pool, readOnly: boolean): Map<string, string> | undefined {
    if (!pool.defaults) return undefined;
    const d = new Map(pool.defaults);
    const role = this.health.role(pool.upstream.name);
    if (d.has('in_hot_standby') && (role === 'primary' || role === 'standby' || role === 'fenced')) d.set('in_hot_standby', role === 'standby' ? 'on' : 'off');
    if (d.has(RO_PARAM) && (role === 'primary' || role === 'fenced')) d.set(RO_PARAM, role === 'fenced' ? 'on' : 'off');
    if (readOnly) d.set(RO_PARAM, 'on');
    return d;
  }
}
