// One pool per (tenant, database, user): idle servers, a FIFO of waiting clients, lazy server opening up to `size`, and the timeouts swept for them.
import { ClientError, toClientError } from '../errors.js';
import type { TenantPoolConfig } from '../config/index.js';
import type { TenantRecord } from '../store/index.js';
import type { UpstreamSecret } from '../auth/index.js';
import { UpstreamAuth } from '../auth/index.js';
import { connectUpstream, machineOf, upstreamClientError, type MachineSubject, type UpstreamSpec } from '../upstream/index.js';
import type { Logger } from '../observability/index.js';
import { PooledServer } from './server.js';
import type { ClientHost, ServerHost } from './seams.js';
import type { PoolClient } from './client.js';
import type { TenantTotals } from './pool-metrics.js';
import type { PoolContext } from './pool-context.js';
import { PoolPermits } from './pool-permits.js';
import { Waiters } from './pool-waiters.js';
import { AcceptedSettings, MAX_REMEMBERED } from './accepted-settings.js';
import { sweepClientTimeouts, sweepWaitTimeout } from './client-timeouts.js';
import { clientSnapshots, poolSnapshot, serverSnapshots, type ClientSnapshot, type PoolSnapshot, type ServerSnapshot } from './snapshots.js';

export class Pool implements ServerHost, ClientHost {
  defaults: Map<string, string> | undefined;
  readonly clients = new Set<PoolClient>();
  /** Most recent client's secret: what new servers log in with (every client of the pool is the same user). */
  secret: UpstreamSecret | undefined;
  private readonly idle: PooledServer[] = []; // a stack: the most recently used server is reused first, the others age out
  private readonly servers = new Set<PooledServer>();
  private readonly waiters = new Waiters();
  private opening = 0;
  private waking: Promise<void> | undefined;
  private closed = false;
  /** PAUSE: no transaction starts, servers are closed as they come back; resolved once none is left. */
  private paused = false;
  private pauseWaiters: Array<() => void> = [];
  /** Server-side statement names some server prepared without error (bounded: cleared when full). */
  private readonly validStatements = new Set<string>();
  /** Startup settings a server has accepted for this pool. */
  private readonly accepted: AcceptedSettings;
  private readonly log: Logger;
  /** Key of this pool for the permits (tenant, database, user). */
  readonly key: string;
  private readonly permits: PoolPermits;

  constructor(
    private readonly ctx: PoolContext,
    public tenant: TenantRecord,
    /** The one server this pool opens connections to; replaced when the tenant's entry for it is edited. */
    public upstream: UpstreamSpec,
    readonly database: string,
    readonly user: string,
    /** The tenant's running totals, shared by its pools (plain numbers, bumped on the hot path). */
    readonly stats: TenantTotals,
  ) {
    this.log = ctx.logger.child({ tenant: tenant.id, upstream: upstream.name, database, user, component: 'pool' });
    // Per upstream: a replica's servers report other defaults (in_hot_standby) than the primary's.
    this.key = `${tenant.id}\0${upstream.name}\0${database}\0${user}`;
    this.permits = new PoolPermits(ctx.permits, this.key);
    this.accepted = new AcceptedSettings(ctx.facts, this.key);
    const known = ctx.facts?.defaults(this.key);
    if (known) this.defaults = new Map(known);
  }

  get cfg(): TenantPoolConfig {
    return this.tenant.pool;
  }
  get mode(): 'transaction' | 'session' {
    return this.tenant.pool.mode;
  }
  get clock(): { now: number } {
    return this.ctx.clock;
  }
  /** No clients, no servers: the backend may drop this pool. */
  get empty(): boolean {
    return this.clients.size === 0 && this.servers.size === 0 && this.opening === 0;
  }

  snapshot(): PoolSnapshot {
    return poolSnapshot(this, this.waiters.count, this.servers.size, this.idle.length, this.opening);
  }

  debug(msg: string, extra?: Record<string, unknown>): void {
    this.log.debug(extra ?? {}, msg);
  }

  // --- clients ---

  acquire(client: PoolClient): PooledServer | undefined {
    const s = this.waiters.count === 0 && !this.paused ? this.takeIdle() : undefined;
    if (s) {
      this.stats.waitLatency.observe(0);
      return s;
    }
    client.queued(Date.now());
    this.waiters.push(client);
    this.pump();
    return undefined;
  }

  isValidStatement(serverName: string): boolean {
    return this.validStatements.has(serverName);
  }

  statementValid(serverName: string): void {
    if (this.validStatements.size >= MAX_REMEMBERED) this.validStatements.clear();
    this.validStatements.add(serverName);
  }

  unconfirmedSettings(settings: ReadonlyMap<string, string>): boolean {
    return this.accepted.unconfirmed(settings, this.defaults);
  }

  settingsConfirmed(settings: ReadonlyMap<string, string>): void {
    this.accepted.confirmed(settings);
  }

  internalError(err: unknown): void {
    this.ctx.metrics.errors.inc({ tenant: this.tenant.id, kind: 'internal' });
    this.log.error({ err }, 'internal error serving a client; that client was ended');
  }

  clientEnded(client: PoolClient): void {
    this.clients.delete(client);
    this.ctx.clientEnded?.(client);
  }

  cancelWait(_client: PoolClient): void {
    this.waiters.cancelled();
    this.dropStaleAsk();
  }

  checkin(server: PooledServer, clean: boolean): void {
    if (server.state === 'closed') return;
    const why = this.unusable(server, clean);
    if (why) {
      server.close(why);
      return;
    }
    // Back through serverFree once the reset is answered.
    if (this.mode === 'session' && server.state === 'active') {
      server.reset(this.cfg.resetQuery, true);
      return;
    }
    if (server.needsReset) {
      server.resetSettings();
      return;
    }
    this.offer(server);
  }

  // --- servers ---

  serverFree(server: PooledServer): void {
    if (server.state === 'resetting') {
      const why = this.unusable(server, true);
      if (why) server.close(why);
      else this.offer(server);
      return;
    }
    const c = server.client;
    // A client half-way through sending a message keeps the server until the message is whole.
    if (server.state === 'active' && c && !c.framer.midMessage) c.detach(true);
  }

  serverClosed(server: PooledServer, reason: string): void {
    if (this.servers.delete(server)) this.permits.give(1);
    const i = this.idle.indexOf(server);
    if (i >= 0) this.idle.splice(i, 1);
    const c = server.client;
    this.log.debug({ event: 'server_closed', reason, serverPid: server.key.pid, hadClient: !!c }, 'server connection closed');
    if (c) {
      this.ctx.metrics.errors.inc({ tenant: this.tenant.id, kind: 'server_lost' });
      server.unbind();
      c.serverLost();
    }
    if (!this.closed) this.pump();
    this.checkPaused();
  }

  /** Why a server must not be reused, or undefined. */
  private unusable(server: PooledServer, clean: boolean): string | undefined {
    if (!clean) return 'returned mid-transaction or with replies outstanding';
    if (this.closed) return 'pool closed';
    if (this.paused) return 'pool paused';
    if (!server.alive) return 'connection gone';
    if (server.retire) return 'retired';
    if (this.clock.now > server.expiresAt) return 'lifetime reached';
    if (this.ctx.serverEpoch && this.ctx.serverEpoch(this.machine.id) !== server.epoch) return 'opened under an older server epoch';
    if (this.servers.size > this.cfg.size) return 'pool shrank';
    return undefined;
  }

  /** A free server goes to the longest-waiting client, or onto the idle stack. */
  private offer(server: PooledServer): void {
    if (this.permits.owed > 0) {
      this.permits.owed--;
      server.close('handed over to another worker');
      return;
    }
    server.toIdle();
    const c = this.waiters.next();
    if (c) {
      this.give(c, server);
      this.dropStaleAsk();
    } else {
      server.idleSince = this.clock.now;
      this.idle.push(server);
    }
  }

  private give(c: PoolClient, server: PooledServer): void {
    this.stats.waitLatency.observe((Date.now() - c.waitingSince) / 1000);
    c.attach(server);
  }

  private takeIdle(): PooledServer | undefined {
    for (;;) {
      const s = this.idle.pop();
      if (s === undefined) return undefined;
      const why = this.unusable(s, true);
      if (why === undefined) return s;
      s.close(why);
    }
  }

  /** Serves waiters from idle servers, then opens servers for those still waiting, up to `size`. */
  private pump(): void {
    if (this.paused) return;
    while (this.waiters.count > 0 && this.idle.length > 0) {
      const s = this.takeIdle();
      if (!s) break;
      this.give(this.waiters.next()!, s);
    }
    this.openServers(Math.min(this.waiters.count - this.opening, this.cfg.size - this.servers.size - this.opening));
    // Permits granted after their waiters were served go back at once, for another worker to use.
    const spare = this.permits.held - this.servers.size - this.opening;
    if (spare > 0 && this.waiters.count <= this.opening && this.servers.size + this.opening >= this.cfg.minSize) this.permits.give(spare);
    this.dropStaleAsk();
  }

  /**
   * Nobody waits any more (served by a server that came back, or gone): an ask still open would make the broker take
   * servers from other workers for nothing, and keep it from asking this worker for its idle ones.
   */
  private dropStaleAsk(): void {
    if (this.permits.asked > 0 && this.waiters.count <= this.opening) this.permits.withdraw();
  }

  /** Opens up to `n` servers: with spare permits first, then with those the permits grant now; asks for the rest. */
  private openServers(n: number): void {
    if (n <= 0) return;
    const spare = Math.min(n, this.permits.held - this.servers.size - this.opening);
    for (let i = 0; i < spare; i++) this.open();
    const ask = n - spare - this.permits.asked;
    if (ask <= 0) {
      const now = this.permits.resize(this.cfg.size);
      if (now > 0) this.permitsGranted(now);
      return;
    }
    const now = this.permits.request(this.cfg.size, ask);
    for (let i = 0; i < now; i++) this.open();
  }

  /** Permits asked for earlier arrive. */
  permitsGranted(n: number): void {
    this.permits.granted(n);
    if (this.closed) this.permits.give(n);
    else this.pump();
  }

  /** Another worker waits for this pool (see PermitReceiver.handOver). */
  handOver(n: number, mode: 'idle' | 'owe'): void {
    this.permits.handOver(n, mode, this.servers.size + this.opening, this.idle, this.clock.now);
  }

  /** The backend drops this pool: what it asked for and was not granted is withdrawn. */
  dispose(): void {
    this.ctx.facts?.forget(this.key);
    this.permits.withdraw();
    const spare = this.permits.held - this.servers.size - this.opening;
    if (spare > 0) this.permits.give(spare);
  }

  private open(): void {
    this.opening++;
    void this.openServer();
  }

  private async openServer(): Promise<void> {
    const started = performance.now();
    const tenant = this.tenant;
    const target = this.upstream.target;
    let server: PooledServer;
    try {
      if (this.servers.size === 0 && this.ctx.beforeConnect) await this.wake();
      if (!this.secret) throw new ClientError('SERVER_UNAVAILABLE', 'no credentials to log in to the database server');
      const machine = this.machine;
      const epoch = this.ctx.serverEpoch?.(machine.id) ?? 0;
      const secret = this.secret;
      const open = () =>
        connectUpstream(
          target,
          { user: this.user, database: this.database },
          new UpstreamAuth(this.user, secret),
          this.ctx.connectTimeoutMs,
        );
      const conn = await (this.ctx.connect ? this.ctx.connect(machine, open) : open());
      this.ctx.serverOpened?.(this, conn);
      server = new PooledServer(conn, this, epoch, this.cfg.serverLifetime, this.cfg.preparedStatementCacheSize, this.clock.now);
    } catch (err) {
      this.opening--;
      this.permits.give(1);
      this.openFailed(err);
      this.checkPaused();
      return;
    }
    this.opening--;
    this.ctx.metrics.connectSeconds.observe({ tenant: tenant.id }, (performance.now() - started) / 1000);
    this.servers.add(server);
    if (!this.defaults) {
      this.defaults = new Map(server.settings.have);
      this.ctx.facts?.learnedDefaults(this.key, this.defaults);
    }
    this.log.debug({ event: 'server_opened', serverPid: server.key.pid }, 'server connection opened');
    if (this.closed) server.close('pool closed');
    else this.offer(server);
  }

  /** Waiters that no open or busy server will serve get the error now, not at their wait timeout. */
  private openFailed(err: unknown): void {
    const ce = err instanceof ClientError ? err : upstreamClientError(err);
    this.ctx.metrics.errors.inc({ tenant: this.tenant.id, kind: ce.kind });
    this.log.warn({ event: 'server_open_failed', code: ce.code, sqlstate: ce.sqlstate, err: (err as Error).message }, 'could not open a server connection');
    if (this.ctx.serverOpenFailed?.(this, err)) return;
    const coming = this.servers.size - this.idle.length + this.opening;
    this.waiters.fail(this.waiters.count - coming, () => ce);
  }

  private wake(): Promise<void> {
    this.waking ??= (async () => {
      try {
        await this.ctx.beforeConnect!(this.machine, (message) => this.waiters.notice(message));
      } finally {
        this.waking = undefined;
      }
    })();
    return this.waking;
  }

  private machineMemo: { tenant: TenantRecord; upstream: UpstreamSpec; machine: MachineSubject } | undefined;
  /** The machine to wake for this pool's servers; kept until the tenant or its upstream entry is replaced. */
  get machine(): MachineSubject {
    const m = this.machineMemo;
    if (m && m.tenant === this.tenant && m.upstream === this.upstream) return m.machine;
    return (this.machineMemo = { tenant: this.tenant, upstream: this.upstream, machine: machineOf(this.tenant, this.upstream) }).machine;
  }

  // --- routing (tenants with an `upstreams` list) ---

  /** Server connections in use or wanted here: what least-busy balancing compares. */
  get busy(): number {
    return this.servers.size - this.idle.length + this.waiters.count;
  }

  /** Takes every waiting client out of the queue, still in state waiting, to be routed to another server. */
  evictWaiters(): PoolClient[] {
    const out = this.waiters.evict();
    // Nobody waits here any more: permits asked for them go back to the node's other workers.
    if (!this.closed) this.pump();
    return out;
  }

  /** A client already waiting (routed here from another pool or from the wait for a writer) joins this queue. */
  adopt(client: PoolClient): void {
    this.waiters.push(client);
    this.pump();
  }

  /** The role parameters a server reported under a live session, or its 25006 answer: the router asks the server again. */
  roleHint(): void {
    this.ctx.roleHint?.(this);
  }

  /** Closes every server now, busy ones included: their transactions end with an error (the writer was lost or fenced). */
  closeServersNow(reason: string): void {
    for (const s of [...this.servers]) {
      const c = s.client;
      // Transaction mode: its client's statement already failed and nothing more can run there. The client keeps its
      // session (as when the reply had come first) rather than being ended for a server that only owed a ReadyForQuery.
      const spare = this.mode === 'transaction' && c !== undefined && s.state === 'active' && s.failedIdle && !c.framer.midMessage;
      s.close(reason);
      if (spare) c.exchangeEnded();
    }
  }

  // --- timers and shutdown ---

  /** Called by the backend's coarse timer: wait timeouts, idle and lifetime limits, client timeouts, minSize. */
  sweep(now: number): void {
    const cfg = this.cfg;
    if (this.waiters.count > 0) sweepWaitTimeout(this.waiters, cfg.queryWaitTimeout, this.ctx.metrics, this.tenant.id);
    this.waiters.compact();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const s = this.idle[i]!;
      let why = this.unusable(s, true);
      if (!why && now - s.idleSince > cfg.serverIdleTimeout && this.servers.size > cfg.minSize) why = 'idle timeout';
      if (why) {
        this.idle.splice(i, 1);
        s.close(why);
      }
    }
    if (cfg.idleTransactionTimeout > 0 || cfg.clientIdleTimeout > 0) sweepClientTimeouts(this.clients, cfg, now, this.ctx.metrics, this.tenant.id);
    if (!this.closed && !this.paused && this.secret && this.servers.size + this.opening < cfg.minSize) {
      this.openServers(cfg.minSize - this.servers.size - this.opening);
    }
  }

  /**
   * PAUSE (upstream maintenance): transactions under way finish, no new one starts (clients wait, up to
   * queryWaitTimeout), and every server connection is closed. Resolves once none is left.
   */
  pause(): Promise<void> {
    this.paused = true;
    this.closeServers();
    return new Promise<void>((resolve) => {
      this.pauseWaiters.push(resolve);
      this.checkPaused();
    });
  }

  /** RESUME: waiting clients are served again. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const w of this.pauseWaiters.splice(0)) w();
    this.pump();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  private checkPaused(): void {
    if (!this.paused || this.servers.size > 0 || this.opening > 0) return;
    for (const w of this.pauseWaiters.splice(0)) w();
  }

  /** New settings: a larger size serves waiting clients at once; a smaller one closes servers as they come back. */
  settingsChanged(): void {
    if (!this.closed) this.pump();
  }

  /** Closes idle servers now and the busy ones when their client lets go (the machine is about to be suspended). */
  closeServers(): void {
    for (const s of this.servers) s.retire = true;
    for (const s of this.idle.splice(0)) s.close('tenant servers closed');
  }

  close(): void {
    this.closed = true;
    const bye = new ClientError('SHUTTING_DOWN', 'terminating connection due to administrator command');
    this.waiters.fail(this.waiters.count, () => bye);
    for (const s of this.servers) s.close('pgporter shutting down');
  }

  // --- read-only figures for the admin console (src/console) ---

  /** How long the oldest client still waiting for a server has waited, in ms (0 when none waits). */
  maxWaitMs(now: number): number {
    return this.waiters.maxWaitMs(now);
  }

  /** The pool's served clients as plain data. */
  clientSnapshots(): ClientSnapshot[] {
    return clientSnapshots(this.clients, this.tenant.id);
  }

  /** The pool's open server connections as plain data. */
  serverSnapshots(): ServerSnapshot[] {
    return serverSnapshots(this.servers, this.clients, this.tenant.id, this.database, this.user, this.upstream.name);
  }

  /** Counts closed servers as errors by kind for metrics (used by the client on failure). */
  countError(err: unknown): void {
    this.ctx.metrics.errors.inc({ tenant: this.tenant.id, kind: toClientError(err).kind });
  }
}
