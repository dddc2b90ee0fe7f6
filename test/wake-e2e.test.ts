// Wake on connect through a real pgporter process: one start call for 100 first clients, notices, cold starts, 57P03 on failure, no wake for refused clients, suspend when idle.
import t from 'tap';
import pg from 'pg';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { FakeFly } from './fixtures/fake-fly.js';
import { psql } from './fixtures/clients.js';
import { sleep, waitFor } from './fixtures/ports.js';

const fake = await FakeFly.start({ transitionMs: 150 });
t.teardown(() => fake.close());
const dbA = await PostgresFixture.start();
t.teardown(() => dbA.destroy());
const dbB = await PostgresFixture.start();
t.teardown(() => dbB.destroy());

await fake.addMachine({ app: 'acme-db', id: 'a1a1a1a1', pg: dbA, state: 'suspended' });
await fake.addMachine({ app: 'globex-db', id: 'b2b2b2b2', pg: dbB, state: 'stopped' });
await fake.addMachine({ app: 'locked-db', id: 'c3c3c3c3', state: 'suspended' });

const users = { users: [{ name: USERS.scram.user, password: USERS.scram.password }] };
const porter = await PgporterProcess.start({
  config: {
    proxyProtocol: { mode: 'off' },
    fly: { apiBaseUrl: fake.url, token: '${FLY_API_TOKEN}', wakeTimeout: '20s', retry: { maxAttempts: 3, baseDelay: '50ms', maxDelay: '200ms' } },
    tenants: [
      { id: 'acme', upstream: { host: '127.0.0.1', port: dbA.port }, auth: users, fly: { app: 'acme-db', machineId: 'a1a1a1a1', suspendAfterIdle: '2s' } },
      { id: 'globex', upstream: { host: '127.0.0.1', port: dbB.port }, auth: users, fly: { app: 'globex-db', machineId: 'b2b2b2b2' } },
      { id: 'locked', upstream: { host: '127.0.0.1', port: dbA.port }, auth: users, allowlist: ['192.0.2.0/24'], fly: { app: 'locked-db', machineId: 'c3c3c3c3' } },
    ],
  },
  env: { FLY_API_TOKEN: fake.token ?? '' },
});
t.teardown(() => porter.stop());

const callsFor = (id: string, action: string) => fake.calls.filter((c) => c.path.includes(`/machines/${id}`) && c.action === action);

t.test('100 concurrent first clients to a suspended machine: one start call, every query answered', async (t) => {
  t.equal(fake.state('a1a1a1a1'), 'suspended');
  const clients = Array.from({ length: 100 }, (_, i) =>
    (async () => {
      const c = new pg.Client({ host: '127.0.0.1', port: porter.port, user: 'app.acme', password: USERS.scram.password, database: 'postgres' });
      await c.connect();
      try {
        return (await c.query('SELECT $1::int AS n', [i])).rows[0].n as number;
      } finally {
        await c.end();
      }
    })(),
  );
  const results = await Promise.all(clients);
  t.same(results, Array.from({ length: 100 }, (_, i) => i), 'all 100 answered with their own value');
  t.equal(callsFor('a1a1a1a1', 'start').length, 1, 'exactly one start call');
  t.equal(fake.state('a1a1a1a1'), 'started');
  const m = await porter.metrics();
  t.match(m, /pgporter_wakes_total\{tenant="acme",result="woken"\} 1/);
});

t.test('the machine is suspended again once idle, and the next client wakes it with a notice psql prints', async (t) => {
  await waitFor(() => fake.state('a1a1a1a1') === 'suspended', 'idle suspend', 15_000, 100);
  t.equal(callsFor('a1a1a1a1', 'suspend').length, 1, 'one suspend call');
  const r = await psql(`postgres://app.acme:${USERS.scram.password}@127.0.0.1:${porter.port}/postgres`, 'SELECT 1');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '1');
  t.match(r.stderr, /NOTICE: +waking up the database for tenant "acme"/, 'psql shows the wake notice');
  t.equal(callsFor('a1a1a1a1', 'start').length, 2);
});

t.test('never suspended while a client is connected', async (t) => {
  const c = new pg.Client({ host: '127.0.0.1', port: porter.port, user: 'app.acme', password: USERS.scram.password, database: 'postgres' });
  await c.connect();
  const suspendsBefore = callsFor('a1a1a1a1', 'suspend').length;
  await sleep(3500); // longer than suspendAfterIdle
  t.equal(callsFor('a1a1a1a1', 'suspend').length, suspendsBefore, 'no suspend while connected');
  t.equal((await c.query('SELECT 2 AS v')).rows[0].v, 2);
  await c.end();
});

t.test('a stopped machine is cold-started', async (t) => {
  t.equal(fake.state('b2b2b2b2'), 'stopped');
  const r = await psql(`postgres://app.globex:${USERS.scram.password}@127.0.0.1:${porter.port}/postgres`, 'SELECT 40 + 2');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '42');
  t.equal(callsFor('b2b2b2b2', 'start').length, 1);
});

t.test('a client refused by the allowlist never wakes its machine', async (t) => {
  const r = await psql(`postgres://app.locked:${USERS.scram.password}@127.0.0.1:${porter.port}/postgres`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /no allowlist entry for host "127\.0\.0\.1", tenant "locked"/);
  t.equal(fake.calls.filter((c) => c.path.includes('c3c3c3c3')).length, 0, 'no Machines API call for that machine');
});

t.test('a client that fails authentication never wakes its machine', async (t) => {
  await waitFor(() => fake.state('a1a1a1a1') === 'suspended', 'idle suspend', 15_000, 100);
  const before = callsFor('a1a1a1a1', 'start').length;
  const r = await psql(`postgres://app.acme:wrong@127.0.0.1:${porter.port}/postgres`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /password authentication failed/);
  t.equal(callsFor('a1a1a1a1', 'start').length, before, 'no start call');
  t.equal(fake.state('a1a1a1a1'), 'suspended');
});

t.test('API failures end in a clear 57P03 after bounded retries; the next client wakes the machine', async (t) => {
  // As many failures as pgporter's attempts per call (fly.retry.maxAttempts), so the next client finds a healthy API.
  fake.failNext(3, { status: 503, action: 'start' });
  const r = await psql(`postgres://app.acme:${USERS.scram.password}@127.0.0.1:${porter.port}/postgres`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /could not wake database machine a1a1a1a1 \(app acme-db\)/);
  const line = await porter.waitForLog({ event: 'refused', sqlstate: '57P03' });
  t.equal(line.code, 'WAKE_FAILED');
  const failedStarts = callsFor('a1a1a1a1', 'start').filter((c) => c.status === 503).length;
  t.equal(failedStarts, 3, 'retried up to fly.retry.maxAttempts, then gave up');
  const again = await psql(`postgres://app.acme:${USERS.scram.password}@127.0.0.1:${porter.port}/postgres`, 'SELECT 3');
  t.equal(again.code, 0, again.stderr);
  t.equal(again.stdout, '3');
});
