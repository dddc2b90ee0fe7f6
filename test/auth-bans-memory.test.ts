// Failed-login bans on one node without Redis: the ban, its refusal (28000) before authentication, other addresses and the trusted proxy's own address unaffected, expiry, the admin list and lift, metrics.
import t, { type Test } from 'tap';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { HaproxyFixture } from './fixtures/haproxy.js';
import { login, metricValue } from './fixtures/login.js';
import { sleep, waitFor } from './fixtures/ports.js';

const ADMIN = { authorization: 'Bearer test-token-0123456789' }; // the pgporter fixture's admin token
const BANNED_MSG = /^too many failed logins from host "203\.0\.113\.7" for tenant "acme": refused for \d+ more seconds$/;

const db = await PostgresFixture.start();
t.teardown(() => db.destroy());
const upstream = { host: '127.0.0.1', port: db.port };
const users = [{ name: USERS.scram.user, password: USERS.scram.password }];
const porter = await PgporterProcess.start({
  config: {
    // optional: a direct connection from 127.0.0.1 (a trusted proxy's address) is its own client.
    proxyProtocol: { mode: 'optional', trustedProxies: ['127.0.0.1/32'], headerTimeout: '3s' },
    netrules: { defaultPolicy: 'allow', authFailureBan: { maxFailures: 3, window: '10s', banTime: '2s' } },
    tenants: [
      { id: 'acme', upstream, auth: { users, failureDelay: '10ms' } },
      // A tenant that counts more failures before a ban.
      { id: 'lenient', upstream, auth: { users, failureDelay: '10ms' }, authFailureBan: { maxFailures: 6 } },
    ],
  },
});
t.teardown(() => porter.stop());
const client = await HaproxyFixture.start({ targetPort: porter.port, proxy: 'v2', source: '203.0.113.7' });
t.teardown(() => client.stop());
const other = await HaproxyFixture.start({ targetPort: porter.port, proxy: 'v1', source: '198.51.100.9' });
t.teardown(() => other.stop());

const user = (tenant: string) => `${USERS.scram.user}.${tenant}`;
const good = USERS.scram.password;

async function failTimes(port: number, tenant: string, n: number, t: Test): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await login(port, user(tenant), 'wrong-password');
    t.match(r, { ok: false, code: '28P01', message: `password authentication failed for user "${USERS.scram.user}"` }, `wrong password ${i + 1}: 28P01`);
  }
}

t.test('three failures ban the address for the tenant; the right password is then refused before authentication', async (t) => {
  await failTimes(client.port, 'acme', 3, t);
  // Log lines arrive through a pipe: wait for the three failures before counting what follows.
  await waitFor(() => porter.find({ event: 'auth_failed' }).length === 3, 'three auth_failed lines', 2000);
  const r = await login(client.port, user('acme'), good);
  t.match(r, { ok: false, code: '28000', message: BANNED_MSG });
  await porter.waitForLog({ event: 'refused', code: 'AUTH_BANNED' });
  t.equal(porter.find({ event: 'auth_failed' }).length, 3, 'no authentication was attempted');
  t.equal(porter.find({ event: 'authenticated' }).length, 0, 'nor succeeded');
  t.match(await porter.waitForLog({ event: 'refused', code: 'AUTH_BANNED' }), { sqlstate: '28000', reason: 'auth_banned', tenant: 'acme', client: '203.0.113.7' });
  t.match(await porter.waitForLog({ event: 'auth_ban' }), { tenant: 'acme', client: '203.0.113.7', failures: 3, banTimeMs: 2000 });

  t.same(await login(other.port, user('acme'), good), { ok: true }, 'another address is unaffected');
  t.same(await login(client.port, user('lenient'), good), { ok: true }, 'the same address on another tenant is unaffected');

  const m = await porter.metrics();
  t.equal(metricValue(m, 'pgporter_auth_bans_total{tenant="acme"}'), 1);
  t.equal(metricValue(m, 'pgporter_auth_failures_total{tenant="acme"}'), 3);
  t.equal(metricValue(m, 'pgporter_auth_bans_active{tenant="acme"}'), 1);
  t.equal(metricValue(m, 'pgporter_connections_refused_total{reason="auth_banned",tenant="acme"}'), 1);

  const res = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/bans`, { headers: ADMIN });
  t.equal(res.status, 200);
  const body = (await res.json()) as { bans: Array<{ tenant: string; address: string; expiresAt: string; remainingMs: number }> };
  t.equal(body.bans.length, 1);
  t.match(body.bans[0], { tenant: 'acme', address: '203.0.113.7', remainingMs: Number });
  t.ok(Date.parse(body.bans[0]!.expiresAt) > Date.now(), 'expiresAt is in the future');

  // The ban ends by itself after banTime.
  await sleep(2100);
  t.same(await login(client.port, user('acme'), good), { ok: true }, 'the ban expired');
  const after = (await (await fetch(`http://127.0.0.1:${porter.adminPort}/v1/bans`, { headers: ADMIN })).json()) as { bans: unknown[] };
  t.same(after.bans, [], 'and is no longer listed');
});

t.test('a per-tenant maxFailures applies; a success does not reset the count', async (t) => {
  await failTimes(client.port, 'lenient', 3, t);
  t.same(await login(client.port, user('lenient'), good), { ok: true }, 'a success in between');
  await failTimes(client.port, 'lenient', 2, t);
  t.same(await login(client.port, user('lenient'), good), { ok: true }, 'five failures: not yet');
  await failTimes(client.port, 'lenient', 1, t);
  const r = await login(client.port, user('lenient'), good);
  t.match(r, { ok: false, code: '28000', message: /too many failed logins from host "203\.0\.113\.7" for tenant "lenient"/ }, 'the sixth failure bans');
});

t.test('the admin API lifts a ban at once', async (t) => {
  await failTimes(other.port, 'acme', 3, t);
  t.match(await login(other.port, user('acme'), good), { ok: false, code: '28000' });
  const unauth = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/bans/acme/198.51.100.9`, { method: 'DELETE' });
  t.equal(unauth.status, 401, 'behind the bearer token');
  // Any text form of the address: the IPv4-mapped IPv6 form is the same client.
  const res = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/bans/acme/${encodeURIComponent('::ffff:198.51.100.9')}`, { method: 'DELETE', headers: ADMIN });
  t.equal(res.status, 200);
  t.same(await res.json(), { lifted: { tenant: 'acme', address: '::ffff:198.51.100.9' } });
  t.same(await login(other.port, user('acme'), good), { ok: true }, 'lifted');
  t.match(await porter.waitForLog({ event: 'admin_audit', action: 'ban.lift' }), { tokenName: 'test', tenant: 'acme' });

  const again = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/bans/acme/198.51.100.9`, { method: 'DELETE', headers: ADMIN });
  t.equal(again.status, 404);
  t.match(await again.json(), { error: { code: 'BAN_NOT_FOUND' } });
  const bad = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/bans/acme/not-an-ip`, { method: 'DELETE', headers: ADMIN });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { code: 'INVALID_ADDRESS', field: 'address' } });
});

t.test("a trusted proxy's own address is never banned", async (t) => {
  // No PROXY header: the client address is the peer, 127.0.0.1, which is in trustedProxies.
  await failTimes(porter.port, 'acme', 5, t);
  t.same(await login(porter.port, user('acme'), good), { ok: true });
  t.equal(porter.find({ event: 'auth_ban', client: '127.0.0.1' }).length, 0);
});

t.test('the ban is checked again before each password message: parallel guesses past the limit are refused unchecked', async (t) => {
  await waitFor(async () => (await login(client.port, user('acme'), good)).ok, 'no ban left on 203.0.113.7', 5000);
  const results = await Promise.all(Array.from({ length: 8 }, () => login(client.port, user('acme'), 'wrong-password')));
  const codes = results.map((r) => (r.ok ? 'ok' : r.code));
  t.ok(codes.every((c) => c === '28P01' || c === '28000'), `only 28P01 or 28000: ${codes.join(',')}`);
  t.ok(codes.filter((c) => c === '28P01').length >= 3, 'the first failures are answered as such');
  t.match(await login(client.port, user('acme'), good), { ok: false, code: '28000' }, 'banned afterwards');
});
