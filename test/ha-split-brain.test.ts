// Split brain (two writable upstreams): writes are refused for the tenant and logged loudly, unless routing.preferredPrimary names one of them.
import t from 'tap';
import { psql } from './fixtures/clients.js';
import { startHaEnv } from './fixtures/replication.js';
import { waitFor } from './fixtures/ports.js';

const env = await startHaEnv();
t.teardown(() => env.stop());

t.test('promote the replica while the primary stays writable', async (t) => {
  t.equal((await psql(env.url(), 'SELECT pg_is_in_recovery()')).stdout, 'f', 'writes go to the primary');
  await env.set.promote();
  t.equal(env.set.replica.sql('SELECT pg_is_in_recovery()'), 'f', 'directly: both servers are now writable');
  const log = await waitFor(() => env.porter.logs.find((l) => l.event === 'split_brain'), 'split brain logged', 10_000);
  t.equal(log.level, 50, 'logged at error level');
  const w = await psql(env.url(), 'SELECT 1');
  t.not(w.code, 0, 'read-write clients are refused');
  t.match(w.stderr, /more than one server is writable/, w.stderr);

  const r = await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/tenants/ha`, {
    method: 'PATCH',
    headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' },
    body: JSON.stringify({ routing: { probeUser: 'postgres', preferredPrimary: 'two' } }),
  });
  t.equal(r.status, 200, 'preferredPrimary set live');
  const after = await psql(env.url(), 'SELECT inet_server_port()');
  t.equal(after.stdout, String(env.set.replica.port), 'writes go to the preferred one');
});
