// Pool limits: queryWaitTimeout ends a wait with a clear error; maxClientConnections refuses with 53300 before anything else is spent.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';

// One worker: these check the limits at the exact client and the wait of the one server. Across workers a limit holds
// within one IPC round trip (docs/internals.md, Limits across workers): workers-client-limit.test.ts covers that.
const ONE = { workers: 1 };

t.test('queryWaitTimeout: a client waiting for a busy pool gets an error', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1, queryWaitTimeout: '1s' }, { config: ONE });
  t.teardown(() => env.stop());
  const holder = new pg.Client(env.conn);
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query('BEGIN'); // keeps the only server

  const waiter = new pg.Client(env.conn);
  waiter.on('error', () => {});
  await waiter.connect();
  const err = await waiter.query('SELECT 1').then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  t.ok(err, 'the waiting query fails');
  t.equal(err?.code, '08004');
  t.match(err?.message, /query_wait_timeout/);
  await waiter.end().catch(() => {});

  await holder.query('COMMIT');
  const after = new pg.Client(env.conn);
  await after.connect();
  t.teardown(() => after.end());
  t.equal((await after.query('SELECT 1 AS x')).rows[0].x, 1, 'the pool serves again once the server is free');
  const metrics = await env.porter.metrics();
  t.match(metrics, /pgporter_pool_errors_total\{tenant="demo",kind="query_wait_timeout"\} 1/, 'counted by kind');
  t.match(metrics, /pgporter_pool_transactions_total\{tenant="demo"\} \d+/, 'transactions counted');
});

t.test('maxClientConnections per tenant: the next client gets 53300', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1, maxClientConnections: 2 }, { config: ONE });
  t.teardown(() => env.stop());
  const a = new pg.Client(env.conn);
  const b = new pg.Client(env.conn);
  await a.connect();
  await b.connect();
  t.teardown(() => Promise.all([a.end(), b.end()]));
  const c = new pg.Client(env.conn);
  c.on('error', () => {});
  const err = await c.connect().then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  t.equal(err?.code, '53300', 'too_many_connections');
  await b.end();
  const d = new pg.Client(env.conn);
  await d.connect();
  t.equal((await d.query('SELECT 1 AS x')).rows[0].x, 1, 'a slot frees when a client leaves');
  await d.end();
});

t.test('global pool.maxClientConnections: 53300 across tenants', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1 }, { config: { ...ONE, pool: { maxClientConnections: 1 } } });
  t.teardown(() => env.stop());
  const a = new pg.Client(env.conn);
  await a.connect();
  t.teardown(() => a.end());
  const c = new pg.Client(env.conn);
  c.on('error', () => {});
  const err = await c.connect().then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  t.equal(err?.code, '53300');
});
