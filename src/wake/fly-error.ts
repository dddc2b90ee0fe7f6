// The error a Machines API call ends with: which call, the HTTP status (if any) and Fly's own words, on the 'fly' side.
import { PgporterError } from '../errors.js';

const CODES: Record<number, [code: string, kind: string, hint: string]> = {
  400: ['FLY_BAD_REQUEST', 'fly_bad_request', ''],
  401: ['FLY_UNAUTHORIZED', 'fly_unauthorized', ' (check fly.token)'],
  403: ['FLY_UNAUTHORIZED', 'fly_unauthorized', ' (the token may not cover this app)'],
  404: ['FLY_NOT_FOUND', 'fly_not_found', ' (check the tenant\'s fly.app and fly.machineId)'],
  412: ['FLY_PRECONDITION_FAILED', 'fly_precondition', ''],
  429: ['FLY_RATE_LIMITED', 'fly_rate_limited', ''],
};

/** Longest slice of a response body quoted in a message; Fly's errors are short, HTML error pages are not. */
const BODY_LIMIT = 300;

export class FlyApiError extends PgporterError {
  /** The API call: get, start, suspend, stop, wait. */
  readonly action: string;
  /** HTTP status, or undefined when no response came (network error, timeout). */
  readonly status: number | undefined;
  readonly body: string;

  constructor(action: string, status: number | undefined, body: string, message: string, options?: { cause?: unknown; code?: string; kind?: string }) {
    const [code, kind] = status === undefined ? ['FLY_UNREACHABLE', 'fly_unreachable'] : (CODES[status] ?? (status >= 500 ? ['FLY_SERVER_ERROR', 'fly_server_error'] : ['FLY_API_ERROR', 'fly_api_error']));
    super(options?.code ?? code, options?.kind ?? kind, 'fly', message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlyApiError';
    this.action = action;
    this.status = status;
    this.body = body;
  }

  /** "start returned 412: {"error":"…"}" */
  static fromResponse(action: string, status: number, body: string): FlyApiError {
    const text = body.length > BODY_LIMIT ? `${body.slice(0, BODY_LIMIT)}…` : body;
    const hint = CODES[status]?.[2] ?? '';
    return new FlyApiError(action, status, body, `${action} returned ${status}: ${text.trim() || '(empty body)'}${hint}`);
  }

  /** "start failed: connect ECONNREFUSED 127.0.0.1:4280" or "start timed out after 10000ms". */
  static fromNetwork(action: string, err: unknown, timeoutMs?: number): FlyApiError {
    if (err instanceof Error && err.name === 'TimeoutError') {
      return new FlyApiError(action, undefined, '', `${action} timed out${timeoutMs === undefined ? '' : ` after ${timeoutMs}ms`}`, { cause: err, code: 'FLY_TIMEOUT', kind: 'fly_timeout' });
    }
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new FlyApiError(action, undefined, '', `${action} failed: ${detail}`, { cause: err });
  }
}
