// The in-memory tenant table every store serves reads from, with the diff that turns a reloaded snapshot into change events.
import type { StoreEvent, TenantRecord } from './types.js';

/** Tenants by id plus the listeners told about every change, whatever caused it. */
export class TenantTable {
  private tenants = new Map<string, TenantRecord>();
  /** JSON of each record, to tell a real change from a reload that brought the same data. */
  private fingerprints = new Map<string, string>();
  private readonly listeners: Array<(e: StoreEvent) => void> = [];

  constructor(private readonly onListenerError: (err: unknown) => void) {}

  get(id: string): TenantRecord | undefined {
    return this.tenants.get(id);
  }

  list(): TenantRecord[] {
    return [...this.tenants.values()];
  }

  has(id: string): boolean {
    return this.tenants.has(id);
  }

  onChange(listener: (e: StoreEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Inserts or replaces one tenant; emits only when the record really changed. */
  upsert(tenant: TenantRecord): boolean {
    const fp = JSON.stringify(tenant);
    if (this.fingerprints.get(tenant.id) === fp) return false;
    const previous = this.tenants.get(tenant.id);
    this.tenants.set(tenant.id, tenant);
    this.fingerprints.set(tenant.id, fp);
    this.emit({ type: 'tenant-upserted', tenant, previous });
    return true;
  }

  remove(id: string): boolean {
    const previous = this.tenants.get(id);
    if (!previous) return false;
    this.tenants.delete(id);
    this.fingerprints.delete(id);
    this.emit({ type: 'tenant-deleted', id, previous });
    return true;
  }

  /** Makes the table equal to `records`, emitting one event per tenant added, changed or removed; true if any. */
  replaceAll(records: readonly TenantRecord[]): boolean {
    const seen = new Set<string>();
    let changed = false;
    for (const r of records) {
      seen.add(r.id);
      if (this.upsert(r)) changed = true;
    }
    for (const id of [...this.tenants.keys()]) if (!seen.has(id) && this.remove(id)) changed = true;
    return changed;
  }

  private emit(e: StoreEvent): void {
    for (const l of this.listeners) {
      // A listener that throws (e.g. a bug in session dropping) must not stop the store from applying changes.
      try {
        l(e);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
