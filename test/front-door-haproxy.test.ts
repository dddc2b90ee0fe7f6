// psql and node-postgres reach PostgreSQL through a real haproxy sending PROXY v1 and v2, and pgporter sees the presented address.
import t from 'tap';
import pg from 'pg';
import { PostgresFixture } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { HaproxyFixture } from './fixtures/haproxy.js';
import { psql } from './fixtures/clients.js';

const pgfx = await PostgresFixture.start();
t.teardown(() => pgfx.destroy());
const porter = await PgporterProcess.start({
  config: {
    proxyProtocol: { mode: 'required', trustedProxies: ['127.0.0.1/32'], headerTimeout: '3s' },
    tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: pgfx.port }, auth: { authQuery: { user: 'postgres' } } }],
  },
});
t.teardown(() => porter.stop());

const cases = [
  { proxy: 'v1', source: '203.0.113.7', family: 'inet' },
  { proxy: 'v2', source: '203.0.113.7', family: 'inet' },
  { proxy: 'v1', source: '2001:db8::7', family: 'inet6' },
  { proxy: 'v2', source: '2001:db8::7', family: 'inet6' },
] as const;

for (const c of cases) {
  t.test(`${c.proxy} header presenting ${c.source}`, async (t) => {
    const ha = await HaproxyFixture.start({ targetPort: porter.port, proxy: c.proxy, source: c.source });
    t.teardown(() => ha.stop());
    const app = `pp-${c.proxy}-${c.family}`;
    const r = await psql(`postgres://app:app-secret@127.0.0.1:${ha.port}/postgres?application_name=${app}-psql`, 'SELECT current_user, 40 + 2');
    t.equal(r.code, 0, `psql succeeded (stderr: ${r.stderr})`);
    t.equal(r.stdout, 'app|42');

    const client = new pg.Client({ host: '127.0.0.1', port: ha.port, user: 'app', password: 'app-secret', database: 'postgres', application_name: `${app}-pg` });
    await client.connect();
    const res = await client.query('SELECT $1::int * 2 AS doubled', [21]);
    t.equal(res.rows[0].doubled, 42, 'pg client query answered');
    await client.end();

    const accepted = await porter.waitForLog({ event: 'accepted', client: c.source });
    t.equal(accepted.tenant, 'acme', 'log names the tenant');
    t.equal(accepted.peer, '127.0.0.1', 'the TCP peer is haproxy on loopback');
    // Match the session's own closing line: haproxy's readiness probe also appears, as a client that left during startup.
    const closed = await porter.waitForLog({ event: 'closed', client: c.source, clientPort: accepted.clientPort });
    t.ok((closed.bytesFromClient as number) > 0 && (closed.bytesToClient as number) > 0, `closed line counts bytes both ways: ${JSON.stringify(closed)}`);
    t.equal(porter.find({ event: 'accepted', client: '127.0.0.1' }).length, 0, 'no connection was attributed to the proxy address');

    const metrics = await porter.metrics();
    const version = c.proxy === 'v1' ? '1' : '2';
    t.match(metrics, new RegExp(`pgporter_proxy_headers_total\\{version="${version}",family="${c.family}"\\} [1-9]`), 'metric counts the presented address family');
    t.notMatch(metrics, /203\.0\.113\.7|2001:db8/, 'client addresses never become metric labels');
  });
}

t.test('metrics count accepted connections by tenant and healthz answers', async (t) => {
  const metrics = await porter.metrics();
  t.match(metrics, /pgporter_connections_accepted_total\{tenant="acme"\} ([89]|\d\d)/, 'eight or more connections accepted for acme');
  t.match(metrics, /pgporter_connections_active\{tenant="acme"\} 0/, 'none active afterwards');
  t.match(metrics, /pgporter_process_cpu_seconds_total/, 'default process metrics');
  const health = await fetch(`http://127.0.0.1:${porter.metricsPort}/healthz`);
  t.equal(health.status, 200);
});

t.test('a session with the PROXY v2 header from 203.0.113.7 is logged as coming from 203.0.113.7', async (t) => {
  const ha = await HaproxyFixture.start({ targetPort: porter.port, proxy: 'v2', source: '203.0.113.7' });
  t.teardown(() => ha.stop());
  const r = await psql(`postgres://app:app-secret@127.0.0.1:${ha.port}/postgres?application_name=done-when`, "SELECT inet_client_addr() IS NOT NULL");
  t.equal(r.code, 0, r.stderr);
  const accepted = await porter.waitForLog({ event: 'accepted', client: '203.0.113.7', application: 'done-when' });
  const line = await porter.waitForLog({ event: 'closed', client: '203.0.113.7', clientPort: accepted.clientPort });
  t.equal(line.user, 'app');
});
