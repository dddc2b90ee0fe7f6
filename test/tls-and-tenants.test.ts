// TLS termination with a certificate made at test time, and tenant resolution by SNI, by user suffix and by elimination.
import t from 'tap';
import { PostgresFixture } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { makeCert } from './fixtures/certs.js';
import { psql } from './fixtures/clients.js';

const acmeDb = await PostgresFixture.start();
t.teardown(() => acmeDb.destroy());
const globexDb = await PostgresFixture.start();
t.teardown(() => globexDb.destroy());
acmeDb.sql(`CREATE TABLE whoami AS SELECT 'acme'::text AS tenant; GRANT SELECT ON whoami TO PUBLIC;`);
globexDb.sql(`CREATE TABLE whoami AS SELECT 'globex'::text AS tenant; GRANT SELECT ON whoami TO PUBLIC;`);

const cert = makeCert('db.test');
t.teardown(() => cert.remove());

const porter = await PgporterProcess.start({
  config: {
    proxyProtocol: { mode: 'off' },
    tls: { certFile: cert.certFile, keyFile: cert.keyFile, requireTls: false },
    tenants: [
      { id: 'acme', upstream: { host: '127.0.0.1', port: acmeDb.port }, auth: { authQuery: { user: 'postgres' } } },
      { id: 'globex', upstream: { host: '127.0.0.1', port: globexDb.port }, requireTls: true, auth: { users: [{ name: 'app', password: 'app-secret' }] } },
    ],
  },
});
t.teardown(() => porter.stop());
const p = porter.port;

t.test('sslmode=require negotiates TLS and reaches the tenant named by SNI', async (t) => {
  const r = await psql(`host=acme.db.test hostaddr=127.0.0.1 port=${p} user=app password=app-secret dbname=postgres sslmode=require`, 'SELECT tenant FROM whoami');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'acme');
  const line = await porter.waitForLog({ event: 'accepted', tenant: 'acme', via: 'sni' });
  t.equal(line.tls, true);
});

t.test('verify-full against the generated certificate succeeds for the SNI name', async (t) => {
  const r = await psql(
    `host=globex.db.test hostaddr=127.0.0.1 port=${p} user=app password=app-secret dbname=postgres sslmode=verify-full sslrootcert=${cert.certFile}`,
    'SELECT tenant FROM whoami',
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'globex');
});

t.test('user.tenant selects the tenant and the suffix is stripped before going upstream', async (t) => {
  const r = await psql(`postgres://app.globex:app-secret@127.0.0.1:${p}/postgres?sslmode=require`, 'SELECT tenant || \'/\' || current_user FROM whoami');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'globex/app');
  await porter.waitForLog({ event: 'accepted', tenant: 'globex', via: 'user', user: 'app' });
});

t.test('requireTls refuses a plain-text client with a clear error', async (t) => {
  const r = await psql(`postgres://app.globex:app-secret@127.0.0.1:${p}/postgres?sslmode=disable`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /connection without TLS is not allowed for tenant "globex"/);
  const line = await porter.waitForLog({ event: 'refused', code: 'TLS_REQUIRED' });
  t.equal(line.sqlstate, '28000');
});

t.test('a plain-text client of a tenant without requireTls is served', async (t) => {
  const r = await psql(`postgres://app.acme:app-secret@127.0.0.1:${p}/postgres?sslmode=disable`, 'SELECT tenant FROM whoami');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'acme');
});

t.test('an unknown tenant suffix gets 3D000', async (t) => {
  const r = await psql(`postgres://app.initech:app-secret@127.0.0.1:${p}/postgres?sslmode=require`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /tenant "initech" does not exist/);
  const line = await porter.waitForLog({ event: 'refused', code: 'TENANT_UNKNOWN' });
  t.equal(line.sqlstate, '3D000');
});

t.test('with several tenants and no hint the client is told how to name one', async (t) => {
  const r = await psql(`postgres://app:app-secret@127.0.0.1:${p}/postgres?sslmode=disable`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /cannot tell which tenant/);
  t.match(r.stderr, /HINT: +.*user\.tenant/);
});

t.test('a wrong password is refused with 28P01', async (t) => {
  const r = await psql(`postgres://app.acme:wrong@127.0.0.1:${p}/postgres?sslmode=require`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /password authentication failed for user "app"/);
  await porter.waitForLog({ event: 'refused', sqlstate: '28P01' });
});
