// A tenant edited through the admin API takes effect without a restart: new upstream for the next transaction, new tenants served at once.
import t from 'tap';
import pg from 'pg';
import { PostgresFixture } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { waitFor } from './fixtures/ports.js';

const dbA = await PostgresFixture.start();
t.teardown(() => dbA.destroy());
const dbB = await PostgresFixture.start();
t.teardown(() => dbB.destroy());
dbA.sql(`CREATE TABLE whoami AS SELECT 'a'::text AS db; GRANT SELECT ON whoami TO PUBLIC;`);
dbB.sql(`CREATE TABLE whoami AS SELECT 'b'::text AS db; GRANT SELECT ON whoami TO PUBLIC;`);

const porter = await PgporterProcess.start({
  config: { proxyProtocol: { mode: 'off' }, tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: dbA.port }, auth: { method: 'trust' } }] },
});
t.teardown(() => porter.stop());

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${porter.adminPort}${path}`, {
    method,
    headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

const whoami = async (user: string) => {
  const c = new pg.Client({ host: '127.0.0.1', port: porter.port, user, database: 'postgres' });
  await c.connect();
  try {
    return (await c.query('SELECT db FROM whoami')).rows[0].db as string;
  } finally {
    await c.end();
  }
};

t.test('moving a tenant to another upstream: the next client reaches the new one, not a pooled server of the old', async (t) => {
  t.equal(await whoami('trusty'), 'a');
  const res = await admin('PATCH', '/v1/tenants/acme', { upstream: { host: '127.0.0.1', port: dbB.port } });
  t.equal(res.status, 200, await res.text());
  t.equal(await whoami('trusty'), 'b');
  // The backend exits a moment after pgporter closes its socket.
  await waitFor(() => dbA.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = 'trusty'`) === '0', 'the old server to go', 5000);
  t.pass('the idle server to the old upstream was closed');
});

t.test('a tenant created through the API is served without a restart', async (t) => {
  const res = await admin('POST', '/v1/tenants', { id: 'globex', upstream: { host: '127.0.0.1', port: dbA.port }, auth: { method: 'trust' } });
  t.equal(res.status, 201, await res.text());
  t.equal(await whoami('trusty.globex'), 'a');
});

t.test('deleting a tenant ends its open sessions with 3D000', async (t) => {
  const c = new pg.Client({ host: '127.0.0.1', port: porter.port, user: 'trusty.globex', database: 'postgres' });
  const ended = new Promise<Error>((resolve) => c.on('error', resolve));
  await c.connect();
  t.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  const res = await admin('DELETE', '/v1/tenants/globex');
  t.ok(res.status === 200 || res.status === 204, `deleted (${res.status})`);
  const err = (await ended) as Error & { code?: string };
  t.equal(err.code, '3D000');
  t.match(err.message, /tenant "globex" was deleted/);
  await c.end().catch(() => {});
});

t.test('a larger pool size serves a waiting client at once, without a new login', async (t) => {
  t.equal((await admin('PATCH', '/v1/tenants/acme', { upstream: { host: '127.0.0.1', port: dbA.port }, pool: { size: 1 } })).status, 200);
  const holder = new pg.Client({ host: '127.0.0.1', port: porter.port, user: 'trusty', database: 'postgres' });
  const waiter = new pg.Client({ host: '127.0.0.1', port: porter.port, user: 'trusty', database: 'postgres' });
  await holder.connect();
  await waiter.connect();
  t.teardown(() => Promise.all([holder.end(), waiter.end()]).catch(() => undefined));
  await holder.query('BEGIN'); // holds the only server
  let served = false;
  const waiting = waiter.query('SELECT 7 AS v').then((r) => ((served = true), r.rows[0].v as number));
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(served, 'the second client waits for the one server');
  t.equal((await admin('PATCH', '/v1/tenants/acme', { pool: { size: 2 } })).status, 200);
  t.equal(await waiting, 7, 'served by a second server while the first is still held');
  await holder.query('COMMIT');
});
