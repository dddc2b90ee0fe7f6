// Suspend when idle: after suspendAfterIdle with no clients the machine is suspended (connections closed first), never under a client, and a client arriving mid-suspend is served after it.
import t from 'tap';
import pg from 'pg';
import { createLogger, Metrics } from '../src/observability/index.js';
import type { TenantRecord } from '../src/store/index.js';
import { createWakeManager, type WakeManager } from '../src/wake/index.js';
import { FakeFly, fakeFlyConfig } from './fixtures/fake-fly.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { sleep, waitFor } from './fixtures/ports.js';

const APP = 'acme-db';
const ID = '3d8d413b29d089';

async function setup(t: { teardown(fn: () => unknown): void }, db: PostgresFixture) {
  const fake = await FakeFly.start({ transitionMs: 100 });
  t.teardown(() => fake.close());
  await fake.addMachine({ app: APP, id: ID, state: 'started', pg: db });
  const config = fakeFlyConfig(fake, [{ id: 'acme', upstream: { host: db.host, port: db.port }, fly: { app: APP, machineId: ID, suspendAfterIdle: '1s' } }]);
  const metrics = new Metrics({ defaultMetrics: false });
  const wake: WakeManager = createWakeManager({ config, logger: createLogger('silent'), metrics, getTenant: (id) => config.tenants.find((x) => x.id === id), sweepIntervalMs: 100 });
  t.teardown(() => wake.close());
  const closed: string[] = [];
  wake.setBeforeSuspend(async (id) => {
    closed.push(id);
  });
  return { fake, wake, metrics, closed, tenant: config.tenants[0]! as TenantRecord };
}

async function suspends(metrics: Metrics, result: string): Promise<number> {
  const m = await metrics.registry.getSingleMetric('pgporter_suspends_total')!.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function selectOne(db: PostgresFixture): Promise<number> {
  const c = new pg.Client({ host: db.host, port: db.port, user: USERS.trust.user, database: 'postgres' });
  await c.connect();
  try {
    return (await c.query('select 1 as one')).rows[0].one as number;
  } finally {
    await c.end();
  }
}

t.test('suspends after the idle period, never while a client is connected', async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const { fake, wake, metrics, closed, tenant } = await setup(t, db);

  wake.clientConnected('acme');
  await wake.ensureAwake(tenant);
  await sleep(2500); // well past suspendAfterIdle with the client still connected
  t.equal(fake.count('suspend'), 0, 'no suspend while a client is connected');
  t.same(closed, []);

  const epoch = wake.epoch('acme');
  wake.clientDisconnected('acme');
  await waitFor(() => fake.state(ID) === 'suspended', 'the idle machine to be suspended', 10_000);
  await waitFor(async () => (await suspends(metrics, 'suspended')) === 1, 'the suspend to be counted');
  t.equal(fake.count('suspend'), 1, 'one suspend call');
  t.same(closed, ['acme'], 'server connections were closed first');
  t.equal(db.processState(), 'T', 'PostgreSQL is stopped by SIGSTOP');
  t.ok(wake.epoch('acme') > epoch, 'epoch bumped: older server connections are suspect');
  await sleep(1500);
  t.equal(fake.count('suspend'), 1, 'a suspended machine is not suspended again');

  wake.clientConnected('acme');
  let told = false;
  await wake.ensureAwake(tenant, () => (told = true));
  t.ok(told, 'the next client is told it is waking');
  t.equal(fake.state(ID), 'started');
  t.equal(await selectOne(db), 1, 'and gets its query answered');
  wake.clientDisconnected('acme');
});

t.test('a client arriving during a suspend waits for it to finish, then wakes the machine', async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const { fake, wake, metrics, tenant } = await setup(t, db);
  fake.transitionMs = 800; // a slow suspend, so the client surely lands inside it
  await wake.ensureAwake(tenant);
  await waitFor(() => fake.state(ID) === 'suspending', 'the suspend to begin', 10_000);

  wake.clientConnected('acme');
  let told = false;
  await wake.ensureAwake(tenant, () => (told = true));
  t.ok(told, 'told it is waking');
  const path = fake.transitions.map((x) => x.to).join(' → ');
  t.equal(path, 'suspending → suspended → starting → started', 'the suspend finished, then the wake started it (no flapping)');
  t.equal(fake.count('start'), 1);
  t.equal(await suspends(metrics, 'suspended'), 1);
  t.equal(await selectOne(db), 1, 'the client is served');
  await sleep(1500);
  t.equal(fake.count('suspend'), 1, 'no new suspend while the client stays connected');
});

t.test('a client arriving while connections are being closed cancels the suspend', async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const { fake, wake, metrics, tenant } = await setup(t, db);
  let hookEntered = false;
  let release!: () => void;
  wake.setBeforeSuspend(async () => {
    hookEntered = true;
    await new Promise<void>((r) => (release = r));
  });
  await wake.ensureAwake(tenant);
  await waitFor(() => hookEntered, 'the suspend to start closing connections', 10_000);
  wake.clientConnected('acme');
  const served = wake.ensureAwake(tenant);
  release();
  await served;
  t.equal(fake.count('suspend'), 0, 'no suspend call');
  t.equal(fake.count('start'), 0, 'the machine never went down, so no start either');
  t.equal(await suspends(metrics, 'aborted'), 1);
  t.equal(await selectOne(db), 1);
});
