// Retry policy for Machines API calls as pure functions: which failures are worth another try, and how long to wait before it.

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Backoff before the second attempt (before jitter); doubles per attempt. */
  readonly baseDelayMs: number;
  /** Cap on the computed backoff. A server's Retry-After may ask for longer, and is honoured. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5_000 };

/** Network error codes that mean "the request may not have arrived"; worth another try. */
const TRANSIENT_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Whether a failed call may succeed if repeated: HTTP 429 and 5xx (not 501, which never changes), network errors and
 * per-request timeouts. Never 4xx otherwise (401/404/412 are answers, not accidents) and never a caller's abort.
 */
export function couldRetry(failure: number | unknown): boolean {
  if (typeof failure === 'number') return failure === 429 || (failure >= 500 && failure <= 599 && failure !== 501);
  if (!(failure instanceof Error)) return false;
  if (failure.name === 'TimeoutError') return true; // AbortSignal.timeout fired on one attempt
  if (failure.name === 'AbortError') return false; // the caller gave up
  const code = netCode(failure);
  if (code !== undefined) return TRANSIENT_NET.has(code);
  return failure instanceof TypeError && failure.message === 'fetch failed';
}

/** The system error code of a network failure, looking through fetch's `cause` wrapper. */
export function netCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Parses a Retry-After header (delta seconds or an HTTP date) into milliseconds from `now`; undefined when absent or
 * unreadable. A date in the past gives 0.
 */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * How long to wait before attempt number `attempt + 1`, where `attempt` counts the attempts made so far (1 after the
 * first failure). Retry-After wins when the server sent one; otherwise exponential backoff capped at maxDelayMs with
 * "equal jitter" (half fixed, half random) so concurrent callers spread out but never retry at once.
 */
export function retryAfterMs(
  attempt: number,
  header: string | null | undefined,
  policy: RetryPolicy = DEFAULT_RETRY,
  random: () => number = Math.random,
  now: number = Date.now(),
): number {
  const asked = parseRetryAfter(header, now);
  if (asked !== undefined) return asked;
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** The longest total time spent sleeping between attempts when no Retry-After is sent: the bound a test checks. */
export function maxTotalBackoffMs(policy: RetryPolicy): number {
  let total = 0;
  for (let attempt = 1; attempt < policy.maxAttempts; attempt++) total += Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return total;
}
