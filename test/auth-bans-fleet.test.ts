// Failed-login bans across the fleet: two pgporter nodes on one real Redis behind haproxys presenting client addresses; a ban made on node A is enforced on node B, expires, is lifted through either node, and survives a Redis outage.
import t, { type Test } from 'tap';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { HaproxyFixture } from './fixtures/haproxy.js';
import { RedisFixture } from './fixtures/redis.js';
import { login, metricValue } from './fixtures/login.js';
import { sleep, waitFor } from './fixtures/ports.js';

const ADMIN = { authorization: 'Bearer test-token-0123456789' }; // the pgporter fixture's admin token
const banned = (tenant: string) => new RegExp(`^too many failed logins from host "203\\.0\\.113\\.7" for tenant "${tenant}": refused for \\d+ more seconds$`);

const redis = await RedisFixture.start();
t.teardown(() => redis.destroy());
const db = await PostgresFixture.start();
t.teardown(() => db.destroy());
const upstream = { host: '127.0.0.1', port: db.port };
const users = [{ name: USERS.scram.user, password: USERS.scram.password }];
const nodeConfig = {
  proxyProtocol: { mode: 'required', trustedProxies: ['127.0.0.1/32'], headerTimeout: '3s' },
  store: { kind: 'redis', redis: { url: redis.url, keyPrefix: 'bans-e2e:', resyncInterval: '500ms', connectTimeout: '2s' } },
  // Supavisor's 10 failures, in a short window and with a short ban so the test can watch it end.
  netrules: { defaultPolicy: 'allow', authFailureBan: { maxFailures: 10, window: '10s', banTime: '2s' } },
  tenants: [
    { id: 'acme', upstream, auth: { users, failureDelay: '20ms' } },
    // Bans long enough to outlast a Redis outage.
    { id: 'steady', upstream, auth: { users, failureDelay: '20ms' }, authFailureBan: { banTime: '60s' } },
  ],
};
const nodeA = await PgporterProcess.start({ config: nodeConfig });
t.teardown(() => nodeA.stop());
const nodeB = await PgporterProcess.start({ config: nodeConfig });
t.teardown(() => nodeB.stop());
// A fresh fleet on an empty Redis waits store.redis.restoreGrace for peers before seeding from the config.
await Promise.all([nodeA, nodeB].map((n) => n.waitForLog({ msg: 'tenant store loaded from Redis' }, 20_000)));
// The same client address reaching either node, and a second address on node A.
const viaA = await HaproxyFixture.start({ targetPort: nodeA.port, proxy: 'v2', source: '203.0.113.7' });
t.teardown(() => viaA.stop());
const viaB = await HaproxyFixture.start({ targetPort: nodeB.port, proxy: 'v1', source: '203.0.113.7' });
t.teardown(() => viaB.stop());
const otherA = await HaproxyFixture.start({ targetPort: nodeA.port, proxy: 'v2', source: '198.51.100.9' });
t.teardown(() => otherA.stop());

const user = (tenant: string) => `${USERS.scram.user}.${tenant}`;
const good = USERS.scram.password;
const bansOn = async (node: PgporterProcess) =>
  ((await (await fetch(`http://127.0.0.1:${node.adminPort}/v1/bans`, { headers: ADMIN })).json()) as { bans: Array<{ tenant: string; address: string; expiresAt: string }> }).bans;

async function failTimes(port: number, tenant: string, n: number, t: Test): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await login(port, user(tenant), 'wrong-password');
    t.match(r, { ok: false, code: '28P01', message: `password authentication failed for user "${USERS.scram.user}"` }, `wrong password ${i + 1}: 28P01`);
  }
}

t.test('ten failures on node A ban the address on node B within a second', async (t) => {
  await failTimes(viaA.port, 'acme', 10, t);
  const start = Date.now();
  const r = await waitFor(async () => {
    const x = await login(viaB.port, user('acme'), good);
    return x.ok ? undefined : x;
  }, 'node B to refuse the banned address', 1000, 20);
  t.ok(Date.now() - start < 1000, `refused on node B after ${Date.now() - start} ms`);
  t.match(r, { ok: false, code: '28000', message: banned('acme') }, 'the 11th attempt, with the right password, is refused on node B');
  t.match(await login(viaA.port, user('acme'), good), { ok: false, code: '28000', message: banned('acme') }, 'and on node A');
  t.same(await login(otherA.port, user('acme'), good), { ok: true }, '198.51.100.9 is unaffected');
  t.match(await nodeB.waitForLog({ event: 'refused', code: 'AUTH_BANNED' }), { sqlstate: '28000', client: '203.0.113.7', tenant: 'acme' });

  t.equal(metricValue(await nodeA.metrics(), 'pgporter_auth_bans_total{tenant="acme"}'), 1, 'node A made the ban');
  const mB = await nodeB.metrics();
  t.equal(metricValue(mB, 'pgporter_auth_bans_total{tenant="acme"}'), 0, 'node B did not');
  t.equal(metricValue(mB, 'pgporter_auth_bans_active{tenant="acme"}'), 1, 'node B enforces it');
  t.ok(metricValue(mB, 'pgporter_connections_refused_total{reason="auth_banned",tenant="acme"}') >= 1, 'refusals counted on node B');
  t.match(await bansOn(nodeB), [{ tenant: 'acme', address: '203.0.113.7', expiresAt: String }], 'listed by node B');

  // banTime is 2s: the ban ends on both nodes by itself.
  await sleep(2100);
  t.same(await login(viaB.port, user('acme'), good), { ok: true }, 'expired on node B');
  t.same(await login(viaA.port, user('acme'), good), { ok: true }, 'expired on node A');
  t.same(await bansOn(nodeA), []);
});

t.test('a ban lifted through node A is lifted on node B at once', async (t) => {
  await failTimes(viaB.port, 'steady', 10, t);
  await waitFor(async () => !(await login(viaA.port, user('steady'), good)).ok, 'node A to enforce the ban made on node B', 1000, 20);
  const res = await fetch(`http://127.0.0.1:${nodeA.adminPort}/v1/bans/steady/203.0.113.7`, { method: 'DELETE', headers: ADMIN });
  t.equal(res.status, 200);
  t.match(await nodeA.waitForLog({ event: 'admin_audit', action: 'ban.lift' }), { tokenName: 'test', tenant: 'steady' });
  await waitFor(async () => (await login(viaB.port, user('steady'), good)).ok, 'node B to admit the address again', 1000, 20);
  t.pass('lifted on node B within a second');
  t.same(await bansOn(nodeB), []);
});

t.test('Redis down: known bans stay enforced, failures are counted on the node, and its bans reach the fleet when Redis returns', async (t) => {
  await failTimes(viaA.port, 'steady', 10, t);
  await waitFor(async () => !(await login(viaB.port, user('steady'), good)).ok, 'node B to enforce the ban', 1000, 20);
  const okBefore = { a: nodeA.find({ event: 'bans_redis_ok' }).length, b: nodeB.find({ event: 'bans_redis_ok' }).length };
  await redis.stop();
  await nodeA.waitForLog({ event: 'bans_redis_down' }, 5000);
  await nodeB.waitForLog({ event: 'bans_redis_down' }, 5000);
  t.match(await login(viaB.port, user('steady'), good), { ok: false, code: '28000', message: banned('steady') }, 'node B keeps enforcing the ban it knows');
  const lift = await fetch(`http://127.0.0.1:${nodeB.adminPort}/v1/bans/steady/203.0.113.7`, { method: 'DELETE', headers: ADMIN });
  t.equal(lift.status, 503, 'a lift cannot reach every node: refused');

  // Node A counts by itself while Redis is away.
  await failTimes(viaA.port, 'acme', 10, t);
  t.match(await login(viaA.port, user('acme'), good), { ok: false, code: '28000', message: banned('acme') }, 'node A bans on its own count');
  t.same(await login(viaB.port, user('acme'), good), { ok: true }, 'node B cannot know yet');

  await redis.restart();
  // Redis came back empty: each node writes back the bans it knows, with the time they have left.
  await nodeA.waitForLog({ event: 'ban_written_back', tenant: 'acme' }, 10_000);
  // Both nodes knew the "steady" ban: whichever comes back first writes it, the other finds it there.
  await waitFor(() => [...nodeA.find({ event: 'ban_written_back', tenant: 'steady' }), ...nodeB.find({ event: 'ban_written_back', tenant: 'steady' })].length === 1, 'the steady ban written back once', 10_000);
  await waitFor(
    () => nodeA.find({ event: 'bans_redis_ok' }).length > okBefore.a && nodeB.find({ event: 'bans_redis_ok' }).length > okBefore.b,
    'both nodes to reach Redis again',
    10_000,
  );
  const refusedOnB = await waitFor(async () => {
    const x = await login(viaB.port, user('acme'), good);
    return x.ok ? undefined : x;
  }, 'node B to refuse the ban node A made during the outage', 2000, 20);
  t.match(refusedOnB, { ok: false, code: '28000', message: banned('acme') }, 'node B enforces the ban node A made during the outage');
  t.match(await login(viaA.port, user('steady'), good), { ok: false, code: '28000', message: banned('steady') }, 'the ban made before the outage survived the empty Redis');
  t.match(
    (await bansOn(nodeB)).map((b) => `${b.tenant}/${b.address}`).sort(),
    ['acme/203.0.113.7', 'steady/203.0.113.7'],
    'both listed',
  );
  const res = await fetch(`http://127.0.0.1:${nodeB.adminPort}/v1/bans/steady/203.0.113.7`, { method: 'DELETE', headers: ADMIN });
  t.equal(res.status, 200, 'lifts work again');
  await waitFor(async () => (await login(viaA.port, user('steady'), good)).ok, 'node A to admit the address again', 1000, 20);
  t.pass('lifted everywhere');
});
