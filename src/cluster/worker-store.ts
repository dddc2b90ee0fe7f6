// A worker's copy of the store: the supervisor's full snapshot at start, then its change events; reads are synchronous as everywhere, writes belong to the supervisor.
import { StoreError, type Store, type StoreEvent, type StoreStatus, type TenantRecord } from '../store/index.js';
import type { Endpoint } from './ipc.js';
import type { SupervisorSide, WorkerSide } from './protocol.js';

export class WorkerStore implements Store {
  readonly kind: string;
  private readonly tenants = new Map<string, TenantRecord>();
  private readonly listeners: Array<(e: StoreEvent) => void> = [];
  private st: StoreStatus;

  constructor(ipc: Endpoint<WorkerSide, SupervisorSide>, kind: string, snapshot: TenantRecord[], status: StoreStatus, onListenerError: (err: unknown) => void) {
    this.kind = kind;
    this.st = status;
    for (const t of snapshot) this.tenants.set(t.id, t);
    const emit = (e: StoreEvent) => {
      for (const l of this.listeners) {
        try {
          l(e);
        } catch (err) {
          onListenerError(err);
        }
      }
    };
    ipc.on('storeUpsert', ({ tenant }) => {
      const previous = this.tenants.get(tenant.id);
      this.tenants.set(tenant.id, tenant);
      emit({ type: 'tenant-upserted', tenant, previous });
    });
    ipc.on('storeDelete', ({ id }) => {
      const previous = this.tenants.get(id);
      if (!previous) return;
      this.tenants.delete(id);
      emit({ type: 'tenant-deleted', id, previous });
    });
    ipc.on('peers', (p) => {
      this.st = p.storeStatus;
    });
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}

  getTenant(id: string): TenantRecord | undefined {
    return this.tenants.get(id);
  }

  listTenants(): TenantRecord[] {
    return [...this.tenants.values()];
  }

  putTenant(): Promise<void> {
    return Promise.reject(new StoreError('STORE_WRITE_FAILED', 'internal', 'a worker process does not write the store; the supervisor does'));
  }

  deleteTenant(): Promise<boolean> {
    return Promise.reject(new StoreError('STORE_WRITE_FAILED', 'internal', 'a worker process does not write the store; the supervisor does'));
  }

  status(): StoreStatus {
    return this.st;
  }

  onChange(listener: (event: StoreEvent) => void): void {
    this.listeners.push(listener);
  }
}
