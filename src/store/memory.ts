// An in-memory store seeded from the config file: for tests and for running without persistence.
import type { Store, StoreEvent, StoreStatus, TenantRecord } from './types.js';

export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly tenants = new Map<string, TenantRecord>();
  private readonly listeners: Array<(e: StoreEvent) => void> = [];
  private version = 0;

  constructor(seed: readonly TenantRecord[] = []) {
    for (const t of seed) this.tenants.set(t.id, t);
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}

  getTenant(id: string): TenantRecord | undefined {
    return this.tenants.get(id);
  }

  listTenants(): TenantRecord[] {
    return [...this.tenants.values()];
  }

  async putTenant(tenant: TenantRecord): Promise<void> {
    const previous = this.tenants.get(tenant.id);
    this.tenants.set(tenant.id, tenant);
    this.version++;
    this.emit({ type: 'tenant-upserted', tenant, previous });
  }

  async deleteTenant(id: string): Promise<boolean> {
    const previous = this.tenants.get(id);
    if (!previous) return false;
    this.tenants.delete(id);
    this.version++;
    this.emit({ type: 'tenant-deleted', id, previous });
    return true;
  }

  status(): StoreStatus {
    return { healthy: true, loaded: true, version: this.version, lastSyncAt: Date.now() };
  }

  onChange(listener: (e: StoreEvent) => void): void {
    this.listeners.push(listener);
  }

  private emit(e: StoreEvent): void {
    for (const l of this.listeners) l(e);
  }
}
