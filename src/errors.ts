// The one error type of pgporter: a stable code, a metric-label kind, the side that failed, and (for client-facing errors) the SQLSTATE sent as an ErrorResponse.
import { errorResponse, type ErrorFields } from './protocol/backend.js';

/** Which party an error came from; recorded in logs and metrics. */
export type Side = 'client' | 'server' | 'fly' | 'redis' | 'config' | 'internal' | 'admin';

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE';

interface ErrorSpec {
  readonly sqlstate: string;
  readonly kind: string;
  readonly side: Side;
  readonly severity: Severity;
}

/**
 * Every error pgporter can show a client, by stable code. The README's error table lists these.
 * `kind` is the bounded metric label (connections refused by reason, errors by kind).
 */
export const ERRORS = {
  PROXY_HEADER_INVALID: { sqlstate: '08P01', kind: 'proxy_header', side: 'client', severity: 'FATAL' },
  PROXY_HEADER_MISSING: { sqlstate: '08P01', kind: 'proxy_header', side: 'client', severity: 'FATAL' },
  PROXY_HEADER_UNTRUSTED: { sqlstate: '28000', kind: 'proxy_untrusted', side: 'client', severity: 'FATAL' },
  PROXY_HEADER_TIMEOUT: { sqlstate: '08P01', kind: 'proxy_timeout', side: 'client', severity: 'FATAL' },
  STARTUP_INVALID: { sqlstate: '08P01', kind: 'protocol_violation', side: 'client', severity: 'FATAL' },
  STARTUP_TOO_LARGE: { sqlstate: '08P01', kind: 'protocol_violation', side: 'client', severity: 'FATAL' },
  STARTUP_TIMEOUT: { sqlstate: '08P01', kind: 'startup_timeout', side: 'client', severity: 'FATAL' },
  PROTOCOL_UNSUPPORTED: { sqlstate: '0A000', kind: 'protocol_version', side: 'client', severity: 'FATAL' },
  TLS_REQUIRED: { sqlstate: '28000', kind: 'tls_required', side: 'client', severity: 'FATAL' },
  TLS_FAILED: { sqlstate: '08P01', kind: 'tls_failed', side: 'client', severity: 'FATAL' },
  TENANT_UNKNOWN: { sqlstate: '3D000', kind: 'tenant_unknown', side: 'client', severity: 'FATAL' },
  TENANT_UNRESOLVED: { sqlstate: '3D000', kind: 'tenant_unknown', side: 'client', severity: 'FATAL' },
  USER_MISSING: { sqlstate: '28000', kind: 'protocol_violation', side: 'client', severity: 'FATAL' },
  ALLOWLIST_DENIED: { sqlstate: '28000', kind: 'allowlist', side: 'client', severity: 'FATAL' },
  ALLOWLIST_UNAVAILABLE: { sqlstate: '08004', kind: 'allowlist_unavailable', side: 'redis', severity: 'FATAL' },
  // Like a pg_hba refusal (28000), not 53300: clients and poolers retry "too many connections", which would only extend the ban.
  AUTH_BANNED: { sqlstate: '28000', kind: 'auth_banned', side: 'client', severity: 'FATAL' },
  AUTH_FAILED: { sqlstate: '28P01', kind: 'auth_failed', side: 'client', severity: 'FATAL' },
  AUTH_TIMEOUT: { sqlstate: '08006', kind: 'auth_timeout', side: 'client', severity: 'FATAL' },
  AUTH_UNSUPPORTED: { sqlstate: '28000', kind: 'auth_unsupported', side: 'server', severity: 'FATAL' },
 
  AUTH_PROTOCOL: { sqlstate: '08P01', kind: 'protocol_violation', side: 'client', severity: 'FATAL' },
  AUTH_QUERY_FAILED: { sqlstate: '08006', kind: 'auth_query_failed', side: 'server', severity: 'FATAL' },
  TOO_MANY_CONNECTIONS: { sqlstate: '53300', kind: 'too_many_connections', side: 'client', severity: 'FATAL' },
  QUERY_WAIT_TIMEOUT: { sqlstate: '08004', kind: 'query_wait_timeout', side: 'server', severity: 'FATAL' },
 
  IDLE_IN_TRANSACTION_TIMEOUT: { sqlstate: '25P03', kind: 'idle_transaction_timeout', side: 'client', severity: 'FATAL' },
  CLIENT_IDLE_TIMEOUT: { sqlstate: '57P05', kind: 'client_idle_timeout', side: 'client', severity: 'FATAL' },
  CLIENT_PROTOCOL: { sqlstate: '08P01', kind: 'protocol_violation', side: 'client', severity: 'FATAL' },
  STARTUP_OPTIONS_INVALID: { sqlstate: '42601', kind: 'startup_options', side: 'client', severity: 'FATAL' },
  // A setting the server refused (at login or when a server takes on the client's settings); the server's SQLSTATE replaces this one.
  SETTING_REFUSED: { sqlstate: '22023', kind: 'setting_refused', side: 'client', severity: 'FATAL' },
  // end pool
  SERVER_UNAVAILABLE: { sqlstate: '08006', kind: 'server_unavailable', side: 'server', severity: 'FATAL' },
  SERVER_CONNECT_TIMEOUT: { sqlstate: '08006', kind: 'server_connect_timeout', side: 'server', severity: 'FATAL' },
  SERVER_LOST: { sqlstate: '08006', kind: 'server_lost', side: 'server', severity: 'FATAL' },
  // routing among a tenant's upstreams (src/pool/ha-router.ts)
  NO_WRITER: { sqlstate: '57P03', kind: 'no_writer', side: 'server', severity: 'FATAL' },
  NO_SERVER_FOR_TARGET: { sqlstate: '57P03', kind: 'no_server_for_target', side: 'server', severity: 'FATAL' },
  SPLIT_BRAIN: { sqlstate: '57P03', kind: 'split_brain', side: 'server', severity: 'FATAL' },
  PRIMARY_CHANGED: { sqlstate: '57P01', kind: 'primary_changed', side: 'server', severity: 'FATAL' },
  TARGET_INVALID: { sqlstate: '22023', kind: 'startup_options', side: 'client', severity: 'FATAL' },
  WAKE_FAILED: { sqlstate: '57P03', kind: 'wake_failed', side: 'fly', severity: 'FATAL' },
  SHUTTING_DOWN: { sqlstate: '57P01', kind: 'shutdown', side: 'internal', severity: 'FATAL' },
  INTERNAL: { sqlstate: 'XX000', kind: 'internal', side: 'internal', severity: 'FATAL' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Base class: everything pgporter throws on purpose is one of these. */
export class PgporterError extends Error {
  readonly code: string;
  readonly kind: string;
  readonly side: Side;
  constructor(code: string, kind: string, side: Side, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PgporterError';
    this.code = code;
    this.kind = kind;
    this.side = side;
  }
}

/** An error the client is told about, in Postgres' own words and with a SQLSTATE. */
export class ClientError extends PgporterError {
  readonly sqlstate: string;
  readonly severity: Severity;
  readonly detail?: string;
  readonly hint?: string;
  constructor(code: ErrorCode, message: string, extra?: { detail?: string; hint?: string; cause?: unknown; sqlstate?: string }) {
    const spec: ErrorSpec = ERRORS[code];
    super(code, spec.kind, spec.side, message, extra?.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'ClientError';
    // The server's own SQLSTATE, where pgporter passes on what the server said.
    this.sqlstate = extra?.sqlstate ?? spec.sqlstate;
    this.severity = spec.severity;
    if (extra?.detail !== undefined) this.detail = extra.detail;
    if (extra?.hint !== undefined) this.hint = extra.hint;
  }

  /** The ErrorResponse bytes for this error. */
  toErrorResponse(): Buffer {
    const fields: ErrorFields = { severity: this.severity, code: this.sqlstate, message: this.message };
    if (this.detail !== undefined) fields.detail = this.detail;
    if (this.hint !== undefined) fields.hint = this.hint;
    return errorResponse(fields);
  }
}

/** The generic text a client sees for an unexpected failure; the details go to the log only. */
export function toClientError(err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  return new ClientError('INTERNAL', 'internal error in pgporter', { cause: err });
}
