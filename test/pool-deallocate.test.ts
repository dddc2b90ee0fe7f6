// DEALLOCATE of a named statement works on whichever server serves the client, including one that never prepared it.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';

// One worker: the point is clients moving between the two servers of one pool, which only one worker's pool does.
const env = await startPoolEnv({ mode: 'transaction', size: 2 }, { config: { workers: 1 } });
t.teardown(() => env.stop());

const connect = async () => {
  const c = new pg.Client(env.conn);
  await c.connect();
  return c;
};
const pid = async (c: pg.Client) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;

t.test('DEALLOCATE on a server other than the one that prepared the statement', async (t) => {
  const c1 = await connect();
  const c2 = await connect();
  t.teardown(() => Promise.all([c1.end(), c2.end()]));
  // c2 holds one server, so c1's named statement is prepared on the other.
  await c2.query('BEGIN');
  const held = await pid(c2);
  const r = await c1.query({ name: 'foo', text: 'SELECT pg_backend_pid() AS p' });
  const preparedOn = r.rows[0].p as number;
  t.not(preparedOn, held, 'the statement was prepared on the free server');
  await c2.query('COMMIT');

  // Put c1 in a transaction on the server that does not have the statement: whichever BEGINs first gets the
  // same server the pool hands out first, so try both orders.
  let on: number | undefined;
  for (const c1First of [true, false]) {
    if (c1First) {
      await c1.query('BEGIN');
      await c2.query('BEGIN');
    } else {
      await c2.query('BEGIN');
      await c1.query('BEGIN');
    }
    await pid(c2);
    on = await pid(c1);
    if (on !== preparedOn) break;
    await c1.query('COMMIT');
    await c2.query('COMMIT');
  }
  t.not(on, preparedOn, 'c1 is now on the other server');
  await c1.query('DEALLOCATE foo');
  t.pass('DEALLOCATE succeeded on a server that never prepared the statement');
  await c1.query('COMMIT');
  await c2.query('COMMIT');
  await t.rejects(c1.query('EXECUTE foo'), /prepared statement "foo" does not exist/, 'the statement is gone for the client');
});
