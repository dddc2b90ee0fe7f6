// The store contract: where tenants and their allowlists live, read synchronously on the hot path from an in-memory copy.
import type { TenantConfig } from '../config/index.js';

/** A tenant as stored: the config shape (allowlist included, undefined meaning "no list, default policy"). */
export type TenantRecord = TenantConfig;

export type StoreEvent =
  | { type: 'tenant-upserted'; tenant: TenantRecord; previous: TenantRecord | undefined }
  | { type: 'tenant-deleted'; id: string; previous: TenantRecord };

export interface StoreStatus {
  /** Whether the backing store is reachable right now (always true for in-memory and embedded). */
  healthy: boolean;
  /** Whether any rules have ever been loaded (false: cold start with the backend down). */
  loaded: boolean;
  /** Monotonic version of the data set, bumped by every write. */
  version: number;
  /** Epoch ms of the last successful load or sync. */
  lastSyncAt: number;
}

/**
 * Tenants and allowlists. Reads are synchronous from memory (the connection path never awaits the store);
 * writes go to the backend and are then visible to every node.
 */
export interface Store {
  readonly kind: string;
  start(): Promise<void>;
  close(): Promise<void>;
  getTenant(id: string): TenantRecord | undefined;
  listTenants(): TenantRecord[];
  putTenant(tenant: TenantRecord): Promise<void>;
  deleteTenant(id: string): Promise<boolean>;
  status(): StoreStatus;
  /** Called after every change, whether made here or pushed from another node. */
  onChange(listener: (event: StoreEvent) => void): void;
}
