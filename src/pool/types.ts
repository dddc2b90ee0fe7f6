// The seam between the front door and whatever serves an admitted client (a per-client relay now, the pooler later).
import type { Socket } from 'node:net';
import type { LogLike } from '../observability/index.js';
import type { TenantRecord } from '../store/index.js';
import type { PacketReader } from '../proxy/packet-reader.js';
import type { UpstreamSecret } from '../auth/index.js';
import type { ClientError } from '../errors.js';

/** An admitted client: address known, tenant resolved, allowlist passed; authentication not yet done. */
export interface ClientSession {
  readonly id: number;
  readonly socket: Socket;
  /**
   * Reads typed messages during authentication; detach() hands back unread bytes for the relay. Whoever detaches it
   * clears it (an idle session keeps no startup reader).
   */
  reader: PacketReader | undefined;
  readonly tenant: TenantRecord;
  /** User name to present upstream (tenant suffix stripped). */
  readonly user: string;
  readonly database: string;
  /** Startup parameters other than user and database. */
  readonly params: ReadonlyMap<string, string>;
  readonly clientIp: string;
  readonly tls: boolean;
  readonly log: LogLike;
  /** What pgporter may use to log in to servers as this user (from client authentication). */
  readonly secret: UpstreamSecret;
  /**
   * Login messages not yet written (AuthenticationOk): sent with ParameterStatus, BackendKeyData and ReadyForQuery
   * in one write, or before the refusal if the login fails after all. Whoever writes it clears it.
   */
  greeting?: Buffer | undefined;
}

/**
 * A session a Backend is serving, as its caller may end it (tenant deleted, address no longer allowed): the client
 * gets `err` at a message boundary, and the closing log line says pgporter ended it. The caller keeps it instead of
 * the backend keeping an index of its sessions by id.
 */
export interface ServedSession {
  fail(err: ClientError): void;
}

/** Who hears how a session served by a Backend ended. */
export interface SessionDone {
  ended(end: SessionEnd): void;
  failed(err: ClientError): void;
}

/** How a session ended, for the closing log line. */
export interface SessionEnd {
  endedBy: 'client' | 'server' | 'pgporter';
  reason: string;
  bytesFromClient: number;
  bytesToClient: number;
}

export interface CancelTarget {
  tenantId: string;
  /** Sends the cancel upstream; the caller has already checked the allowlist. */
  cancel(): void;
}

/**
 * A client counted against its limits until `release`, called once per admission (the holder guards against a
 * second call). An object with a method, not a closure, and possibly shared by the clients of a tenant: an idle
 * session keeps only a reference.
 */
export interface Admission {
  release(): void;
}

/** Serves admitted clients and routes CancelRequests. */
export interface Backend {
  /**
   * As soon as tenant and allowlist are known, before authentication: counts the client against
   * maxClientConnections. Returns the admission (call its `release` once, when the client is gone), or the
   * ClientError (53300) to refuse with.
   */
  admit(tenant: TenantRecord): Admission | ClientError;
  /**
   * Runs an authenticated client's session to its end (the backend sends ParameterStatus, BackendKeyData and
   * ReadyForQuery, after `session.greeting`), then calls `done.ended` (the socket is closed by then); or
   * `done.failed` with the error the login fails with (nothing sent; the caller refuses the client). Callbacks, not
   * a promise: an idle session then holds no promise, reaction or closure for its end. Returns the session being
   * served, for the caller to end early until `done` hears its end; undefined when it ended at once.
   */
  serve(session: ClientSession, done: SessionDone): ServedSession | undefined;
  /** Finds what a CancelRequest key refers to; undefined for unknown keys (ignored, as PostgreSQL does). */
  cancelTarget(pid: number, secret: number): CancelTarget | undefined;
  close(): Promise<void>;
}
