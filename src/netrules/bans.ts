// Bans after repeated failed logins: the connection-path check (one Map lookup), failure counting, the refusal a client sees, metrics, and the admin view.
import { Counter, Gauge } from 'prom-client';
import type { Config } from '../config/index.js';
import { ClientError } from '../errors.js';
import { normaliseIp } from '../net/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { TenantRecord } from '../store/index.js';
import { banKey, type BanEntry } from './ban-cache.js';
import { MemoryBanBackend, type BanBackend, type BanPolicy, type FailureOutcome } from './ban-backend.js';
import { RedisBanBackend } from './bans-redis.js';

export type { BanEntry } from './ban-cache.js';

export interface BanListOptions {
  config: Pick<Config, 'netrules' | 'store'>;
  logger: Logger;
  metrics: Metrics;
  /** The trusted proxies' own addresses are never counted nor refused: a ban there would lock out every client. */
  isTrustedProxy(ip: string): boolean;
  /** For tests: a backend other than the one the config implies. */
  backend?: BanBackend;
}

/** The refusal, in PostgreSQL's words for an authorization refusal (28000), naming the address and the time left. */
export function authBanned(ban: BanEntry, now = Date.now()): ClientError {
  const seconds = Math.max(1, Math.ceil((ban.expiresAt - now) / 1000));
  return new ClientError('AUTH_BANNED', `too many failed logins from host "${ban.address}" for tenant "${ban.tenant}": refused for ${seconds} more seconds`, {
    detail: `Connections from this address to this tenant are refused until ${new Date(ban.expiresAt).toISOString()}.`,
    hint: 'Check the password; then wait for the ban to end, or ask the administrator to lift it.',
  });
}

/**
 * One per process. `check` is synchronous and cheap (a Map lookup); `recordFailure` never blocks the connection
 * that failed. A successful login does not reset the count (as in Supavisor): otherwise one valid account would let a
 * guesser go on guessing the others from the same address.
 */
export class BanList {
  private readonly backend: BanBackend;
  private readonly log: Logger;
  private readonly enabled: boolean;
  private readonly global: BanPolicy;
  private readonly made: Counter<'tenant'>;
  private readonly failures: Counter<'tenant'>;

  constructor(private readonly opts: BanListOptions) {
    const cfg = opts.config.netrules.authFailureBan;
    this.enabled = cfg.enabled;
    this.global = { maxFailures: cfg.maxFailures, windowMs: cfg.window, banTimeMs: cfg.banTime };
    this.log = opts.logger.child({ component: 'bans' });
    this.backend = opts.backend ?? createBackend(opts);
    const registry = opts.metrics.registry;
    for (const name of ['pgporter_auth_bans_total', 'pgporter_auth_failures_total', 'pgporter_auth_bans_active']) registry.removeSingleMetric(name);
    this.made = new Counter({
      name: 'pgporter_auth_bans_total',
      help: 'Bans made by this node after repeated failed logins from one address, by tenant',
      labelNames: ['tenant'],
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'pgporter_auth_failures_total',
      help: 'Failed logins counted towards a ban by this node, by tenant',
      labelNames: ['tenant'],
      registers: [registry],
    });
    const cache = this.backend.cache;
    new Gauge({
      name: 'pgporter_auth_bans_active',
      help: 'Bans this node enforces right now (made here or by other nodes), by tenant',
      labelNames: ['tenant'],
      registers: [registry],
      collect() {
        this.reset();
        const per = new Map<string, number>();
        for (const b of cache.list()) per.set(b.tenant, (per.get(b.tenant) ?? 0) + 1);
        for (const [tenant, n] of per) this.set({ tenant }, n);
      },
    });
  }

  get kind(): 'memory' | 'redis' {
    return this.backend.kind;
  }

  start(): Promise<void> {
    return this.backend.start();
  }

  close(): Promise<void> {
    return this.backend.close();
  }

  /** The limits for a tenant, or undefined when it is never banned. */
  policy(tenant: TenantRecord): BanPolicy | undefined {
    if (!this.enabled) return undefined;
    const o = tenant.authFailureBan;
    if (o === undefined) return this.global;
    if (o.enabled === false) return undefined;
    return {
      maxFailures: o.maxFailures ?? this.global.maxFailures,
      windowMs: o.window ?? this.global.windowMs,
      banTimeMs: o.banTime ?? this.global.banTimeMs,
    };
  }

  /** undefined when the address may try to log in; otherwise the AUTH_BANNED refusal. `clientIp` is normalised (PROXY reader). */
  check(tenant: TenantRecord, clientIp: string): ClientError | undefined {
    const cache = this.backend.cache;
    if (!this.enabled || cache.size === 0) return undefined;
    const ban = cache.get(banKey(tenant.id, clientIp));
    if (ban === undefined) return undefined;
    // Rare path from here: a ban exists.
    if (this.policy(tenant) === undefined || this.opts.isTrustedProxy(clientIp)) return undefined;
    return authBanned(ban);
  }

  /** Counts a failed login (AUTH_FAILED) from this address for this tenant; a ban follows at the limit. Never throws. */
  recordFailure(tenant: TenantRecord, clientIp: string): void {
    const policy = this.policy(tenant);
    if (!policy || this.opts.isTrustedProxy(clientIp)) return;
    this.failures.inc({ tenant: tenant.id });
    this.backend.recordFailure(tenant.id, clientIp, policy).then(
      (out) => {
        if (out.kind !== 'banned') return;
        this.made.inc({ tenant: tenant.id });
        this.log.warn(
          { event: 'auth_ban', tenant: tenant.id, client: clientIp, failures: out.failures, windowMs: policy.windowMs, banTimeMs: policy.banTimeMs, expiresAt: new Date(out.ban.expiresAt).toISOString() },
          `banned ${clientIp} for tenant "${tenant.id}" after ${out.failures} failed logins`,
        );
      },
      (err: unknown) => this.log.error({ err, tenant: tenant.id }, 'counting a failed login failed'),
    );
  }

  /** Counts a failure a worker process saw (it counted the metric itself): the node's bans live here. Never rejects. */
  countForWorker(tenant: string, address: string, policy: BanPolicy): Promise<FailureOutcome> {
    return this.backend.recordFailure(tenant, address, policy);
  }

  /** The bans this node enforces now, for the worker processes' copies. */
  active(): BanEntry[] {
    return this.backend.cache.list();
  }

  /** Active bans, optionally of one tenant; `expiresAt` as ISO text. */
  async list(tenantId?: string): Promise<Array<{ tenant: string; address: string; expiresAt: string; remainingMs: number }>> {
    const now = Date.now();
    return (await this.backend.list())
      .filter((b) => tenantId === undefined || b.tenant === tenantId)
      .map((b) => ({ tenant: b.tenant, address: b.address, expiresAt: new Date(b.expiresAt).toISOString(), remainingMs: Math.max(0, b.expiresAt - now) }));
  }

  /** Lifts a ban on every node; false when there was none. `address` may be in any text form of the address. */
  async lift(tenantId: string, address: string): Promise<boolean> {
    const ip = normaliseIp(address);
    if (ip === undefined) throw new RangeError(`"${address}" is not an IP address`);
    return this.backend.lift(tenantId, ip);
  }
}

function createBackend(opts: BanListOptions): BanBackend {
  const { store } = opts.config;
  if (store.kind !== 'redis' || !opts.config.netrules.authFailureBan.enabled) return new MemoryBanBackend();
  const r = store.redis;
  return new RedisBanBackend({
    url: r.url,
    password: r.password,
    caFile: r.caFile,
    keyPrefix: r.keyPrefix,
    syncIntervalMs: opts.config.netrules.authFailureBan.syncInterval,
    connectTimeoutMs: r.connectTimeout,
    logger: opts.logger,
  });
}
