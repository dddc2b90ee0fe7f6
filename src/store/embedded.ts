// The default store: tenants in one JSON file on local disk, written atomically, reloaded when someone else changes it.
import { mkdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../observability/index.js';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';
import { StoreError } from './errors.js';
import type { StoreMetrics } from './metrics.js';
import { TenantTable } from './table.js';
import type { Store, StoreEvent, StoreStatus, TenantRecord } from './types.js';
import { checkStoredTenants } from './validate.js';

/** Marks the file as ours, so a stray JSON file is refused rather than read as "no tenants". */
export const EMBEDDED_FORMAT = 'pgporter-tenants/1';

export interface EmbeddedStoreOptions {
  path: string;
  /** Fallback stat() period for missed watch events, in ms. */
  pollIntervalMs: number;
  /** Tenants from the config file, written when their id is absent from the file. */
  seed: readonly TenantRecord[];
  logger: Logger;
  metrics?: StoreMetrics;
}

type ReadResult = { ok: true; tenants: TenantRecord[]; version: number } | { ok: false; missing: boolean; reason: string };

export class EmbeddedStore implements Store {
  readonly kind = 'embedded';
  readonly path: string;
  private readonly table: TenantTable;
  private readonly log: Logger;
  private version = 0;
  private loaded = false;
  private healthy = true;
  private lastSyncAt = 0;
  /** inode:size:mtime of the file as last read or written, to skip reloads of unchanged content. */
  private signature = '';
  /** Signature of a file already reported as corrupt, so it is logged once, not every poll. */
  private reportedBad = '';
  private writes: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: EmbeddedStoreOptions) {
    this.path = resolve(opts.path);
    this.log = opts.logger.child({ component: 'store', store: 'embedded' });
    this.table = new TenantTable((err) => this.log.error({ err }, 'store change listener failed'));
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    removeStaleTempFiles(this.path);
    this.signature = this.statSignature();
    const r = this.read();
    if (r.ok) {
      this.apply(r.tenants, r.version);
      this.log.info({ path: this.path, tenants: r.tenants.length, version: r.version }, 'tenant store loaded');
    } else if (r.missing) {
      this.loaded = true;
      this.healthy = true;
      this.lastSyncAt = Date.now();
      this.log.info({ path: this.path }, 'tenant store file absent; starting empty');
    } else {
      // Never overwrite a file we cannot read: it may hold good rules a person can repair. Serve the config seed meanwhile.
      this.refuse(r.reason);
      for (const t of this.opts.seed) this.table.upsert(t);
    }
    if (this.loaded) await this.seedMissing();
    this.watchFile();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    if (this.debounce) clearTimeout(this.debounce);
    await this.writes.catch(() => undefined);
  }

  getTenant(id: string): TenantRecord | undefined {
    return this.table.get(id);
  }

  listTenants(): TenantRecord[] {
    return this.table.list();
  }

  putTenant(tenant: TenantRecord): Promise<void> {
    return this.mutate((all) => {
      all.set(tenant.id, tenant);
      return true;
    }).then(() => undefined);
  }

  deleteTenant(id: string): Promise<boolean> {
    return this.mutate((all) => all.delete(id));
  }

  status(): StoreStatus {
    return { healthy: this.healthy, loaded: this.loaded, version: this.version, lastSyncAt: this.lastSyncAt };
  }

  onChange(listener: (event: StoreEvent) => void): void {
    this.table.onChange(listener);
  }

  /** Reads the file now (tests and the poller); returns whether the rules in memory changed. */
  reloadNow(): boolean {
    const before = this.version;
    const sig = this.statSignature();
    if (sig === this.signature || sig === this.reportedBad) return false;
    const r = this.read();
    if (r.ok) {
      this.signature = sig;
      this.apply(r.tenants, r.version);
      if (this.reportedBad) this.log.info({ path: this.path }, 'tenant store file valid again');
      this.reportedBad = '';
    } else if (r.missing) {
      // A deleted file is more likely an accident than an instruction to drop every rule: keep what we enforce.
      this.signature = sig;
      this.log.warn({ path: this.path }, 'tenant store file disappeared; keeping the rules in memory until the next write');
    } else {
      this.reportedBad = sig;
      this.refuse(r.reason);
    }
    return this.version !== before;
  }

  private statSignature(): string {
    try {
      const st = statSync(this.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  private refuse(reason: string): void {
    this.healthy = false;
    this.opts.metrics?.error('load');
    this.log.error(
      { path: this.path, reason, loaded: this.loaded },
      this.loaded ? 'tenant store file is invalid; keeping the last good rules' : 'tenant store file is invalid; not loading it',
    );
  }

  private read(): ReadResult {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, missing: code === 'ENOENT', reason: `cannot read: ${(err as Error).message}` };
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return { ok: false, missing: false, reason: `not valid JSON (torn or hand-broken write?): ${(err as Error).message}` };
    }
    const d = doc as { format?: unknown; version?: unknown; tenants?: unknown } | null;
    if (!d || typeof d !== 'object' || d.format !== EMBEDDED_FORMAT) {
      return { ok: false, missing: false, reason: `not a pgporter tenant file (expected "format": "${EMBEDDED_FORMAT}")` };
    }
    const tenants = checkStoredTenants(d.tenants);
    if (typeof tenants === 'string') return { ok: false, missing: false, reason: tenants };
    const version = typeof d.version === 'number' && Number.isSafeInteger(d.version) ? d.version : 0;
    return { ok: true, tenants, version };
  }

  private apply(tenants: TenantRecord[], fileVersion: number): void {
    const changed = this.table.replaceAll(tenants);
    // A hand edit may not bump "version"; our own counter still moves so watchers see a new version.
    this.version = Math.max(fileVersion, this.version + (changed && this.loaded ? 1 : 0));
    this.loaded = true;
    this.healthy = true;
    this.lastSyncAt = Date.now();
  }

  private async seedMissing(): Promise<void> {
    const missing = this.opts.seed.filter((t) => !this.table.has(t.id));
    if (missing.length === 0) return;
    await this.mutate((all) => {
      for (const t of missing) if (!all.has(t.id)) all.set(t.id, t);
      return true;
    });
    this.log.info({ tenants: missing.map((t) => t.id) }, 'seeded tenants from config');
  }

  /** Applies one change to the latest file content and writes it; writes are serialised so none is lost. */
  private mutate(change: (all: Map<string, TenantRecord>) => boolean): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      if (this.closed) throw new StoreError('STORE_UNAVAILABLE', 'internal', 'tenant store is closed');
      this.reloadNow(); // pick up an edit made by someone else since the last poll, so we do not overwrite it
      if (!this.loaded) {
        throw new StoreError('STORE_UNAVAILABLE', 'internal', `tenant store file ${this.path} is invalid; repair or remove it before editing`);
      }
      const all = new Map(this.table.list().map((t) => [t.id, t]));
      const changed = change(all);
      if (!changed) return false;
      const version = this.version + 1;
      const doc = { format: EMBEDDED_FORMAT, version, savedAt: new Date().toISOString(), tenants: [...all.values()] };
      try {
        await writeFileAtomic(this.path, `${JSON.stringify(doc, null, 2)}\n`);
      } catch (err) {
        this.opts.metrics?.error('write');
        this.log.error({ err, path: this.path }, 'cannot write tenant store file');
        throw new StoreError('STORE_WRITE_FAILED', 'internal', `cannot write tenant store file: ${(err as Error).message}`, { cause: err });
      }
      this.signature = this.statSignature();
      this.reportedBad = '';
      this.version = version;
      this.healthy = true;
      this.lastSyncAt = Date.now();
      this.table.replaceAll([...all.values()]);
      return true;
    };
    const p = this.writes.then(run, run);
    this.writes = p.catch(() => undefined);
    return p;
  }

  private watchFile(): void {
    const name = basename(this.path);
    const schedule = () => {
      if (this.debounce || this.closed) return;
      // Editors and writers produce bursts of events; read once the burst settles.
      this.debounce = setTimeout(() => {
        this.debounce = undefined;
        this.safeReload();
      }, 25);
    };
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name) schedule();
      });
      this.watcher.on('error', (err) => this.log.warn({ err }, 'file watch failed; relying on polling'));
    } catch (err) {
      this.log.warn({ err }, 'cannot watch the tenant store directory; relying on polling');
    }
    this.poller = setInterval(() => this.safeReload(), this.opts.pollIntervalMs);
    this.poller.unref();
  }

  private safeReload(): void {
    if (this.closed) return;
    try {
      this.reloadNow();
    } catch (err) {
      this.opts.metrics?.error('load');
      this.log.error({ err }, 'tenant store reload failed');
    }
  }
}
