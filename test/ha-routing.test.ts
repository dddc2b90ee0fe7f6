// Routing among a primary and a replica: read-write clients land on the primary, -ro and target_session_attrs=read-only clients on the replica, each proved by pg_is_in_recovery() where it ran.
import t from 'tap';
import pg from 'pg';
import { psql } from './fixtures/clients.js';
import { startHaEnv } from './fixtures/replication.js';
import { waitFor } from './fixtures/ports.js';

const env = await startHaEnv();
t.teardown(() => env.stop());

const where = async (url: string, env2: NodeJS.ProcessEnv = {}) => {
  const r = await psql(url, 'SELECT pg_is_in_recovery()', env2);
  return r.code === 0 ? r.stdout : `error: ${r.stderr}`;
};

t.test('directly: the fixture is a primary and a streaming replica', async (t) => {
  t.equal(env.set.primary.sql('SELECT pg_is_in_recovery()'), 'f', 'primary is not in recovery');
  t.equal(env.set.replica.sql('SELECT pg_is_in_recovery()'), 't', 'replica is in recovery');
  // libpq's own multi-host choice on the same servers, the behaviour pgporter's targets copy.
  t.equal(await where(env.directUrl({ target_session_attrs: 'read-write' })), 'f', 'libpq read-write picks the primary');
  t.equal(await where(env.directUrl({ target_session_attrs: 'standby' })), 't', 'libpq standby picks the replica');
});

t.test('the probe learns both roles', async (t) => {
  const res = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/tenants/ha/upstreams`, { headers: { authorization: 'Bearer test-token-0123456789' } });
    const body = (await r.json()) as { upstreams: { name: string; role: string; lagSeconds?: number }[] };
    const roles = Object.fromEntries(body.upstreams.map((u) => [u.name, u.role]));
    return roles.one === 'primary' && roles.two === 'standby' ? body : undefined;
  }, 'roles probed', 10_000);
  t.same(res.upstreams.map((u) => [u.name, u.role]), [['one', 'primary'], ['two', 'standby']], 'GET /v1/tenants/ha/upstreams shows primary and standby');
});

t.test('read-write (the default) goes to the primary', async (t) => {
  t.equal(await where(env.url()), 'f');
  t.equal(await where(env.url({ options: '-c target_session_attrs=read-write' })), 'f', 'named in options');
  t.equal(await where(env.url({ options: '-c target_session_attrs=primary' })), 'f', 'primary');
  const w = await psql(env.url(), 'CREATE TABLE IF NOT EXISTS ha_routing(x int); INSERT INTO ha_routing VALUES (1); SELECT count(*) FROM ha_routing');
  t.equal(w.code, 0, `writes work: ${w.stderr}`);
});

t.test('read-only and standby go to the replica', async (t) => {
  t.equal(await where(env.url({}, 'postgres-ro')), 't', 'database-name suffix -ro');
  t.equal(await where(env.url({ options: '-c target_session_attrs=read-only' })), 't', 'target_session_attrs=read-only in options');
  t.equal(await where(env.url({ options: '-c target_session_attrs=standby' })), 't', 'standby');
  t.equal(await where(env.url({ options: '-c target_session_attrs=prefer-standby' })), 't', 'prefer-standby');
  t.equal(await where('', { PGOPTIONS: '-c target_session_attrs=read-only', PGHOST: '127.0.0.1', PGPORT: String(env.porter.port), PGUSER: env.conn.user, PGDATABASE: 'postgres', PGSSLMODE: 'disable' }), 't', 'PGOPTIONS');
  const w = await psql(env.url({}, 'postgres-ro'), 'INSERT INTO ha_routing VALUES (2)');
  t.not(w.code, 0, 'a write on the replica fails');
  t.match(w.stderr, /read-only transaction/, 'with PostgreSQL\'s own read-only error');
  const other = await psql(env.url({ options: '-c target_session_attrs=read-only -c application_name=kept' }), 'SHOW application_name');
  t.equal(other.stdout, 'kept', 'other options are kept');
});

t.test('a bad target is refused like libpq would', async (t) => {
  const r = await psql(env.url({ options: '-c target_session_attrs=writer' }), 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /invalid value for parameter "target_session_attrs"/);
});

t.test("libpq's own target_session_attrs through pgporter gets what it asked for", async (t) => {
  t.equal(await where(env.url({ target_session_attrs: 'read-write' })), 'f', 'read-write in the URL: libpq accepts the writer pgporter routes it to');
  t.equal(await where(env.url({ target_session_attrs: 'read-only' }, 'postgres-ro')), 't', 'read-only in the URL with -ro: libpq accepts the replica');
  const wrong = await psql(env.url({ target_session_attrs: 'read-only' }), 'SELECT 1');
  t.not(wrong.code, 0, 'read-only in the URL alone (pgporter sends it to the writer): libpq itself refuses, as it would directly');
});

t.test("a client's own SET default_transaction_read_only lasts across its transactions, as directly", async (t) => {
  const run = async (conn: pg.ClientConfig) => {
    const c = new pg.Client(conn);
    await c.connect();
    const seen: string[] = [];
    const write = () => c.query('INSERT INTO ha_routing VALUES (3)').then(() => 'written', (e: { code?: string }) => `refused ${e.code}`);
    try {
      await c.query('SET default_transaction_read_only = on');
      for (let i = 0; i < 3; i++) seen.push((await c.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only, await write());
      await c.query('SET default_transaction_read_only = off');
      seen.push(await write());
    } finally {
      await c.end();
    }
    return seen;
  };
  const direct = await run({ host: '127.0.0.1', port: env.set.primary.port, user: env.conn.user, database: 'postgres' });
  t.same(direct, ['on', 'refused 25006', 'on', 'refused 25006', 'on', 'refused 25006', 'written'], 'directly: read-only until SET off');
  t.same(await run(env.conn), direct, 'through pgporter (routed, transaction mode, servers change between transactions): the same');
  t.equal(await where(env.url()), 'f', 'the refusals did not make pgporter take the primary for read-only');
});

t.test('SHOW UPSTREAMS and metrics show roles', async (t) => {
  const m = await (await fetch(`http://127.0.0.1:${env.porter.metricsPort}/metrics`)).text();
  t.match(m, /pgporter_upstream_role\{tenant="ha",upstream="one",role="primary"\} 1/);
  t.match(m, /pgporter_upstream_role\{tenant="ha",upstream="two",role="standby"\} 1/);
  t.match(m, /pgporter_upstream_replication_lag_seconds\{tenant="ha",upstream="two"\}/);
});
