// The shared store: tenants in a Redis hash with a revision each, every write bumps a version and is pushed by pub/sub, with a periodic resync as the safety net.
import type { Redis } from 'ioredis';
import { closeRedis, openRedis, type RedisRole } from '../net/index.js';
import type { Logger } from '../observability/index.js';
import { StoreError } from './errors.js';
import type { StoreMetrics } from './metrics.js';
import { DELETE_SCRIPT, PUT_SCRIPT, RESTORE_SCRIPT, SEED_SCRIPT } from './redis-scripts.js';
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
  /**
   * How long a node that starts, finds Redis empty and knows nothing waits for a peer to restore the fleet's records
   * before it seeds from its config (default 2 x resyncIntervalMs, at least 5 s). Restricted tenants are refused (08004) meanwhile.
   */
  restoreGraceMs?: number | undefined;
  seed: readonly TenantRecord[];
  logger: Logger;
  metrics?: StoreMetrics;
}

/** The floor of the default restore grace: longer than a peer's reconnect backoff (at most 2.1 s). */
const DEFAULT_MIN_RESTORE_GRACE_MS = 5000;

/** What this node knows of one tenant id: the record at a revision, or a tombstone (no tenant) at a revision. */
interface Known {
  revision: number;
  tenant?: TenantRecord;
}

/** One full read of Redis: every id it knows with its revision and JSON (undefined for a tombstone). */
interface Snapshot {
  entries: Map<string, { revision: number; json: string | undefined }>;
  /** null when the version key is absent: Redis is empty (never written, or restarted without persistence). */
  version: number | null;
}

/*
 * A node applies a change message directly when its version is exactly the next one, else reloads everything; the
 * periodic resync compares versions so a lost message costs at most one interval. Revisions (see redis-scripts.ts)
 * decide which copy of a tenant wins: every full load compares what Redis holds with what this node knows and writes
 * back anything Redis lost, so no restart of Redis or of a node, in any order, undoes a revocation or a deletion.
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  private readonly table: TenantTable;
  private readonly log: Logger;
  private readonly keys: { tenants: string; revisions: string; version: string; channel: string };
  private readonly restoreGraceMs: number;
  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private version = 0;
  private loaded = false;
  private healthy = false;
  private lastSyncAt = 0;
  private seeded = false;
  /** Records and tombstones as last read from (or written to) Redis, with their revisions. Config seeds are not in it. */
  private known = new Map<string, Known>();
  /** Epoch ms until which a fresh node that found Redis empty waits for peers before seeding. */
  private graceUntil: number | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
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
    this.keys = { tenants: `${p}tenants`, revisions: `${p}revisions`, version: `${p}version`, channel: `${p}changes` };
    // A peer reconnects to a restarted Redis within about 2 s (the retry backoff below) and restores at once.
    this.restoreGraceMs = opts.restoreGraceMs ?? Math.max(2 * opts.resyncIntervalMs, DEFAULT_MIN_RESTORE_GRACE_MS);
  }

  async start(): Promise<void> {
    // Until Redis answers, serve the config's tenants so lookups work; loaded=false makes netrules refuse restricted ones.
    for (const t of this.opts.seed) this.table.upsert(t);
    const loadedOnce = new Promise<void>((resolve) => (this.onLoaded = resolve));
    this.cmd = this.client({ name: 'commands', subscriber: false, resubscribe: false });
    this.sub = this.client({ name: 'subscriber', subscriber: true, resubscribe: false });
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
    // Waiting for peers after finding Redis empty was logged when the wait began.
    if (!this.loaded && this.graceUntil === undefined) {
      this.log.error({ url: redactUrl(this.opts.url) }, 'Redis unreachable at start: restricted tenants are refused until it answers');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    await closeRedis([this.cmd, this.sub], this.chain);
  }

  getTenant(id: string): TenantRecord | undefined {
    return this.table.get(id);
  }

  listTenants(): TenantRecord[] {
    return this.table.list();
  }

  /** The revision this node knows for a tenant id (a tombstone's too), or undefined: for tests and diagnostics. */
  revisionOf(id: string): number | undefined {
    return this.known.get(id)?.revision;
  }

  async putTenant(tenant: TenantRecord): Promise<void> {
    const known = this.known.get(tenant.id)?.revision ?? -1;
    const [v, revision] = await this.write(
      () =>
        this.cmd!.eval(PUT_SCRIPT, 3, this.keys.tenants, this.keys.revisions, this.keys.version, tenant.id, JSON.stringify(tenant), String(known), this.keys.channel) as Promise<
          [number, number]
        >,
    );
    await this.applyOwnWrite(Number(v), () => {
      this.table.upsert(tenant);
      this.remember(tenant.id, { revision: Number(revision), tenant });
    });
  }

  async deleteTenant(id: string): Promise<boolean> {
    const k = this.known.get(id);
    const holds = k?.tenant !== undefined && this.loaded;
    const [v, revision] = await this.write(
      () =>
        this.cmd!.eval(DELETE_SCRIPT, 3, this.keys.tenants, this.keys.revisions, this.keys.version, id, String(k?.revision ?? -1), holds ? '1' : '0', this.keys.channel) as Promise<
          [number, number]
        >,
    );
    if (Number(v) === 0) return false;
    await this.applyOwnWrite(Number(v), () => {
      this.table.remove(id);
      this.remember(id, { revision: Number(revision) });
    });
    return true;
  }

  status(): StoreStatus {
    return { healthy: this.healthy, loaded: this.loaded, version: this.version, lastSyncAt: this.lastSyncAt };
  }

  onChange(listener: (event: StoreEvent) => void): void {
    this.table.onChange(listener);
  }

  private client(role: RedisRole): Redis {
    const c = openRedis(this.opts, role, (err: Error) => this.failed('connect', err));
    c.on('close', () => this.setHealthy(false, 'connection closed'));
    return c;
  }

  private async write<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed || !this.cmd) throw new StoreError('STORE_UNAVAILABLE', 'redis', 'tenant store is closed');
    if (!this.loaded) throw new StoreError('STORE_UNAVAILABLE', 'redis', 'the tenant store has not loaded from Redis since start; cannot edit tenants');
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

  /** Records what Redis holds for an id, never lowering a revision this node already knows. */
  private remember(id: string, k: Known): void {
    const prev = this.known.get(id);
    if (!prev || k.revision >= prev.revision) this.known.set(id, k);
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
      if (!this.loaded || v !== this.version + 1 || id === '*') return this.fullSync('change message');
      const res = (await this.cmd!.multi().hget(this.keys.tenants, id).hget(this.keys.revisions, id).get(this.keys.version).exec()) as Array<
        [Error | null, string | null]
      >;
      const [[e1, json], [e2, rev], [e3, current]] = res as [[Error | null, string | null], [Error | null, string | null], [Error | null, string | null]];
      if (e1 || e2 || e3) throw e1 ?? e2 ?? e3;
      if (Number(current) !== v) return this.fullSync('version moved on');
      const revision = rev !== null ? Number(rev) || 0 : json !== null ? 0 : -1;
      // Redis holding less than we know means it lost data: the full sync writes ours back.
      if ((this.known.get(id)?.revision ?? -1) > revision) return this.fullSync('Redis behind this node');
      if (json === null) {
        this.table.remove(id);
        if (revision >= 0) this.remember(id, { revision });
      } else {
        const r = this.parseRecord(id, json);
        if (r) {
          this.table.upsert(r);
          this.remember(id, { revision, tenant: r });
        }
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

  private async read(): Promise<Snapshot> {
    const res = (await this.cmd!.multi().hgetall(this.keys.tenants).hgetall(this.keys.revisions).get(this.keys.version).exec()) as Array<
      [Error | null, unknown]
    >;
    const [[e1, all], [e2, revs], [e3, ver]] = res as [
      [Error | null, Record<string, string>],
      [Error | null, Record<string, string>],
      [Error | null, string | null],
    ];
    if (e1 || e2 || e3) throw e1 ?? e2 ?? e3;
    const entries: Snapshot['entries'] = new Map();
    for (const [id, json] of Object.entries(all)) entries.set(id, { revision: Number(revs[id] ?? 0) || 0, json });
    for (const [id, rev] of Object.entries(revs)) if (!entries.has(id)) entries.set(id, { revision: Number(rev) || 0, json: undefined });
    return { entries, version: ver === null ? null : Number(ver) };
  }

  /**
   * Reads every tenant, revision and the version in one transaction, writes back whatever this node knows at a newer
   * revision than Redis (Redis lost it), and makes memory equal to Redis.
   */
  private async fullSync(reason: string): Promise<void> {
    let snap = await this.read();
    if (!this.seeded) {
      if (snap.version === null && this.known.size === 0 && !this.graceOver()) {
        // Reachable, so healthy; but nothing loaded: restricted tenants stay refused until a peer restores or the grace ends.
        this.synced();
        return;
      }
      await this.seed();
      snap = await this.read();
    }
    if (await this.restore(snap)) snap = await this.read();
    const records: TenantRecord[] = [];
    const known = new Map<string, Known>();
    for (const [id, e] of snap.entries) {
      if (e.json === undefined) {
        known.set(id, { revision: e.revision });
        continue;
      }
      const r = this.parseRecord(id, e.json);
      if (r) {
        records.push(r);
        known.set(id, { revision: e.revision, tenant: r });
      } else {
        // One bad record must not drop that tenant's rules: keep the copy we already enforce.
        const kept = this.table.get(id);
        if (kept) records.push(kept);
        const k = this.known.get(id);
        if (k) known.set(id, k);
      }
    }
    this.table.replaceAll(records);
    this.known = known;
    this.version = snap.version ?? 0;
    const first = !this.loaded;
    this.loaded = true;
    this.synced();
    if (first) {
      this.log.info({ tenants: records.length, version: this.version, reason }, 'tenant store loaded from Redis');
      this.onLoaded?.();
    } else this.log.debug({ version: this.version, reason }, 'tenant store resynced');
  }

  /** True once a fresh node that found Redis empty has waited long enough for peers; starts the wait on first call. */
  private graceOver(): boolean {
    const now = Date.now();
    if (this.graceUntil === undefined) {
      this.graceUntil = now + this.restoreGraceMs;
      this.graceTimer = setTimeout(() => this.queueFullSync('restore grace over'), this.restoreGraceMs + 10);
      this.graceTimer.unref();
      this.log.warn({ graceMs: this.restoreGraceMs }, 'Redis is empty and this node knows no tenants: waiting for a peer to restore them before seeding from config; restricted tenants are refused meanwhile');
      return this.restoreGraceMs <= 0;
    }
    if (now < this.graceUntil) return false;
    this.log.warn({ graceMs: this.restoreGraceMs }, 'no peer restored the tenants within the grace period: seeding from config');
    return true;
  }

  /** Writes back each record or tombstone this node knows at a newer revision than Redis holds. True if any was written. */
  private async restore(snap: Snapshot): Promise<boolean> {
    const args: string[] = [this.keys.channel, String(this.version)];
    let behind = 0;
    for (const [id, k] of this.known) {
      if (k.revision <= (snap.entries.get(id)?.revision ?? -1)) continue;
      args.push(id, String(k.revision), k.tenant ? JSON.stringify(k.tenant) : '');
      behind++;
    }
    if (behind === 0) return false;
    // The script compares again: a peer may have restored or written in between.
    const v = Number(await this.cmd!.eval(RESTORE_SCRIPT, 3, this.keys.tenants, this.keys.revisions, this.keys.version, ...args));
    if (v > 0) {
      this.log.warn(
        { redisVersion: snap.version, localVersion: this.version, behind },
        'Redis came back empty or older than this node: restored the newer tenant records and tombstones this node knew',
      );
    }
    return true;
  }

  private async seed(): Promise<void> {
    const args: string[] = [this.keys.channel];
    for (const t of this.opts.seed) args.push(t.id, JSON.stringify(t));
    const added = Number(await this.cmd!.eval(SEED_SCRIPT, 3, this.keys.tenants, this.keys.revisions, this.keys.version, ...args));
    if (added > 0) this.log.info({ added }, 'seeded tenants from config into Redis');
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
