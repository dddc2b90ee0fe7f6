// Errors of the server side of pgporter (connecting, TLS, the login's protocol) and the ErrorResponse a client sees for them.
import { ClientError, PgporterError } from '../errors.js';

/**
 * Stable codes: UPSTREAM_UNREACHABLE (TCP or TLS failed), UPSTREAM_TIMEOUT, UPSTREAM_REFUSED (the server sent an
 * ErrorResponse or would not speak TLS when the tenant requires it), UPSTREAM_PROTOCOL (the server broke the startup
 * protocol, e.g. ReadyForQuery before AuthenticationOk).
 */
export type UpstreamErrorCode = 'UPSTREAM_UNREACHABLE' | 'UPSTREAM_TIMEOUT' | 'UPSTREAM_REFUSED' | 'UPSTREAM_PROTOCOL';

/** The server refused or broke the login; `serverError` holds its ErrorResponse fields when it sent one. */
export class UpstreamError extends PgporterError {
  constructor(
    code: UpstreamErrorCode,
    message: string,
    readonly serverError?: { severity?: string; code?: string; message: string; detail?: string; hint?: string },
    options?: { cause?: unknown },
  ) {
    super(code, code === 'UPSTREAM_REFUSED' ? 'server_refused' : code === 'UPSTREAM_PROTOCOL' ? 'server_protocol' : 'server_unavailable', 'server', message, options);
    this.name = 'UpstreamError';
  }

  /** Whether a retry may succeed (the server is starting, restarting or not yet listening). */
  get transient(): boolean {
    if (this.code === 'UPSTREAM_UNREACHABLE' || this.code === 'UPSTREAM_TIMEOUT') return true;
    const c = this.serverError?.code;
    return c === '57P03' || c === '53300';
  }
}

/** The ErrorResponse a client should see for an upstream failure: the server's own words when it refused. */
export function upstreamClientError(err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  if (err instanceof UpstreamError && err.serverError && err.code === 'UPSTREAM_REFUSED') {
    const e = err.serverError;
    const ce = new ClientError(e.code === '28P01' ? 'AUTH_FAILED' : 'SERVER_UNAVAILABLE', e.message, {
      ...(e.detail !== undefined ? { detail: e.detail } : {}),
      ...(e.hint !== undefined ? { hint: e.hint } : {}),
    });
    // Keep the server's SQLSTATE: clients branch on it (28P01, 3D000 database does not exist, 57P03...).
    if (e.code) (ce as { sqlstate: string }).sqlstate = e.code;
    return ce;
  }
  if (err instanceof UpstreamError && err.code === 'UPSTREAM_TIMEOUT') {
    return new ClientError('SERVER_CONNECT_TIMEOUT', 'timed out connecting to the database server');
  }
  // Anything else (unreachable, TLS, a server that failed to prove itself) stays in the log; the client gets no details.
  return new ClientError('SERVER_UNAVAILABLE', 'could not connect to the database server');
}
