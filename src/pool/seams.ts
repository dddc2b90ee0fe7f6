// The seams inside a pool: what a server and a client need from their pool (ServerHost, ClientHost) and what a server tells the client bound to it (ServerPeer).
import type { Outbox } from './outbox.js';
import type { ClientStatement } from './statements.js';
import type { ErrorFieldMap } from './error-fields.js';
import type { TenantTotals } from './pool-metrics.js';
import type { PooledServer } from './server.js';
import type { PoolClient } from './client.js';

/** What a server needs from its pool. */
export interface ServerHost {
  readonly mode: 'transaction' | 'session';
  readonly defaults: ReadonlyMap<string, string> | undefined;
  readonly stats: TenantTotals;
  /** The server finished its work and may serve someone else (after a client's transaction or a reset). */
  serverFree(server: PooledServer): void;
  /** The server's connection is gone. */
  serverClosed(server: PooledServer, reason: string): void;
  /** A statement was prepared successfully: its text is valid for this pool's clients. */
  statementValid(serverName: string): void;
  /** A role parameter (in_hot_standby, default_transaction_read_only) changed under a live session, or the server answered 25006. */
  roleHint(): void;
  debug(msg: string, extra?: Record<string, unknown>): void;
}

/** What a server tells the client bound to it. */
export interface ServerPeer {
  readonly out: Outbox;
  /** The server's ParameterStatus (buf[start, end) is the whole message). */
  parameterStatus(name: string, value: string, buf: Buffer, start: number, end: number): void;
  /** A role parameter of the server now bound (in_hot_standby): the client hears it when it was told otherwise. */
  roleStatus(name: string, value: string): void;
  /** The server took on the client's settings (undefined) or refused them (the server's error fields). */
  serverReady(refused: ErrorFieldMap | undefined): void;
  /** What the client prepared: told when its own Parse failed or was skipped, asked for its names in error texts. */
  readonly prepared: { failed(st: ClientStatement): void; clientNameOf(serverName: string): string | undefined };
  serverDrained(): void;
  /** About to start forwarding a new message: the client may end its session here, at a message boundary. */
  atBoundary(): void;
  /** The client's framer: a server must not change hands while the client is half-way through a message. */
  readonly framer: { readonly midMessage: boolean };
  /** The transaction is over: give the server back. */
  detach(clean: boolean): void;
  /** This server's connection died under the client. */
  serverLost(): void;
  /** Its server is being closed with only the ReadyForQuery of the client's failed exchange owed: answer it and let go. */
  exchangeEnded(): void;
  /** A ReadyForQuery was forwarded (latency figures): `idle` status 'I', `moreOwed` further replies outstanding. */
  readyForQuery(idle: boolean, moreOwed: boolean): void;
  /** A transaction ended with nothing outstanding (ReadyForQuery 'I'): a boundary where the session may end. */
  transactionDone(): void;
}

/** What a client needs from its pool. */
export interface ClientHost {
  readonly mode: 'transaction' | 'session';
  readonly defaults: ReadonlyMap<string, string> | undefined;
  readonly stats: TenantTotals;
  readonly clock: { now: number };
  /** A free server now, or undefined after queueing the client (it gets `attach()` later). */
  acquire(client: PoolClient): PooledServer | undefined;
  /** The client is gone (its session ended, or its login failed): forget it. */
  clientEnded(client: PoolClient): void;
  /** The client no longer wants to wait. */
  cancelWait(client: PoolClient): void;
  /** The client let go of the server (transaction over, or client gone); `clean` says whether it can be reused. */
  checkin(server: PooledServer, clean: boolean): void;
  /** Some server prepared this statement without error. */
  isValidStatement(serverName: string): boolean;
  /** Startup settings a server has not yet accepted for this pool (they must be tried before the login succeeds). */
  unconfirmedSettings(settings: ReadonlyMap<string, string>): boolean;
  settingsConfirmed(settings: ReadonlyMap<string, string>): void;
  /** A bug in pgporter surfaced while serving this client (logged; the client alone is ended). */
  internalError(err: unknown): void;
}
