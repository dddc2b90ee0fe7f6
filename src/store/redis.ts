// The shared store: tenants in a Redis hash, every write bumps a version and is pushed by pub/sub, with a periodic resync as the safety net.
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/index.js';
import { StoreError } from './errors.js';
import type { StoreMetrics } from './metrics.js';
import { TenantTable } from './table.js';
import type { Store, StoreEvent, StoreStatus, TenantRecord } from './types.js';
import { checkStoredTenant } from './validate.js';

export interface RedisStoreOptions {
  url: string;
  password?: string | undefined;
  caFile?: string | undefined;
  keyPrefix: string;
  resyncIntervalMs: number;
  connectTimeoutMs: number;
  seed: readonly TenantRecord[];
  logger: Logger;
  metrics?: StoreMetrics;
}

/*
 * Data layout (all under keyPrefix):
 *   <p>tenants  hash id -> tenant JSON
 *   <p>version  integer, INCR'd by every write in the same script as the write
 *   <p>changes  pub/sub channel, message {"v":version,"id":tenant id or "*"}
 * A node applies a message directly when its version is exactly the next one, else reloads everything; the periodic
 * resync compares versions so a lost message costs at most one interval.
 */

// Write, bump and announce in one script, so no node can see the new version without the data or miss the message for it.
const PUT_SCRIPT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], '{"v":' .. v .. ',"id":"' .. ARGV[1] .. '"}')
return v`;
const DELETE_SCRIPT = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], '{"v":' .. v .. ',"id":"' .. ARGV[1] .. '"}')
return v`;
// ARGV: channel, then id/json pairs; only ids absent from the hash are written.
const SEED_SCRIPT = `
local added = 0
for i = 2, #ARGV, 2 do added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
if added == 0 then return 0 end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], '{"v":' .. v .. ',"id":"*"}')
return added`;

// Puts back what this node knows after Redis came back empty or behind (restart without persistence, failover to a
// stale replica). HSETNX keeps anything written since; the version jumps past ours so every node reloads.
// ARGV: channel, our version, then id/json pairs.
const RESTORE_SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur >= tonumber(ARGV[2]) then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
local v = tonumber(ARGV[2]) + 1
redis.call('SET', KEYS[2], v)
redis.call('PUBLISH', ARGV[1], '{"v":' .. v .. ',"id":"*"}')
return v`;

export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly table: TenantTable;
  private readonly log: Logger;
  private readonly keys: { tenants: string; version: string; channel: string };
  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private version = 0;
  private loaded = false;
  private healthy = false;
  private lastSyncAt = 0;
  private seeded = false;
  /** Syncs and applied messages run one at a time, in order. */
  private chain: Promise<unknown> = Promise.resolve();
  private fullSyncQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private onLoaded: (() => void) | undefined;

  constructor(private readonly opts: RedisStoreOptions) {
    this.log = opts.logger.child({ component: 'store', store: 'redis' });
    this.table = new TenantTable((err) => this.log.error({ err }, 'store change listener failed'));
    const p = opts.keyPrefix;
    this.keys = { tenants: `${p}tenants`, version: `${p}version`, channel: `${p}changes` };
  }

  async start(): Promise<void> {
    // Until Redis answers, serve the config's tenants so lookups work; loaded=false makes netrules refuse restricted ones.
    for (const t of this.opts.seed) this.table.upsert(t);
    const loadedOnce = new Promise<void>((resolve) => (this.onLoaded = resolve));
    this.cmd = this.client('commands');
    this.sub = this.client('subscriber');
    this.cmd.on('ready', () => this.queueFullSync('connected'));
    this.sub.on('ready', () => {
      this.sub!.subscribe(this.keys.channel).then(
        // Messages published while the subscriber was away are lost: catch up from the data itself.
        () => this.queueFullSync('subscribed'),
        (err: Error) => this.failed('connect', err),
      );
    });
    this.sub.on('message', (_channel: string, message: string) => this.onMessage(message));
    this.timer = setInterval(() => this.periodicCheck(), this.opts.resyncIntervalMs);
    this.timer.unref();
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([loadedOnce, new Promise<void>((r) => (timeout = setTimeout(r, this.opts.connectTimeoutMs)))]);
    clearTimeout(timeout);
    if (!this.loaded) {
      this.log.error({ url: redactUrl(this.opts.url) }, 'Redis unreachable at start: restricted tenants are refused until it answers');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.cmd?.disconnect();
    this.sub?.disconnect();
    await this.chain.catch(() => undefined);
  }

  getTenant(id: string): TenantRecord | undefined {
    return this.table.get(id);
  }

  listTenants(): TenantRecord[] {
    return this.table.list();
  }

  async putTenant(tenant: TenantRecord): Promise<void> {
    const v = Number(
      await this.write(() => this.cmd!.eval(PUT_SCRIPT, 2, this.keys.tenants, this.keys.version, tenant.id, JSON.stringify(tenant), this.keys.channel)),
    );
    await this.applyOwnWrite(v, () => this.table.upsert(tenant));
  }

  async deleteTenant(id: string): Promise<boolean> {
    const v = Number(await this.write(() => this.cmd!.eval(DELETE_SCRIPT, 2, this.keys.tenants, this.keys.version, id, this.keys.channel)));
    if (v === 0) return false;
    await this.applyOwnWrite(v, () => this.table.remove(id));
    return true;
  }

  status(): StoreStatus {
    return { healthy: this.healthy, loaded: this.loaded, version: this.version, lastSyncAt: this.lastSyncAt };
  }

  onChange(listener: (event: StoreEvent) => void): void {
    this.table.onChange(listener);
  }

  private client(role: string): Redis {
    const options: RedisOptions = {
      connectionName: `pgporter-${role}`,
      connectTimeout: this.opts.connectTimeoutMs,
      // Fail commands at once while disconnected: an admin write should get a 503 now, not hang in a queue.
      enableOfflineQueue: role === 'subscriber',
      maxRetriesPerRequest: 1,
      autoResubscribe: false,
      retryStrategy: (times: number) => Math.min(2000, 50 * 2 ** Math.min(times, 6)) + Math.floor(Math.random() * 100),
    };
    if (this.opts.password !== undefined) options.password = this.opts.password;
    if (this.opts.url.startsWith('rediss://')) {
      options.tls = this.opts.caFile ? { ca: readFileSync(this.opts.caFile) } : {};
    }
    const c = new Redis(this.opts.url, options);
    c.on('error', (err: Error) => this.failed('connect', err));
    c.on('close', () => this.setHealthy(false, 'connection closed'));
    return c;
  }

  private async write<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed || !this.cmd) throw new StoreError('STORE_UNAVAILABLE', 'redis', 'tenant store is closed');
    if (!this.loaded) throw new StoreError('STORE_UNAVAILABLE', 'redis', 'Redis has not been reachable since start; cannot edit tenants');
    try {
      return await op();
    } catch (err) {
      this.opts.metrics?.error('write');
      this.log.error({ err }, 'Redis write failed');
      throw new StoreError('STORE_UNAVAILABLE', 'redis', `Redis write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Our own write is visible here at once; if another node wrote in between, reload to pick that up too. */
  private applyOwnWrite(v: number, apply: () => void): Promise<void> {
    return this.serial(async () => {
      apply();
      if (v === this.version + 1) this.version = v;
      else if (v > this.version) await this.fullSync('version gap after write');
    });
  }

  private onMessage(message: string): void {
    let m: { v?: unknown; id?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      this.log.warn({ message }, 'ignoring malformed store change message');
      return;
    }
    const v = typeof m.v === 'number' ? m.v : NaN;
    const id = typeof m.id === 'string' ? m.id : '*';
    if (!(v > this.version)) return;
    void this.serial(async () => {
      if (v <= this.version) return;
      if (v !== this.version + 1 || id === '*') return this.fullSync('change message');
      const [[e1, json], [e2, current]] = (await this.cmd!.multi().hget(this.keys.tenants, id).get(this.keys.version).exec()) as Array<
        [Error | null, string | null]
      >;
      if (e1 || e2) throw e1 ?? e2;
      if (Number(current) !== v) return this.fullSync('version moved on');
      if (json === null) this.table.remove(id);
      else {
        const r = this.parseRecord(id, json);
        if (r) this.table.upsert(r);
      }
      this.version = v;
      this.synced();
    }).catch((err: Error) => this.failed('sync', err));
  }

  private periodicCheck(): void {
    if (this.closed || !this.cmd || this.cmd.status !== 'ready') return;
    void this.serial(async () => {
      const v = Number((await this.cmd!.get(this.keys.version)) ?? 0);
      if (v !== this.version || !this.loaded) await this.fullSync('periodic check');
      else this.synced();
    }).catch((err: Error) => this.failed('sync', err));
  }

  private queueFullSync(reason: string): void {
    if (this.fullSyncQueued || this.closed) return;
    this.fullSyncQueued = true;
    void this.serial(async () => {
      this.fullSyncQueued = false;
      await this.fullSync(reason);
    }).catch((err: Error) => this.failed('sync', err));
  }

  /** Reads every tenant and the version in one transaction and makes memory equal to it. */
  private async fullSync(reason: string, restored = false): Promise<void> {
    if (!this.seeded) await this.seed();
    const res = (await this.cmd!.multi().hgetall(this.keys.tenants).get(this.keys.version).exec()) as Array<[Error | null, unknown]>;
    const [[e1, all], [e2, ver]] = res as [[Error | null, Record<string, string>], [Error | null, string | null]];
    if (e1 || e2) throw e1 ?? e2;
    if (this.loaded && !restored && Number(ver ?? 0) < this.version) {
      // Versions only grow: Redis going backwards means it lost data, not that an admin deleted everything.
      await this.restore(Number(ver ?? 0));
      return this.fullSync('restored', true);
    }
    const records: TenantRecord[] = [];
    for (const [id, json] of Object.entries(all)) {
      const r = this.parseRecord(id, json);
      if (r) records.push(r);
      else {
        // One bad record must not drop that tenant's rules: keep the copy we already enforce.
        const kept = this.table.get(id);
        if (kept) records.push(kept);
      }
    }
    this.table.replaceAll(records);
    this.version = Number(ver ?? 0);
    const first = !this.loaded;
    this.loaded = true;
    this.synced();
    if (first) {
      this.log.info({ tenants: records.length, version: this.version, reason }, 'tenant store loaded from Redis');
      this.onLoaded?.();
    } else this.log.debug({ version: this.version, reason }, 'tenant store resynced');
  }

  private async restore(redisVersion: number): Promise<void> {
    const args: string[] = [this.keys.channel, String(this.version)];
    for (const t of this.table.list()) args.push(t.id, JSON.stringify(t));
    const v = Number(await this.cmd!.eval(RESTORE_SCRIPT, 2, this.keys.tenants, this.keys.version, ...args));
    if (v > 0) {
      this.log.warn({ redisVersion, localVersion: this.version, tenants: this.table.list().length }, 'Redis came back with older data; restored the tenants this node knew');
    }
  }

  private async seed(): Promise<void> {
    if (this.opts.seed.length > 0) {
      const args: string[] = [this.keys.channel];
      for (const t of this.opts.seed) args.push(t.id, JSON.stringify(t));
      const added = Number(await this.cmd!.eval(SEED_SCRIPT, 2, this.keys.tenants, this.keys.version, ...args));
      if (added > 0) this.log.info({ added }, 'seeded tenants from config into Redis');
    }
    this.seeded = true;
  }

  private parseRecord(id: string, json: string): TenantRecord | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      raw = undefined;
    }
    const r = checkStoredTenant(raw);
    if (typeof r === 'string' || r.id !== id) {
      this.opts.metrics?.error('load');
      this.log.error({ tenant: id, reason: typeof r === 'string' ? r : 'id does not match its key' }, 'invalid tenant record in Redis; ignoring it');
      return undefined;
    }
    return r;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private synced(): void {
    this.lastSyncAt = Date.now();
    this.setHealthy(true, 'synced');
  }

  private failed(op: 'sync' | 'connect', err: Error): void {
    if (this.closed) return;
    this.opts.metrics?.error(op);
    this.setHealthy(false, err.message);
  }

  private setHealthy(healthy: boolean, reason: string): void {
    if (this.closed || healthy === this.healthy) return;
    this.healthy = healthy;
    if (healthy) this.log.info({ version: this.version }, 'Redis reachable again; tenant store in sync');
    else this.log.error({ reason, version: this.version }, 'Redis unreachable: enforcing the last known rules');
  }
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//[redacted]@');
}
