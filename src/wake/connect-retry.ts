// Connecting to a PostgreSQL that has just woken: it may refuse for a moment after a resume, or answer 57P03 while starting, so try again with backoff.
import { netCode, retryAfterMs } from './retry.js';

export interface ConnectRetryOptions {
  /** Epoch ms (as Date.now()); no new attempt starts after it and no backoff sleeps past it. */
  deadlineMs: number;
  /** Whether this failure is worth another try; `isTransientConnectError` is a good default. */
  isRetryable(err: unknown): boolean;
  /** First backoff before jitter; doubles per attempt. Default 25 ms (a resume takes a few hundred). */
  baseDelayMs?: number;
  /** Cap on one backoff. Default 500 ms. */
  maxDelayMs?: number;
  /** Told about each retry, for a debug log line. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Calls `connect` until it resolves, a failure is not retryable, or the deadline would pass; then rethrows the last failure. */
export async function connectWithRetry<T>(connect: () => Promise<T>, opts: ConnectRetryOptions): Promise<T> {
  const policy = { maxAttempts: Number.POSITIVE_INFINITY, baseDelayMs: opts.baseDelayMs ?? 25, maxDelayMs: opts.maxDelayMs ?? 500 };
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (err) {
      if (!opts.isRetryable(err)) throw err;
      const delayMs = retryAfterMs(attempt, undefined, policy);
      if (Date.now() + delayMs >= opts.deadlineMs) throw err;
      opts.onRetry?.(err, attempt, delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Failures a waking database produces: refused or reset connections, timeouts, and SQLSTATE 57P03 (cannot_connect_now,
 * "the database system is starting up"). Authentication failures and the like are not transient.
 */
export function isTransientConnectError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; sqlstate?: unknown };
  if (e.code === '57P03' || e.sqlstate === '57P03') return true;
  const code = netCode(err);
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true;
  return /the database system is (starting up|not yet accepting connections|in recovery mode)/.test(e.message);
}
