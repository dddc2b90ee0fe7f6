// A routed client's ClientHost (tenants with an `upstreams` list): the pool of the upstream its current transaction was routed to, its target, and its wait for a writer.
import type { Target } from '../config/schema-ha.js';
import type { Pool } from './pool.js';
import type { PoolClient } from './client.js';
import type { PooledServer } from './server.js';
import type { ClientHost } from './seams.js';
import type { TenantTotals } from './pool-metrics.js';
import type { ClientSession } from './types.js';
import type { TenantRouter } from './ha-router.js';
import { startupWants } from './params.js';

/** The setting a read-only client served by the writer runs with, and routing reads from a client's startup. */
export const RO_PARAM = 'default_transaction_read_only';

/** A routed client's host: every call goes to the pool of the upstream its current transaction was routed to. */
export class RoutedHost implements ClientHost {
  pool: Pool | undefined;
  client!: PoolClient;
  /** Served by the writer although it asked for read-only (readFallback: primary). */
  readOnly = false;
  /** Epoch ms until which it may wait for a writer (0: not waiting for one). */
  waitUntil = 0;
  readonly database: string;
  readonly user: string;
  private ended!: (client: PoolClient) => void;
  /** default_transaction_read_only as the client asked for it at startup, if it did. */
  readonly startupReadOnly: string | undefined;
  /** default_transaction_read_only as the client last SET it itself: from then on its own, like its startup value. */
  ownReadOnly: string | undefined;

  constructor(
    private readonly router: TenantRouter,
    readonly session: ClientSession,
    readonly target: Target,
  ) {
    this.database = session.database;
    this.user = session.user;
    // The client's settings forget their startup values once a server confirmed them; routing needs this one later.
    try {
      this.startupReadOnly = startupWants(session.params).get(RO_PARAM);
    } catch {
      // Malformed options: the client's own login refuses them.
    }
  }

  /** Binds the host to its client (the client is built with the host); `ended` is told once the session is over. */
  attach(client: PoolClient, ended: (client: PoolClient) => void): void {
    this.client = client;
    this.ended = ended;
    this.router.register(this);
  }

  /** The session ended (or its login failed). */
  clientEnded(client: PoolClient): void {
    this.router.forget(this);
    this.ended(client);
  }

  get mode(): 'transaction' | 'session' {
    return this.router.tenant.pool.mode;
  }
  get stats(): TenantTotals {
    return this.router.totals;
  }
  get clock(): { now: number } {
    return this.router.clock;
  }
  get defaults(): ReadonlyMap<string, string> | undefined {
    return this.pool ? this.router.clientDefaults(this.pool, this.readOnly) : undefined;
  }
  acquire(client: PoolClient): PooledServer | undefined {
    return this.router.acquire(this, client);
  }
  cancelWait(client: PoolClient): void {
    if (this.waitUntil !== 0) this.router.unhold(this);
    else this.pool?.cancelWait(client);
  }
  checkin(server: PooledServer, clean: boolean): void {
    if (server.needsReset) this.router.clientSet(this);
    this.pool!.checkin(server, clean);
  }
  isValidStatement(serverName: string): boolean {
    return this.pool?.isValidStatement(serverName) ?? false;
  }
  unconfirmedSettings(settings: ReadonlyMap<string, string>): boolean {
    return this.pool ? this.pool.unconfirmedSettings(settings) : true;
  }
  settingsConfirmed(settings: ReadonlyMap<string, string>): void {
    this.pool?.settingsConfirmed(settings);
  }
  internalError(err: unknown): void {
    this.pool?.internalError(err);
  }
}
