// Plain-data views of pooled clients and servers, for the admin console's SHOW CLIENTS / SHOW SERVERS (read-only, taken on demand).
import type { PoolClient } from './client.js';
import type { PooledServer } from './server.js';

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
