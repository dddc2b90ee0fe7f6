// Plain-data views of pools and their clients and servers, for the admin API, the gauges and the console's SHOW POOLS / CLIENTS / SERVERS (read-only, taken on demand).
import type { Pool } from './pool.js';
import type { PoolClient } from './client.js';
import type { PooledServer } from './server.js';

/** Figures for the admin API and the gauges. */
export interface PoolSnapshot {
  tenant: string;
  /** The server this pool connects to (the tenant's `host:port`, or the name in its `upstreams` list). */
  upstream: string;
  database: string;
  user: string;
  mode: 'transaction' | 'session';
  size: number;
  clientsActive: number;
  clientsWaiting: number;
  serversActive: number;
  serversIdle: number;
  serversOpening: number;
}

/** One served client (logged in, inside a pool). Times are epoch ms. */
export interface ClientSnapshot {
  id: number;
  tenant: string;
  database: string;
  user: string;
  state: 'starting' | 'idle' | 'waiting' | 'active' | 'closed';
  addr: string;
  localAddr: string | undefined;
  localPort: number | undefined;
  tls: boolean;
  applicationName: string | undefined;
  connectedAt: number | undefined;
  lastActive: number;
  /** Since when it waits for a server (state waiting only). */
  waitingSince: number | undefined;
  /** The server's backend pid while one serves it. */
  serverPid: number | undefined;
}

/** One open server connection of a pool. Times are epoch ms. */
export interface ServerSnapshot {
  tenant: string;
  database: string;
  user: string;
  state: 'idle' | 'syncing' | 'active' | 'resetting' | 'closed';
  addr: string;
  port: number;
  localAddr: string | undefined;
  localPort: number | undefined;
  tls: boolean;
  openedAt: number;
  idleSince: number;
  remotePid: number;
  /** The id of the client it serves, if any. */
  clientId: number | undefined;
  retiring: boolean;
  /** The tenant's upstream it is connected to (`host:port` or its name in `upstreams`). */
  upstream: string;
}

/** A pool's figures; the counts are its own: clients waiting, servers open (idle ones included), idle and opening. */
export function poolSnapshot(pool: Pool, waiting: number, servers: number, idle: number, opening: number): PoolSnapshot {
  return {
    tenant: pool.tenant.id,
    upstream: pool.upstream.name,
    database: pool.database,
    user: pool.user,
    mode: pool.mode,
    size: pool.cfg.size,
    clientsActive: pool.clients.size - waiting,
    clientsWaiting: waiting,
    serversActive: servers - idle,
    serversIdle: idle,
    serversOpening: opening,
  };
}

/** A pool's served clients as plain data. */
export function clientSnapshots(clients: ReadonlySet<PoolClient>, tenant: string): ClientSnapshot[] {
  return [...clients].map((c) => clientSnapshot(c, tenant, c.servedSince));
}

/** A pool's open server connections as plain data, each with the client it serves. */
export function serverSnapshots(
  servers: ReadonlySet<PooledServer>,
  clients: ReadonlySet<PoolClient>,
  tenant: string,
  database: string,
  user: string,
  upstream: string,
): ServerSnapshot[] {
  const clientOf = new Map<PooledServer, number>();
  for (const c of clients) if (c.server) clientOf.set(c.server, c.session.id);
  return [...servers].map((s) => serverSnapshot(s, tenant, database, user, clientOf.get(s), upstream));
}

export function clientSnapshot(c: PoolClient, tenant: string, connectedAt: number | undefined): ClientSnapshot {
  const s = c.session;
  return {
    id: s.id,
    tenant,
    database: s.database,
    user: s.user,
    state: c.state,
    addr: s.clientIp,
    localAddr: c.socket.localAddress,
    localPort: c.socket.localPort,
    tls: s.tls,
    applicationName: s.params.get('application_name'),
    connectedAt,
    lastActive: c.lastActive,
    waitingSince: c.state === 'waiting' ? c.waitingSince : undefined,
    serverPid: c.server?.key.pid,
  };
}

export function serverSnapshot(sv: PooledServer, tenant: string, database: string, user: string, clientId: number | undefined, upstream: string): ServerSnapshot {
  return {
    tenant,
    database,
    user,
    state: sv.state,
    addr: sv.target.host,
    port: sv.target.port,
    localAddr: sv.socket.localAddress,
    localPort: sv.socket.localPort,
    tls: sv.target.tls !== 'disable',
    openedAt: sv.openedAt,
    idleSince: sv.idleSince,
    remotePid: sv.key.pid,
    clientId,
    retiring: sv.retire,
    upstream,
  };
}
