// What the admin console reads and drives: plain-data sources, and the controls the app may or may not provide yet.
import type { Config } from '../config/index.js';
import type { NodeInfo } from '../fleet/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { ClientSnapshot, PoolSnapshot, ServerSnapshot } from '../pool/index.js';
import type { OpenSession } from '../proxy/index.js';
import type { TenantRecord } from '../store/index.js';
import type { UpstreamStatus } from '../upstream/index.js';

export type ConsoleRole = 'admin' | 'readonly';

/** Read-only figures from the pooling backend (PoolBackend's snapshot methods), plus closing a tenant's servers for KILL. */
export interface ConsolePools {
  poolsDetail(): (PoolSnapshot & { maxWaitMs: number })[];
  clientsSnapshot(): ClientSnapshot[];
  serversSnapshot(): ServerSnapshot[];
  totalsSnapshot(): { tenant: string; queries: number; transactions: number }[];
  closeTenantServers(tenantId: string): Promise<void>;
  /** Routed tenants' servers: role, health, ban, lag (SHOW UPSTREAMS, SHOW SERVERS' role). */
  upstreamsSnapshot?(): UpstreamStatus[];
}

/**
 * The seam for PAUSE, RESUME and RELOAD: the app passes what it has. A missing method makes the console answer
 * 0A000 "not available in this build".
 */
export interface ConsoleControl {
  /** Resolves once the tenant (or every tenant) has no server connection in use. */
  pause?(tenant?: string): Promise<void>;
  resume?(tenant?: string): void | Promise<void>;
  /** Re-reads the config file and applies what can change; resolves with a one-line summary (sent as a NOTICE). */
  reload?(): Promise<string>;
  /** Whether a config key (dotted, e.g. `pool.maxClientConnections`) changes on RELOAD; SHOW CONFIG's `changeable`. */
  reloadable?(key: string): boolean;
}

export interface ConsoleDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  pools: ConsolePools;
  tenants: { listTenants(): TenantRecord[]; getTenant(id: string): TenantRecord | undefined };
  sessions: { sessionsOf(tenantId: string): Iterable<OpenSession>; count(tenantId?: string): number };
  fleet: { readonly nodeId: string; readonly shared: boolean; healthy(): boolean; nodes(): Promise<NodeInfo[]> };
  control?: ConsoleControl;
  /** SHUTDOWN: the app's close path (the process exits once it is done). */
  shutdown(): void;
  /** How often the SHOW STATS averages are recomputed, in ms. Default 15000. */
  statsPeriodMs?: number;
}

/** An open console session as SHOW CLIENTS lists it. */
export interface ConsoleSessionInfo {
  id: number;
  user: string;
  role: ConsoleRole;
  addr: string;
  localAddr: string | undefined;
  localPort: number | undefined;
  tls: boolean;
  connectedAt: number;
  lastActive: number;
}
