// Wake on connect against the fake Machines API and a real PostgreSQL: one start for 100 concurrent callers, cold starts, failures as 57P03, retry by the next client.
import t from 'tap';
import pg from 'pg';
import { ClientError } from '../src/errors.js';
import { createLogger, Metrics } from '../src/observability/index.js';
import type { TenantRecord } from '../src/store/index.js';
import { connectWithRetry, createWakeManager, isTransientConnectError, type WakeManager } from '../src/wake/index.js';
import { FakeFly, fakeFlyConfig } from './fixtures/fake-fly.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';

const APP = 'acme-db';
const ID = '3d8d413b29d089';

async function query(db: PostgresFixture, text: string): Promise<unknown> {
  const client = await connectWithRetry(
    async () => {
      const c = new pg.Client({ host: db.host, port: db.port, user: USERS.scram.user, password: USERS.scram.password, database: 'postgres', connectionTimeoutMillis: 5000 });
      try {
        await c.connect();
      } catch (err) {
        await c.end().catch(() => {});
        throw err;
      }
      return c;
    },
    { deadlineMs: Date.now() + 15_000, isRetryable: isTransientConnectError },
  );
  try {
    return (await client.query(text)).rows[0];
  } finally {
    await client.end();
  }
}

interface Setup {
  fake: FakeFly;
  wake: WakeManager;
  metrics: Metrics;
  tenant: TenantRecord;
}

async function setup(t: { teardown(fn: () => unknown): void }, opts: { pg?: PostgresFixture; state?: 'started' | 'stopped' | 'suspended' | 'failed'; transitionMs?: number; tenantFly?: Record<string, unknown>; fly?: Record<string, unknown> }): Promise<Setup> {
  const fake = await FakeFly.start({ transitionMs: opts.transitionMs ?? 100 });
  t.teardown(() => fake.close());
  await fake.addMachine({ app: APP, id: ID, state: opts.state ?? 'suspended', ...(opts.pg ? { pg: opts.pg } : {}) });
  const config = fakeFlyConfig(
    fake,
    [{ id: 'acme', upstream: { host: '127.0.0.1', port: opts.pg?.port ?? 5432 }, fly: { app: APP, machineId: ID, ...opts.tenantFly } }],
    opts.fly,
  );
  const metrics = new Metrics({ defaultMetrics: false });
  const wake = createWakeManager({ config, logger: createLogger('silent'), metrics, getTenant: (id) => config.tenants.find((x) => x.id === id) });
  t.teardown(() => wake.close());
  return { fake, wake, metrics, tenant: config.tenants[0]! };
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value;
}

t.test('100 concurrent callers on a suspended machine: one start call, then PostgreSQL answers', async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const { fake, wake, metrics, tenant } = await setup(t, { pg: db });
  t.equal(db.processState(), 'T', 'the machine starts out suspended');
  let told = 0;
  await Promise.all(Array.from({ length: 100 }, () => wake.ensureAwake(tenant, () => told++)));
  t.equal(fake.count('start'), 1, 'exactly one start call in the fake\'s log');
  t.equal(fake.count('get'), 1, 'one state read');
  t.equal(told, 100, 'every caller was told the database is waking');
  t.equal(fake.state(ID), 'started');
  t.same(await query(db, 'select 41 + 1 as answer'), { answer: 42 });
  t.equal(wake.epoch('acme'), 1, 'epoch bumped by the resume');
  t.equal(await metricValue(metrics, 'pgporter_wakes_total', { tenant: 'acme', result: 'woken' }), 1);
  t.equal(await metricValue(metrics, 'pgporter_machine_state', { tenant: 'acme', state: 'started' }), 1);
  t.equal(await metricValue(metrics, 'pgporter_wake_waiting_clients', { tenant: 'acme' }), 0);
  const hist = await metrics.registry.getSingleMetric('pgporter_wake_duration_seconds')!.get();
  t.ok(hist.values.some((v) => v.labels.phase === 'api' && (v as { metricName?: string }).metricName === 'pgporter_wake_duration_seconds_count' && v.value === 1), 'api phase observed');
  wake.observeReady('acme', 0.01);

  const calls = fake.calls.length;
  let toldAgain = false;
  await wake.ensureAwake(tenant, () => (toldAgain = true));
  t.equal(fake.calls.length, calls, 'known started: no API call at all');
  t.equal(toldAgain, false);

  wake.markSuspect('acme');
  await wake.ensureAwake(tenant, () => (toldAgain = true));
  t.equal(fake.calls.length, calls + 1, 'after markSuspect one state read');
  t.equal(toldAgain, false, 'no wake needed: nobody is told');
  t.equal(fake.count('start'), 1);
});

t.test('a stopped machine is cold-started (a fresh postmaster) and answers', async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const { fake, wake, tenant } = await setup(t, { pg: db, state: 'stopped' });
  t.equal(db.processState(), undefined, 'postgres is not running');
  await Promise.all(Array.from({ length: 10 }, () => wake.ensureAwake(tenant)));
  t.equal(fake.count('start'), 1);
  t.same(await query(db, 'select 7 as n'), { n: 7 });
});

t.test('tenants without a fly block are never woken', async (t) => {
  const fake = await FakeFly.start();
  t.teardown(() => fake.close());
  const config = fakeFlyConfig(fake, [{ id: 'plain', upstream: { host: '127.0.0.1' } }]);
  const wake = createWakeManager({ config, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), getTenant: () => config.tenants[0] });
  t.teardown(() => wake.close());
  await wake.ensureAwake(config.tenants[0]!, () => t.fail('not told'));
  t.equal(fake.calls.length, 0);
});

t.test('a failed machine: FATAL 57P03 naming the machine; no start call', async (t) => {
  const { fake, wake, tenant, metrics } = await setup(t, { state: 'failed' });
  const err = await wake.ensureAwake(tenant).catch((e: unknown) => e);
  t.type(err, ClientError);
  t.match(err, { code: 'WAKE_FAILED', sqlstate: '57P03', severity: 'FATAL', message: `could not wake database machine ${ID} (app ${APP}): machine is failed` });
  t.equal(fake.count('start'), 0);
  t.equal(await metricValue(metrics, 'pgporter_wakes_total', { tenant: 'acme', result: 'failed' }), 1);
});

t.test('start refused with 412: the client sees Fly\'s answer', async (t) => {
  const { fake, wake, tenant } = await setup(t, {});
  fake.failNext(1, { status: 412, action: 'start', body: '{"error":"failed_precondition: machine is being replaced"}' });
  const err = await wake.ensureAwake(tenant).catch((e: unknown) => e);
  t.match(err, { sqlstate: '57P03', message: `could not wake database machine ${ID} (app ${APP}): start returned 412: {"error":"failed_precondition: machine is being replaced"}` });
});

t.test('API answering 5xx: bounded retries, a clear 57P03, and the next client tries again and succeeds', async (t) => {
  const { fake, wake, tenant } = await setup(t, {});
  fake.failNext(3, { status: 503, action: 'start' }); // maxAttempts is 3 in fakeFlyConfig
  const clients = await Promise.allSettled(Array.from({ length: 5 }, () => wake.ensureAwake(tenant)));
  t.ok(clients.every((c) => c.status === 'rejected'), 'every waiting client got the failure');
  const reason = (clients[0] as PromiseRejectedResult).reason;
  t.match(reason, { sqlstate: '57P03', message: /start returned 503: .*\(after 3 attempts\)$/ });
  t.equal(fake.count('start'), 3, 'retries bounded, one wake shared by all clients');
  await wake.ensureAwake(tenant);
  t.equal(fake.state(ID), 'started');
  t.equal(fake.count('start', 200), 1);
});

t.test('API answering 429 then fine: the wake rides it out', async (t) => {
  const { fake, wake, tenant } = await setup(t, {});
  fake.failNext(1, { status: 429, action: 'get', retryAfter: '1' });
  await wake.ensureAwake(tenant);
  t.same(fake.calls.filter((c) => c.action === 'get').map((c) => c.status), [429, 200]);
  t.equal(fake.state(ID), 'started');
});

t.test('a machine that never gets started within wakeTimeout: 57P03 with a timeout message', async (t) => {
  const { fake, wake, tenant } = await setup(t, { transitionMs: 10_000, tenantFly: { wakeTimeout: '1500ms' } });
  const err = await wake.ensureAwake(tenant).catch((e: unknown) => e);
  t.match(err, { code: 'WAKE_FAILED', message: new RegExp(`^could not wake database machine ${ID} \\(app ${APP}\\): .*(timed out|timeout)`) });
  t.equal(fake.count('start'), 1);
  fake.setState(ID, 'started'); // the machine comes up eventually; the next client is served
  await wake.ensureAwake(tenant);
  t.equal(fake.count('start'), 1, 'no second start: the state read says started');
});

t.test('a machine that is already starting is only waited for', async (t) => {
  const { fake, wake, tenant } = await setup(t, {});
  fake.setState(ID, 'starting');
  setTimeout(() => fake.setState(ID, 'started'), 300);
  let told = 0;
  await wake.ensureAwake(tenant, () => told++);
  t.equal(fake.count('start'), 0);
  t.equal(told, 1);
});

t.test('close() during a wake ends the wake instead of waiting out its timeout', async (t) => {
  const { fake, wake, tenant } = await setup(t, { state: 'suspended', fly: { wakeTimeout: '60s' } });
  fake.latencyFor.start = 30_000; // the start call hangs far longer than a shutdown may take
  let told = false;
  const waking = wake.ensureAwake(tenant, () => (told = true));
  await new Promise((r) => setTimeout(r, 300));
  t.ok(told, 'the wake is under way');
  let guardFired = false;
  const guard = setTimeout(() => (guardFired = true), 9000);
  await wake.close();
  clearTimeout(guard);
  t.notOk(guardFired, 'close() returned without waiting for the hung start call');
  await t.rejects(waking, { code: 'WAKE_FAILED', message: /shutting down/ }, 'the waiting client is told why');
});
