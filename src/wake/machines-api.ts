// A small client for Fly's Machines API (get, start, suspend, stop, wait) with per-request timeouts and bounded, jittered retries.
import { FlyApiError } from './fly-error.js';
import { couldRetry, DEFAULT_RETRY, retryAfterMs, type RetryPolicy } from './retry.js';

/** A machine as the API returns it; only the fields pgporter reads are typed. */
export interface Machine {
  id: string;
  state: string;
  name?: string;
  region?: string;
  instance_id?: string;
  private_ip?: string;
  [field: string]: unknown;
}

export interface StartResult {
  previous_state?: string;
  migrated?: boolean;
  new_host?: string;
}

/** States the wait endpoint accepts. */
export type WaitState = 'started' | 'stopped' | 'suspended' | 'destroyed';

export interface MachinesApiOptions {
  /** e.g. https://api.machines.dev or http://_api.internal:4280 (no trailing slash needed). */
  baseUrl: string;
  /** Bearer token; undefined sends no Authorization header (the API will answer 401). */
  token?: string | undefined;
  /** Timeout of one request in ms; a wait request gets its wait time on top. */
  requestTimeoutMs: number;
  retry?: RetryPolicy;
  /** Told about every retry, for a debug log line. */
  onRetry?: (info: { action: string; attempt: number; delayMs: number; error: FlyApiError }) => void;
}

export interface CallOptions {
  /** Epoch ms (as Date.now()) after which no attempt starts and none is awaited; retries stop early to respect it. */
  deadlineMs?: number;
  /** Aborts the call at once; the abort reason is thrown as is, never retried. */
  signal?: AbortSignal;
}

/** Sleeps `ms`, waking early (with the abort reason) if `signal` fires. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class MachinesApi {
  private readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly requestTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly onRetry: MachinesApiOptions['onRetry'];

  constructor(opts: MachinesApiOptions) {
    if (!/^https?:\/\//.test(opts.baseUrl)) throw new TypeError(`MachinesApi: baseUrl must be an http(s) URL, got "${opts.baseUrl}"`);
    if (!(opts.requestTimeoutMs > 0)) throw new TypeError(`MachinesApi: requestTimeoutMs must be positive, got ${opts.requestTimeoutMs}`);
    const retry = opts.retry ?? DEFAULT_RETRY;
    if (!(retry.maxAttempts >= 1)) throw new TypeError(`MachinesApi: retry.maxAttempts must be at least 1, got ${retry.maxAttempts}`);
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.headers = { accept: 'application/json' };
    if (opts.token) this.headers.authorization = `Bearer ${opts.token}`;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.retry = retry;
    this.onRetry = opts.onRetry;
  }

  async getMachine(app: string, id: string, opts: CallOptions = {}): Promise<Machine> {
    const { text } = await this.call('get', 'GET', this.path(app, id, ''), opts);
    const m = parseJson('get', text) as Partial<Machine> | undefined;
    if (!m || typeof m !== 'object' || typeof m.state !== 'string') throw new FlyApiError('get', 200, text, `get returned a machine without a state: ${text.slice(0, 200)}`, { code: 'FLY_BAD_RESPONSE', kind: 'fly_bad_response' });
    return m as Machine;
  }

  async start(app: string, id: string, opts: CallOptions = {}): Promise<StartResult> {
    const { text } = await this.call('start', 'POST', this.path(app, id, '/start'), opts);
    return (parseJson('start', text) ?? {}) as StartResult;
  }

  async suspend(app: string, id: string, opts: CallOptions = {}): Promise<void> {
    await this.call('suspend', 'POST', this.path(app, id, '/suspend'), opts);
  }

  /** Stops the machine; `body` may name the signal and grace period ({signal: 'SIGINT', timeout: '10s'}). */
  async stop(app: string, id: string, body?: { signal?: string; timeout?: string }, opts: CallOptions = {}): Promise<void> {
    await this.call('stop', 'POST', this.path(app, id, '/stop'), opts, { body: body === undefined ? undefined : JSON.stringify(body) });
  }

  /**
   * Waits server-side up to `timeoutSeconds` (clamped to the API's 1–60) for the machine to reach `state`.
   * True when it did; false when the API answered 408 (not yet), which is not an error and not retried.
   */
  async wait(app: string, id: string, state: WaitState, timeoutSeconds: number, opts: CallOptions = {}): Promise<boolean> {
    const seconds = Math.min(60, Math.max(1, Math.ceil(timeoutSeconds)));
    const query = `?state=${encodeURIComponent(state)}&timeout=${seconds}`;
    const { status } = await this.call('wait', 'GET', this.path(app, id, `/wait${query}`), opts, { extraTimeoutMs: seconds * 1000, accept: 408 });
    return status !== 408;
  }

  private path(app: string, id: string, rest: string): string {
    return `/v1/apps/${encodeURIComponent(app)}/machines/${encodeURIComponent(id)}${rest}`;
  }

  /** One API call with retries: 429/5xx/network failures again after a backoff, while attempts and the deadline allow. */
  private async call(
    action: string,
    method: string,
    path: string,
    opts: CallOptions,
    extra: { body?: string | undefined; extraTimeoutMs?: number; accept?: number } = {},
  ): Promise<{ status: number; text: string }> {
    const deadline = opts.deadlineMs ?? Number.POSITIVE_INFINITY;
    const headers = extra.body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' };
    let lastError: FlyApiError | undefined;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw lastError ?? FlyApiError.fromNetwork(action, timeoutError());
      const timeoutMs = Math.max(1, Math.min(this.requestTimeoutMs + (extra.extraTimeoutMs ?? 0), remaining));
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      let error: FlyApiError;
      let retryable: boolean;
      let retryAfter: string | null = null;
      try {
        const res = await fetch(this.baseUrl + path, { method, headers, body: extra.body, signal });
        const text = await res.text();
        if (res.ok || res.status === extra.accept) return { status: res.status, text };
        error = FlyApiError.fromResponse(action, res.status, text);
        retryable = couldRetry(res.status);
        retryAfter = res.headers.get('retry-after');
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        error = FlyApiError.fromNetwork(action, err, timeoutMs);
        retryable = couldRetry(err);
      }
      lastError = error;
      if (!retryable || attempt >= this.retry.maxAttempts) throw withAttempts(error, attempt);
      const delayMs = retryAfterMs(attempt, retryAfter, this.retry);
      if (Date.now() + delayMs >= deadline) throw withAttempts(error, attempt, `waiting ${delayMs}ms more would pass the deadline`);
      this.onRetry?.({ action, attempt, delayMs, error });
      await sleep(delayMs, opts.signal);
    }
  }
}

/** Says in the message how hard we tried, so "503" alone is never mistaken for a first-try failure. */
function withAttempts(error: FlyApiError, attempts: number, note?: string): FlyApiError {
  if (attempts > 1 || note) error.message += ` (after ${attempts} attempt${attempts === 1 ? '' : 's'}${note ? `; ${note}` : ''})`;
  return error;
}

function timeoutError(): Error {
  const err = new Error('deadline passed');
  err.name = 'TimeoutError';
  return err;
}

function parseJson(action: string, text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new FlyApiError(action, 200, text, `${action} returned a body that is not JSON: ${text.slice(0, 200)}`, { code: 'FLY_BAD_RESPONSE', kind: 'fly_bad_response' });
  }
}
