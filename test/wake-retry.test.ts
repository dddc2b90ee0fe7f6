// The Machines API retry policy as pure functions (which failures retry, how long the waits add up to) and connectWithRetry with a scripted connect.
import t from 'tap';
import { connectWithRetry, couldRetry, isTransientConnectError, maxTotalBackoffMs, parseRetryAfter, retryAfterMs, type RetryPolicy } from '../src/wake/index.js';

t.test('couldRetry: 429 and 5xx and network failures, never other answers or a caller abort', async (t) => {
  for (const s of [429, 500, 502, 503, 504]) t.equal(couldRetry(s), true, `${s}`);
  for (const s of [400, 401, 403, 404, 408, 409, 412, 501]) t.equal(couldRetry(s), false, `${s}`);
  const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
  t.equal(couldRetry(refused), true, 'connection refused');
  t.equal(couldRetry(new DOMException('timed out', 'TimeoutError')), true, 'one attempt timed out');
  t.equal(couldRetry(new DOMException('aborted', 'AbortError')), false, 'caller aborted');
  t.equal(couldRetry(Object.assign(new Error('bad cert'), { code: 'CERT_HAS_EXPIRED' })), false, 'TLS failure is not transient');
  t.equal(couldRetry('nonsense'), false);
});

t.test('parseRetryAfter: seconds, HTTP dates, garbage', async (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  t.equal(parseRetryAfter('3', now), 3000);
  t.equal(parseRetryAfter(' 0 ', now), 0);
  t.equal(parseRetryAfter('1.5', now), 1500);
  t.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now), 5000);
  t.equal(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now), 0, 'a date in the past means now');
  t.equal(parseRetryAfter('soon', now), undefined);
  t.equal(parseRetryAfter(null, now), undefined);
  t.equal(parseRetryAfter(undefined, now), undefined);
});

t.test('retryAfterMs: Retry-After wins; otherwise jittered exponential backoff within [half, full] of the capped step', async (t) => {
  const policy: RetryPolicy = { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 1000 };
  t.equal(retryAfterMs(1, '2', policy, () => 0.5), 2000);
  const steps = [100, 200, 400, 800, 1000, 1000];
  steps.forEach((step, i) => {
    t.equal(retryAfterMs(i + 1, null, policy, () => 0), step / 2, `attempt ${i + 1} least`);
    t.equal(retryAfterMs(i + 1, null, policy, () => 1), step, `attempt ${i + 1} most`);
  });
});

t.test('the total wait over all retries is bounded by the policy', async (t) => {
  const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5000 };
  t.equal(maxTotalBackoffMs(policy), 200 + 400 + 800);
  for (const random of [() => 0, () => 0.37, () => 0.99, () => 1]) {
    let total = 0;
    for (let attempt = 1; attempt < policy.maxAttempts; attempt++) total += retryAfterMs(attempt, null, policy, random);
    t.ok(total <= maxTotalBackoffMs(policy), `total ${total} within the bound`);
    t.ok(total >= maxTotalBackoffMs(policy) / 2, `total ${total} at least half the bound`);
  }
  const capped: RetryPolicy = { maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 2000 };
  t.equal(maxTotalBackoffMs(capped), 1000 + 2000 * 8, 'the cap bounds every later step');
});

t.test('connectWithRetry retries transient failures until the connect works', async (t) => {
  const script: Array<Error | 'ok'> = [
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
    'ok',
  ];
  let calls = 0;
  const value = await connectWithRetry(
    async () => {
      const step = script[calls++]!;
      if (step === 'ok') return 42;
      throw step;
    },
    { deadlineMs: Date.now() + 10_000, isRetryable: isTransientConnectError, baseDelayMs: 1 },
  );
  t.equal(value, 42);
  t.equal(calls, script.length, 'the script was used up exactly');
});

t.test('connectWithRetry gives up at once on a failure that is not retryable', async (t) => {
  let calls = 0;
  const auth = Object.assign(new Error('password authentication failed'), { code: '28P01' });
  await t.rejects(
    connectWithRetry(async () => {
      calls++;
      throw auth;
    }, { deadlineMs: Date.now() + 10_000, isRetryable: isTransientConnectError }),
    auth,
  );
  t.equal(calls, 1);
});

t.test('connectWithRetry stops at the deadline with the last failure', async (t) => {
  let calls = 0;
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  await t.rejects(
    connectWithRetry(async () => {
      calls++;
      throw refused;
    }, { deadlineMs: Date.now() + 200, isRetryable: () => true, baseDelayMs: 10, maxDelayMs: 20 }),
    refused,
  );
  t.ok(calls > 1, `tried ${calls} times before the deadline`);
});
