// Session mode: a server belongs to one client at a time and is reset before the next, so no temp table or SET leaks across clients.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';

t.test('session mode: the next client on the same server finds no state', async (t) => {
  // One worker: the point is the next client reusing the same server, which only clients of one worker's pool do.
  const env = await startPoolEnv({ mode: 'session', size: 1 }, { config: { workers: 1 } });
  t.teardown(() => env.stop());
  const a = new pg.Client(env.conn);
  await a.connect();
  const pidA = (await a.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  await a.query('CREATE TEMP TABLE leftover (x int)');
  await a.query(`SET statement_timeout = '12345ms'`);
  await a.query({ name: 'kept', text: 'SELECT 1 AS x' });
  // The session keeps its server between transactions.
  t.equal((await a.query('SELECT pg_backend_pid() AS pid')).rows[0].pid, pidA, 'same server for the whole session');
  await a.end();

  const b = new pg.Client(env.conn);
  await b.connect();
  t.teardown(() => b.end());
  t.equal((await b.query('SELECT pg_backend_pid() AS pid')).rows[0].pid, pidA, 'the next client gets the same server (pool size 1)');
  const temp = await b.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'leftover' AND relpersistence = 't'`);
  t.equal(temp.rows[0].n, 0, 'the temp table is gone');
  t.equal((await b.query(`SELECT current_setting('statement_timeout') AS v`)).rows[0].v, '0', 'the SET is gone');
  t.equal((await b.query('SELECT count(*)::int AS n FROM pg_prepared_statements')).rows[0].n, 0, 'no prepared statement left');
  // Same name, different text: must not clash with the previous client's statement.
  t.equal((await b.query({ name: 'kept', text: 'SELECT 2 AS x' })).rows[0].x, 2, 'a statement name reused by a new client works');
});
