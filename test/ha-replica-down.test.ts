// Replica down: reads fall back to the primary in read-only sessions (or are refused, per routing.readFallback edited live); replica back: reads return to it.
import t from 'tap';
import pg from 'pg';
import { psql } from './fixtures/clients.js';
import { startHaEnv } from './fixtures/replication.js';
import { waitFor } from './fixtures/ports.js';

const env = await startHaEnv();
t.teardown(() => env.stop());
const admin = (method: string, path: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${env.porter.adminPort}${path}`, {
    method,
    headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const ro = () => psql(env.url({}, 'postgres-ro'), 'SELECT pg_is_in_recovery()');

t.test('reads follow the replica down and back', async (t) => {
  env.set.primary.sql('CREATE TABLE rd(x int); GRANT ALL ON rd TO PUBLIC');
  await env.set.waitReplayed();
  t.equal((await ro()).stdout, 't', 'reads go to the replica');

  await env.set.replica.stop();
  const fb = await waitFor(async () => ((await ro()).stdout === 'f' ? true : undefined), 'reads fall back', 10_000);
  t.ok(fb, 'replica down: reads fall back to the primary');
  const w = await psql(env.url({}, 'postgres-ro'), 'INSERT INTO rd VALUES (1)');
  t.match(w.stderr, /read-only transaction/, 'and the fallback session stays read-only, as the client asked');
  t.equal((await psql(env.url(), 'INSERT INTO rd VALUES (2); SELECT count(*) FROM rd')).code, 0, 'writes are unaffected');

  const patched = await admin('PATCH', '/v1/tenants/ha', { routing: { probeUser: 'postgres', readFallback: 'refuse' } });
  t.equal(patched.status, 200, 'routing edited live through the admin API');
  const refused = await ro();
  t.not(refused.code, 0, 'readFallback refuse: the read is refused');
  t.match(refused.stderr, /no replica is available/, refused.stderr);

  await env.set.replica.launch();
  const back = await waitFor(async () => ((await ro()).stdout === 't' ? true : undefined), 'reads return', 15_000);
  t.ok(back, 'replica back: reads return to it');
  const list = (await (await admin('GET', '/v1/upstreams?tenant=ha')).json()) as { upstreams: { name: string; role: string }[] };
  t.same(list.upstreams.map((u) => u.role), ['primary', 'standby'], 'GET /v1/upstreams shows both healthy again');
});

t.test('the list edited down to one upstream: routed clients end with a clear error (idle ones at once), new ones use the one server', async (t) => {
  const c = new pg.Client({ ...env.conn, database: 'postgres-ro' });
  const seen: Array<{ code?: string; message: string }> = [];
  c.on('error', (e) => seen.push(e));
  await c.connect();
  t.equal((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r, true, 'a routed read-only client on the replica');
  const patched = await admin('PATCH', '/v1/tenants/ha', { upstream: { host: '127.0.0.1', port: env.set.primary.port } });
  t.equal(patched.status, 200, 'the tenant now has a single upstream');
  // Idle, so ended at once: node-postgres reports the FATAL as an error event.
  const err = await waitFor(() => seen[0], 'the routed client ended', 5000);
  t.equal(err?.code, '57P01', `the routed client is ended (${err?.message})`);
  t.match(err?.message ?? '', /no longer routes among upstreams/);
  const direct = await psql(env.url(), 'SELECT pg_is_in_recovery()');
  t.equal(direct.stdout, 'f', 'a new client is served by the single upstream');
});
