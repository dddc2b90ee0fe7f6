// With two workers, wake and suspend coordinate through the supervisor: clients spread over both workers start the machine once, and it is not suspended while any worker still has a client.
import t from 'tap';
import pg from 'pg';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { FakeFly } from './fixtures/fake-fly.js';
import { sleep, waitFor } from './fixtures/ports.js';
import { workerOf } from './fixtures/workers.js';

t.test('one start for clients on both workers; no suspend while one worker has a client; suspend once all leave', async (t) => {
  const fake = await FakeFly.start({ transitionMs: 150 });
  t.teardown(() => fake.close());
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  await fake.addMachine({ app: 'acme-db', id: 'a1a1a1a1', pg: db, state: 'suspended' });
  const porter = await PgporterProcess.start({
    config: {
      workers: 2,
      log: { level: 'info' },
      fly: { apiBaseUrl: fake.url, token: '${FLY_API_TOKEN}', wakeTimeout: '20s', retry: { maxAttempts: 3, baseDelay: '50ms', maxDelay: '200ms' } },
      tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: db.port }, auth: { method: 'trust' }, fly: { app: 'acme-db', machineId: 'a1a1a1a1', suspendAfterIdle: '2s' } }],
    },
    env: { FLY_API_TOKEN: fake.token ?? '' },
  });
  t.teardown(() => porter.stop());
  const conn = { host: '127.0.0.1', port: porter.port, user: USERS.trust.user, database: 'postgres' };

  // 20 first clients at once, spread by round-robin over both workers, all waiting for the one wake.
  const clients = Array.from({ length: 20 }, () => new pg.Client(conn));
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
  const answers = await Promise.all(
    clients.map(async (c, i) => {
      c.on('error', () => {});
      await c.connect();
      return (await c.query('SELECT $1::int AS n', [i])).rows[0].n as number;
    }),
  );
  t.same(answers, Array.from({ length: 20 }, (_, i) => i), 'every client answered');
  t.same([...new Set(clients.map(workerOf))].sort(), [0, 1], 'clients on both workers');
  t.equal(fake.calls.filter((c) => c.action === 'start').length, 1, 'the machine was started once');

  // Everyone leaves but one client on worker 1: worker 0 is idle, but the node is not.
  const stay = clients.find((c) => workerOf(c) === 1)!;
  await Promise.all(clients.filter((c) => c !== stay).map((c) => c.end()));
  await sleep(5000); // more than twice suspendAfterIdle
  t.equal(fake.calls.filter((c) => c.action === 'suspend').length, 0, 'no suspend while worker 1 has a client');
  t.equal(fake.state('a1a1a1a1'), 'started');
  t.equal((await stay.query('SELECT 7 AS x')).rows[0].x, 7, 'the remaining client is served');

  await stay.end();
  await waitFor(() => fake.state('a1a1a1a1') === 'suspended', 'the idle machine to be suspended', 15_000, 100);
  await sleep(1500);
  t.equal(fake.calls.filter((c) => c.action === 'suspend').length, 1, 'suspended once, by one worker');
});
