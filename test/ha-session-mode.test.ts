// Session-mode clients bound to a primary that stops being the writer are ended with a clear error (57P01), not left writing to it; new sessions land on the new writer.
import t from 'tap';
import pg from 'pg';
import { psql } from './fixtures/clients.js';
import { startHaEnv } from './fixtures/replication.js';
import { waitFor } from './fixtures/ports.js';

const env = await startHaEnv({ pool: { mode: 'session' } });
t.teardown(() => env.stop());

t.test('the primary is fenced and the replica promoted: its bound session ends, new ones use the new writer', async (t) => {
  const s = new pg.Client(env.conn);
  const ended = new Promise<Error & { code?: string }>((r) => s.on('error', r));
  await s.connect();
  t.equal((await s.query('SELECT pg_is_in_recovery() AS r')).rows[0].r, false, 'the session is bound to the primary');

  env.set.fence();
  await env.set.promote();
  const err = await Promise.race([
    ended,
    waitFor(() => s.query('SELECT 1').then(() => undefined, (e: Error & { code?: string }) => e), 'session ended', 15_000),
  ]);
  t.equal(err.code, '57P01', 'SQLSTATE 57P01');
  // The fence alone ends it (one -> none yet); had the promotion been seen first it would say one -> two.
  t.match(err.message, /the primary of tenant "ha" changed \(one -> (two|none yet)\); reconnect/, `a clear message: ${err.message}`);
  await s.end().catch(() => {});

  const n = await psql(env.url(), 'CREATE TABLE after_failover(x int); SELECT inet_server_port()');
  t.equal(n.code, 0, `a new session writes: ${n.stderr}`);
  t.equal(n.stdout.split('\n').pop(), String(env.set.replica.port), 'on the promoted replica');
});
