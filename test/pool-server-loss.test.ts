// Losing servers: a backend killed mid-transaction gives its client an error, never a hang; an upstream restart gives errors, then recovery.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';

const env = await startPoolEnv({ mode: 'transaction', size: 2, queryWaitTimeout: '10s' });
t.teardown(() => env.stop());

t.test('server terminated mid-transaction: the client gets an error and the pool carries on', async (t) => {
  const c = new pg.Client(env.conn);
  c.on('error', () => {});
  await c.connect();
  await c.query('BEGIN');
  const { rows } = await c.query('SELECT pg_backend_pid() AS pid');
  env.pg.sql(`SELECT pg_terminate_backend(${rows[0].pid})`);
  const err = await c.query('SELECT 1').then(
    () => undefined,
    (e: Error) => e,
  );
  t.ok(err, 'the next query fails');
  t.match(String(err?.message), /terminat|server closed|Connection terminated|unexpected/i, 'with a message about the lost server');
  await c.end().catch(() => {});

  const d = new pg.Client(env.conn);
  await d.connect();
  t.teardown(() => d.end());
  const r = await d.query('SELECT 2 AS x');
  t.equal(r.rows[0].x, 2, 'a new client is served');
});

t.test('an idle server killed in the pool is dropped before a client gets it', async (t) => {
  const c = new pg.Client(env.conn);
  await c.connect();
  t.teardown(() => c.end());
  await c.query('SELECT 1');
  env.pg.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${USERS.trust.user}' AND pid <> pg_backend_pid()`);
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 5; i++) {
    const r = await c.query('SELECT $1::int AS x', [i]);
    t.equal(r.rows[0].x, i, `query ${i} served on a live server`);
  }
});

t.test('upstream stopped: clients get an error; restarted: the pool recovers by itself', async (t) => {
  const c = new pg.Client(env.conn);
  c.on('error', () => {});
  await c.connect();
  await c.query('SELECT 1');
  await env.pg.stop();
  const down = await c.query('SELECT 1').then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  t.ok(down, 'a query while the upstream is down fails');
  await c.end().catch(() => {});

  const fresh = new pg.Client(env.conn);
  fresh.on('error', () => {});
  const refused = await fresh.connect().then(
    () => fresh.query('SELECT 1'),
  ).then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  t.ok(refused, 'a new client gets an error while the upstream is down');
  t.equal(refused?.code, '08006', 'connection failure SQLSTATE');
  await fresh.end().catch(() => {});

  await env.pg.launch();
  const back = new pg.Client(env.conn);
  await back.connect();
  t.teardown(() => back.end());
  const r = await back.query('SELECT 3 AS x');
  t.equal(r.rows[0].x, 3, 'served again once the upstream is back');
});
