// pgporter's own client authentication through a real process: md5 and SCRAM from an authQuery, config users, unknown users, the auth timeout, and what /v1/pools then shows.
import t from 'tap';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { firstError, psql, rawConnection, startupMessage } from './fixtures/clients.js';

const db = await PostgresFixture.start();
t.teardown(() => db.destroy());
const upstream = { host: '127.0.0.1', port: db.port };
const porter = await PgporterProcess.start({
  config: {
    proxyProtocol: { mode: 'off' },
    tenants: [
      // Verifiers and hashes read from the server: pgporter never holds a password for these.
      { id: 'viaquery', upstream, auth: { method: 'scram-sha-256', authQuery: { user: 'postgres', query: 'SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1' } } },
      { id: 'configured', upstream, auth: { users: [{ name: USERS.scram.user, password: USERS.scram.password }], timeout: '1s', failureDelay: '200ms' } },
    ],
  },
});
t.teardown(() => porter.stop());
const url = (user: string, password: string) => `postgres://${user}:${password}@127.0.0.1:${porter.port}/postgres?sslmode=disable`;

t.test('SCRAM pass-through with a verifier from the authQuery', async (t) => {
  const r = await psql(url(`${USERS.scram.user}.viaquery`, USERS.scram.password), 'SELECT current_user');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'app');
});

t.test('md5 with the stored hash from the authQuery', async (t) => {
  // The md5 response hashes the user name the client sent, so a `user.tenant` suffix cannot work with md5:
  // this pgporter has one tenant, resolved without a suffix.
  const md5porter = await PgporterProcess.start({
    config: { proxyProtocol: { mode: 'off' }, tenants: [{ id: 'md5', upstream, auth: { method: 'md5', authQuery: { user: 'postgres' } } }] },
  });
  t.teardown(() => md5porter.stop());
  const md5url = (password: string) => `postgres://${USERS.md5.user}:${password}@127.0.0.1:${md5porter.port}/postgres?sslmode=disable`;
  const r = await psql(md5url(USERS.md5.password), 'SELECT current_user');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'md5user');
  t.ok(md5porter.find({ event: 'authenticated', method: 'md5' }).length > 0, 'authenticated by pgporter with md5');
  const bad = await psql(md5url('nope'), 'SELECT 1');
  t.match(bad.stderr, /password authentication failed for user "md5user"/);
});

t.test('a configured user logs in; an unknown user gets the same message as a wrong password', async (t) => {
  const ok = await psql(url(`${USERS.scram.user}.configured`, USERS.scram.password), 'SELECT current_user');
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, 'app');
  const wrong = await psql(url(`${USERS.scram.user}.configured`, 'wrong'), 'SELECT 1');
  const unknown = await psql(url('ghost.configured', 'whatever'), 'SELECT 1');
  t.match(wrong.stderr, /FATAL: +password authentication failed for user "app"/);
  t.match(unknown.stderr, /FATAL: +password authentication failed for user "ghost"/);
  const refusals = porter.find({ event: 'refused', sqlstate: '28P01' });
  t.ok(refusals.length >= 2, 'both refused with 28P01');
  const reasons = porter.find({ event: 'auth_failed' }).map((l) => l.reason);
  t.ok(reasons.includes('wrong_password') && reasons.includes('unknown_user'), 'the log (only) tells the two apart');
});

t.test('an authentication that never finishes is closed with 08006', async (t) => {
  const c = await rawConnection(porter.port);
  c.socket.write(startupMessage({ user: `${USERS.scram.user}.configured`, database: 'postgres' }));
  // Receive AuthenticationSASL, then say nothing.
  const got = await c.closed;
  t.equal(String.fromCharCode(got[0]!), 'R', 'an authentication request came first');
  const err = firstError(got);
  t.equal(err?.C, '08006');
  t.match(err?.M, /timeout/);
});

t.test('no password or verifier appears in the log', async (t) => {
  const text = porter.logs.map((l) => JSON.stringify(l)).join('\n');
  t.notMatch(text, USERS.scram.password);
  t.notMatch(text, USERS.md5.password);
  t.notMatch(text, /SCRAM-SHA-256\$/);
  t.notMatch(text, /md5[0-9a-f]{32}/);
});

t.test('/v1/pools lists the pools the sessions used', async (t) => {
  const res = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/pools`, { headers: { authorization: 'Bearer test-token-0123456789' } });
  t.equal(res.status, 200);
  const body = (await res.json()) as { pools: Array<{ tenant: string; user: string; mode: string; clientsActive: number; serversIdle: number }> };
  const viaquery = body.pools.find((p) => p.tenant === 'viaquery');
  t.ok(viaquery, 'a pool for the tenant');
  t.equal(viaquery?.user, 'app');
  t.equal(viaquery?.mode, 'transaction');
  t.equal(viaquery?.clientsActive, 0, 'no client connected now');
  t.ok((viaquery?.serversIdle ?? 0) >= 1, 'its server connection kept for reuse');
  const denied = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/pools`);
  t.equal(denied.status, 401, 'read-only, but still behind the token');
});
