// Server and client timeouts, observed from PostgreSQL: idle servers close, old servers are replaced, idle transactions and idle clients are ended.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { sleep, waitFor } from './fixtures/ports.js';

const serverPids = (env: { pg: { sql(s: string): string } }) =>
  env.pg
    .sql(`SELECT pid FROM pg_stat_activity WHERE usename = '${USERS.trust.user}' ORDER BY pid`)
    .split('\n')
    .filter(Boolean);

t.test('serverIdleTimeout closes unused servers', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 2, serverIdleTimeout: '1s' });
  t.teardown(() => env.stop());
  const c = new pg.Client(env.conn);
  await c.connect();
  t.teardown(() => c.end());
  await c.query('SELECT 1');
  t.equal(serverPids(env).length, 1, 'one server after a query');
  await waitFor(() => serverPids(env).length === 0, 'the idle server to be closed', 10_000, 200);
  t.pass('the idle server was closed');
  t.equal((await c.query('SELECT 2 AS x')).rows[0].x, 2, 'a new server is opened on demand');
});

t.test('serverLifetime replaces old servers between transactions', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1, serverLifetime: '1s' });
  t.teardown(() => env.stop());
  const c = new pg.Client(env.conn);
  await c.connect();
  t.teardown(() => c.end());
  const first = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  await sleep(1500);
  const later = await waitFor(
    async () => {
      const p = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      return p !== first ? p : undefined;
    },
    'a new backend',
    10_000,
    200,
  );
  t.not(later, first, 'served by a different backend once the lifetime passed');
});

t.test('idleTransactionTimeout ends a client idle inside a transaction', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1, idleTransactionTimeout: '1s' });
  t.teardown(() => env.stop());
  const c = new pg.Client(env.conn);
  const ended = new Promise<Error>((r) => c.on('error', r));
  await c.connect();
  await c.query('BEGIN');
  const err = (await ended) as Error & { code?: string };
  t.equal(err.code, '25P03', 'idle_in_transaction_session_timeout');
  await c.end().catch(() => {});
  const d = new pg.Client(env.conn);
  await d.connect();
  t.teardown(() => d.end());
  t.equal((await d.query('SELECT 1 AS x')).rows[0].x, 1, 'the pool is usable afterwards');
});

t.test('clientIdleTimeout ends a client that sends nothing', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1, clientIdleTimeout: '1s' });
  t.teardown(() => env.stop());
  const c = new pg.Client(env.conn);
  const ended = new Promise<Error>((r) => c.on('error', r));
  await c.connect();
  await c.query('SELECT 1');
  const err = (await ended) as Error & { code?: string };
  t.equal(err.code, '57P05', 'idle_session_timeout');
  await c.end().catch(() => {});
});
