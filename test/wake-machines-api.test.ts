// The Machines API client against the fake: retries on 5xx, 429 (honouring Retry-After) and slow answers, bounded by attempts and deadline, with clear errors.
import t from 'tap';
import { FlyApiError, FlyDriver, MachinesApi, type RetryPolicy } from '../src/wake/index.js';
import { FakeFly } from './fixtures/fake-fly.js';

const APP = 'acme-db';
const ID = '3d8d413b29d089';
const FAST: RetryPolicy = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

async function setup(t: { teardown(fn: () => unknown): void }, opts: { retry?: RetryPolicy; requestTimeoutMs?: number; token?: string } = {}) {
  const fake = await FakeFly.start({ transitionMs: 30, rateLimit: false, getRateLimit: false });
  t.teardown(() => fake.close());
  await fake.addMachine({ app: APP, id: ID, state: 'suspended' });
  const api = new MachinesApi({ baseUrl: fake.url, token: opts.token ?? fake.token, requestTimeoutMs: opts.requestTimeoutMs ?? 2000, retry: opts.retry ?? FAST });
  return { fake, api };
}

t.test('get, start, wait and suspend against the fake', async (t) => {
  const { fake, api } = await setup(t);
  t.equal((await api.getMachine(APP, ID)).state, 'suspended');
  t.equal((await api.start(APP, ID)).previous_state, 'suspended');
  t.equal(await api.wait(APP, ID, 'started', 5), true);
  await api.suspend(APP, ID);
  t.equal(await api.wait(APP, ID, 'suspended', 5), true);
  await api.stop(APP, ID, { signal: 'SIGINT', timeout: '10s' });
  t.equal(await api.wait(APP, ID, 'stopped', 5), true);
  t.equal(fake.state(ID), 'stopped');
});

t.test('wait returns false on 408 and clamps its timeout to 1-60 s', async (t) => {
  const { fake, api } = await setup(t);
  t.equal(await api.wait(APP, ID, 'started', 0.2), false);
  t.match(fake.calls.at(-1)!.path, /timeout=1$/);
  t.equal(fake.count('wait', 408), 1, '408 is an answer, not retried');
});

t.test('5xx is retried, and the next attempt works', async (t) => {
  const { fake, api } = await setup(t);
  fake.failNext(2, { status: 503, action: 'start' });
  t.equal((await api.start(APP, ID)).previous_state, 'suspended');
  t.same(fake.calls.filter((c) => c.action === 'start').map((c) => c.status), [503, 503, 200]);
});

t.test('5xx beyond the attempts: a clear error naming the call, status and attempts', async (t) => {
  const { fake, api } = await setup(t);
  fake.failNext(3, { status: 502, action: 'start', body: '{"error":"upstream hiccup"}' });
  const err = await api.start(APP, ID).catch((e: unknown) => e);
  t.type(err, FlyApiError);
  t.match(err, { side: 'fly', status: 502, action: 'start', code: 'FLY_SERVER_ERROR', message: /^start returned 502: \{"error":"upstream hiccup"\} \(after 3 attempts\)$/ });
  t.equal(fake.count('start'), 3, 'bounded by maxAttempts');
  t.equal((await api.start(APP, ID)).previous_state, 'suspended', 'the next call tries afresh and works');
});

t.test('429 honours Retry-After', async (t) => {
  const { fake, api } = await setup(t, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 } });
  fake.failNext(1, { status: 429, action: 'get', retryAfter: '1' });
  await api.getMachine(APP, ID);
  const [first, second] = fake.calls.filter((c) => c.action === 'get');
  t.equal(first!.status, 429);
  t.equal(second!.status, 200);
  t.ok(second!.at - first!.at >= 950, `waited ${second!.at - first!.at} ms as Retry-After asked, not the 1 ms backoff`);
});

t.test('the real rate limit: a burst of starts is answered 429 and the client waits it out', async (t) => {
  const fake = await FakeFly.start({ transitionMs: 10 });
  t.teardown(() => fake.close());
  await fake.addMachine({ app: APP, id: ID });
  const api = new MachinesApi({ baseUrl: fake.url, token: fake.token, requestTimeoutMs: 2000, retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 100 } });
  for (let i = 0; i < 4; i++) await api.start(APP, ID); // burst 3, the 4th waits for Retry-After
  t.equal(fake.count('start', 200), 4);
  t.equal(fake.count('start', 429), 1);
});

t.test('a Retry-After past the deadline ends the call at once with the 429', async (t) => {
  const { fake, api } = await setup(t);
  fake.failNext(1, { status: 429, action: 'start', retryAfter: '30' });
  const t0 = Date.now();
  const err = await api.start(APP, ID, { deadlineMs: Date.now() + 2000 }).catch((e: unknown) => e);
  t.match(err, { status: 429, code: 'FLY_RATE_LIMITED', message: /start returned 429.*would pass the deadline/ });
  t.ok(Date.now() - t0 < 2000, 'did not sleep past the deadline');
  t.equal(fake.count('start'), 1);
});

t.test('slow answers time out per request, are retried, then fail clearly', async (t) => {
  const { fake, api } = await setup(t, { requestTimeoutMs: 150, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 10 } });
  fake.latencyFor.get = 400;
  const err = await api.getMachine(APP, ID).catch((e: unknown) => e);
  t.match(err, { code: 'FLY_TIMEOUT', status: undefined, message: /^get timed out after 150ms \(after 2 attempts\)$/ });
  fake.latencyFor.get = 0;
  t.equal((await api.getMachine(APP, ID)).state, 'suspended', 'works once the API is fast again');
});

t.test('401, 404 and 412 are not retried and say what to check', async (t) => {
  const { fake, api } = await setup(t);
  const wrong = new MachinesApi({ baseUrl: fake.url, token: 'nope', requestTimeoutMs: 2000, retry: FAST });
  t.match(await wrong.start(APP, ID).catch((e: unknown) => e), { status: 401, code: 'FLY_UNAUTHORIZED', message: /^start returned 401: .*check fly\.token/ });
  t.match(await api.start(APP, 'nosuchmachine').catch((e: unknown) => e), { status: 404, code: 'FLY_NOT_FOUND', message: /^start returned 404: .*machine not found/ });
  fake.setState(ID, 'failed');
  t.match(await api.start(APP, ID).catch((e: unknown) => e), { status: 412, code: 'FLY_PRECONDITION_FAILED', message: /^start returned 412: .*failed_precondition/ });
  t.equal(fake.count('start'), 3, 'one call each');
});

t.test('network errors are retried then reported', async (t) => {
  const fake = await FakeFly.start();
  const url = fake.url;
  await fake.close(); // nothing listens there any more
  const api = new MachinesApi({ baseUrl: url, requestTimeoutMs: 1000, retry: FAST });
  t.match(await api.getMachine(APP, ID).catch((e: unknown) => e), { code: 'FLY_UNREACHABLE', side: 'fly', message: /^get failed: .*ECONNREFUSED.*\(after 3 attempts\)/ });
});

t.test('FlyDriver.waitFor loops wait within the deadline and stops early on a failed machine', async (t) => {
  const { fake, api } = await setup(t);
  const driver = new FlyDriver(api, APP, ID, { waitSliceSeconds: 2 });
  t.equal(driver.describe(), `machine ${ID} (app ${APP})`);
  await t.rejects(driver.waitFor('started', Date.now() + 1500), { message: /timed out waiting for state "started" \(last seen: suspended\)/ });
  setTimeout(() => fake.setState(ID, 'failed'), 300);
  const t0 = Date.now();
  await t.rejects(driver.waitFor('started', Date.now() + 20_000), { message: /machine is failed/ });
  t.ok(Date.now() - t0 < 10_000, 'gave up after the first 408, not at the deadline');
  t.ok(fake.calls.filter((c) => c.action === 'wait').every((c) => /timeout=[12]$/.test(c.path)), 'each wait within the slice');
});
