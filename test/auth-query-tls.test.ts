// authQuery honours the tenant's upstream TLS (tls, caFile) like the pool does: against a real PostgreSQL with ssl on whose pg_hba admits the auth user only over hostssl.
import t from 'tap';
import { runAuthQuery } from '../src/auth/index.js';
import { makeCert } from './fixtures/certs.js';
import { psql } from './fixtures/clients.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';

const AUTH_USER = { user: 'authq', password: 'authq-secret' };
const cert = makeCert();
t.teardown(() => cert.remove());
const otherCa = makeCert('elsewhere.test');
t.teardown(() => otherCa.remove());

const pg = await PostgresFixture.start({
  ssl: cert,
  // The auth user may only come in over TLS: a plain-text authQuery fails on pg_hba, before any password is asked.
  hba: [`hostssl all ${AUTH_USER.user} 127.0.0.1/32 scram-sha-256`, `hostnossl all ${AUTH_USER.user} 127.0.0.1/32 reject`],
});
t.teardown(() => pg.destroy());
pg.sql(`CREATE ROLE ${AUTH_USER.user} LOGIN SUPERUSER PASSWORD '${AUTH_USER.password}'`);

const PG_AUTHID = 'SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1';
const request = { tenantId: 'acme', host: '127.0.0.1', port: pg.port, ...AUTH_USER, database: 'postgres', query: PG_AUTHID, lookupUser: USERS.scram.user, timeoutMs: 10_000 };

t.test('the server itself: the auth user is refused over plain TCP (so the cases below prove TLS was used)', async (t) => {
  const plain = await psql(`postgres://${AUTH_USER.user}:${AUTH_USER.password}@127.0.0.1:${pg.port}/postgres?sslmode=disable`, 'SELECT 1');
  t.not(plain.code, 0);
  t.match(plain.stderr, /pg_hba\.conf rejects connection|no encryption/);
  const tls = await psql(`postgres://${AUTH_USER.user}:${AUTH_USER.password}@127.0.0.1:${pg.port}/postgres?sslmode=require`, 'SELECT 1');
  t.equal(tls.code, 0, tls.stderr);
  await t.rejects(runAuthQuery({ ...request, tls: 'disable' }), { code: 'AUTH_QUERY_FAILED', message: /pg_hba\.conf rejects connection/ });
});

t.test('authQuery over TLS: require, and verify-full with the tenant caFile', async (t) => {
  const viaRequire = await runAuthQuery({ ...request, tls: 'require' });
  t.equal(viaRequire?.kind, 'scram', 'read the verifier over TLS without verification');
  const viaVerify = await runAuthQuery({ ...request, tls: 'verify-full', caFile: cert.certFile });
  t.same(viaVerify, viaRequire, 'and with the certificate verified against caFile');
});

t.test('verify-full refuses a certificate the tenant caFile did not sign', async (t) => {
  await t.rejects(runAuthQuery({ ...request, tls: 'verify-full', caFile: otherCa.certFile }), { code: 'AUTH_QUERY_FAILED', message: /TLS to 127\.0\.0\.1:\d+ failed/ });
});

t.test('through pgporter: a tenant with upstream verify-full looks the verifier up over TLS and logs in', async (t) => {
  const porter = await PgporterProcess.start({
    config: {
      proxyProtocol: { mode: 'off' },
      tenants: [
        {
          id: 'acme',
          upstream: { host: '127.0.0.1', port: pg.port, tls: 'verify-full', caFile: cert.certFile },
          auth: { method: 'scram-sha-256', authQuery: { user: AUTH_USER.user, password: AUTH_USER.password, query: PG_AUTHID } },
        },
      ],
    },
  });
  t.teardown(() => porter.stop());
  const r = await psql(`postgres://${USERS.scram.user}:${USERS.scram.password}@127.0.0.1:${porter.port}/postgres?sslmode=disable`, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 't', 'the pooled server connection is TLS too');
  t.equal(pg.sql(`SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = '${USERS.scram.user}' AND s.ssl`), '1');
});
