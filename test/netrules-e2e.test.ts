// Allowlists end to end: real haproxy presenting client addresses, real psql/pg clients, two pgporter processes sharing one Redis.
import t from 'tap';
import pg from 'pg';
import { createServer, connect, type Server } from 'node:net';
import { PostgresFixture } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { HaproxyFixture } from './fixtures/haproxy.js';
import { RedisFixture } from './fixtures/redis.js';
import { psql } from './fixtures/clients.js';
import { waitFor } from './fixtures/ports.js';

const ADMIN_TOKEN = 'test-token-0123456789'; // the pgporter fixture's admin token

const redis = await RedisFixture.start();
t.teardown(() => redis.destroy());
const pgfx = await PostgresFixture.start();
t.teardown(() => pgfx.destroy());

// Every connection pgporter opens towards PostgreSQL goes through this counter, so "no upstream connection" is checkable.
let upstreamConnections = 0;
const counter: Server = createServer((s) => {
  upstreamConnections++;
  const u = connect({ host: '127.0.0.1', port: pgfx.port });
  s.pipe(u).pipe(s);
  s.on('error', () => u.destroy());
  u.on('error', () => s.destroy());
});
await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => counter.close(() => r())));
const counterPort = (counter.address() as { port: number }).port;

const nodeConfig = {
  proxyProtocol: { mode: 'required', trustedProxies: ['127.0.0.1/32'], headerTimeout: '3s' },
  store: { kind: 'redis', redis: { url: redis.url, keyPrefix: 'e2e:', resyncInterval: '500ms', connectTimeout: '2s' } },
  tenants: [
    {
      id: 'acme',
      upstream: { host: '127.0.0.1', port: counterPort },
      auth: { authQuery: { user: 'postgres' } },
      allowlist: ['203.0.113.7', '2001:db8::7'],
      dropDisallowedSessions: true,
    },
  ],
};
const nodeA = await PgporterProcess.start({ config: nodeConfig });
t.teardown(() => nodeA.stop());
const nodeB = await PgporterProcess.start({ config: nodeConfig });
t.teardown(() => nodeB.stop());
// A fresh fleet on an empty Redis waits one restore grace period (store.redis.restoreGrace) before seeding.
await Promise.all([nodeA, nodeB].map((n) => n.waitForLog({ msg: 'tenant store loaded from Redis' }, 20_000)));

const proxies = new Map<string, HaproxyFixture>();
async function via(node: PgporterProcess, proxy: 'v1' | 'v2', source: string): Promise<number> {
  const key = `${node.port}/${proxy}/${source}`;
  let ha = proxies.get(key);
  if (!ha) {
    ha = await HaproxyFixture.start({ targetPort: node.port, proxy, source });
    proxies.set(key, ha);
  }
  return ha.port;
}
t.teardown(() => Promise.all([...proxies.values()].map((h) => h.stop())));

const admin = (node: PgporterProcess, method: string, path: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${node.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, json: await r.json() }));

async function connectVia(port: number): Promise<{ client?: pg.Client; error?: { code?: string; severity?: string; message: string } }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'app', password: 'app-secret', database: 'postgres' });
  try {
    await client.connect();
    return { client };
  } catch (err) {
    return { error: err as { code?: string; severity?: string; message: string } };
  }
}

t.test('admitted or refused exactly as the rules say, PROXY v1 and v2, IPv4 and IPv6', async (t) => {
  const cases = [
    { proxy: 'v1', source: '203.0.113.7', ok: true },
    { proxy: 'v2', source: '203.0.113.7', ok: true },
    { proxy: 'v1', source: '198.51.100.9', ok: false },
    { proxy: 'v2', source: '198.51.100.9', ok: false },
    { proxy: 'v1', source: '2001:db8::7', ok: true },
    { proxy: 'v2', source: '2001:db8::7', ok: true },
    { proxy: 'v2', source: '2001:db8::8', ok: false },
  ] as const;
  for (const c of cases) {
    const port = await via(nodeA, c.proxy, c.source);
    const r = await psql(`postgres://app:app-secret@127.0.0.1:${port}/postgres`, 'SELECT 40 + 2');
    if (c.ok) {
      t.equal(r.code, 0, `${c.proxy} ${c.source}: psql admitted (${r.stderr})`);
      t.equal(r.stdout, '42');
    } else {
      t.not(r.code, 0, `${c.proxy} ${c.source}: psql refused`);
      t.match(r.stderr, `FATAL:  no allowlist entry for host "${c.source}", tenant "acme"`);
      const before = upstreamConnections;
      const { error } = await connectVia(port);
      t.equal(error?.code, '28000', 'SQLSTATE 28000');
      t.equal(error?.severity, 'FATAL');
      t.equal(error?.message, `no allowlist entry for host "${c.source}", tenant "acme"`);
      t.equal(upstreamConnections, before, 'a refused client caused no upstream connection');
    }
  }
  t.match(await nodeA.metrics(), /pgporter_connections_refused_total\{reason="allowlist",tenant="acme"\} [1-9]/);
  t.match(await nodeA.metrics(), /pgporter_allowlist_entries\{tenant="acme"\} 2/);
});

t.test('an edit through node A is enforced by node B within 1 s; Redis outage keeps the rules; recovery resumes edits', async (t) => {
  const newcomer = await via(nodeB, 'v2', '198.51.100.9');
  t.equal((await connectVia(newcomer)).error?.code, '28000', 'B refuses 198.51.100.9 before the edit');
  const add = await admin(nodeA, 'POST', '/v1/tenants/acme/allowlist/entries', { entries: ['198.51.100.0/24'] });
  t.equal(add.status, 200);
  await waitFor(
    async () => (await admin(nodeB, 'GET', '/v1/tenants/acme/allowlist')).json.entries.includes('198.51.100.0/24'),
    'node B to hold the edit',
    1000,
    20,
  );
  const admitted = await connectVia(newcomer);
  t.notOk(admitted.error, 'B admits 198.51.100.9 after the edit on A');
  await admitted.client?.end();

  await redis.stop();
  await waitFor(async () => /pgporter_store_healthy 0/.test(await nodeB.metrics()), 'B to report Redis down', 10_000);
  const during = await connectVia(newcomer);
  t.notOk(during.error, 'last rules still enforced (admitted) with Redis down');
  await during.client?.end();
  t.equal((await connectVia(await via(nodeB, 'v1', '192.0.2.99'))).error?.code, '28000', 'and still refused outside them: never allow-all');
  t.equal((await admin(nodeA, 'PUT', '/v1/tenants/acme/allowlist', { entries: ['203.0.113.7'] })).status, 503, 'edits refused while Redis is down');

  await redis.restart();
  await waitFor(async () => /pgporter_store_healthy 1/.test(await nodeA.metrics()), 'A to reconnect', 10_000);
  await waitFor(async () => (await admin(nodeA, 'DELETE', `/v1/tenants/acme/allowlist/entries/${encodeURIComponent('198.51.100.0/24')}`)).status === 200, 'an edit after the restart', 10_000);
  await waitFor(
    async () => !(await admin(nodeB, 'GET', '/v1/tenants/acme/allowlist')).json.entries.includes('198.51.100.0/24'),
    'node B to see the post-restart edit',
    1000,
    20,
  );
  t.equal((await connectVia(newcomer)).error?.code, '28000', 'B refuses again after the post-restart edit');
});

t.test('dropDisallowedSessions ends an open session on the other node after the edit', async (t) => {
  const port = await via(nodeB, 'v2', '2001:db8::7');
  const { client, error } = await connectVia(port);
  t.notOk(error);
  const ended = new Promise<{ code?: string; message: string }>((r) => client!.on('error', (e) => r(e as { code?: string; message: string })));
  t.equal((await client!.query('SELECT 1 AS one')).rows[0].one, 1);
  const r = await admin(nodeA, 'PUT', '/v1/tenants/acme/allowlist', { entries: ['203.0.113.7'] });
  t.equal(r.status, 200);
  const err = await ended;
  t.equal(err.code, '28000');
  t.equal(err.message, 'no allowlist entry for host "2001:db8::7", tenant "acme"');
  await client!.end().catch(() => undefined);
});

t.test('a cancel from a disallowed address is ignored; from an allowed one it cancels', async (t) => {
  const port = await via(nodeA, 'v2', '203.0.113.7');
  const { client, error } = await connectVia(port);
  t.notOk(error);
  t.teardown(() => client!.end().catch(() => undefined));
  const key = client as unknown as { processID: number; secretKey: number };
  const sendCancel = async (source: string) => {
    const p = await via(nodeA, 'v1', source);
    const pkt = Buffer.alloc(16);
    pkt.writeInt32BE(16, 0);
    pkt.writeInt32BE(80877102, 4);
    pkt.writeInt32BE(key.processID, 8);
    pkt.writeInt32BE(key.secretKey, 12);
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: p }, () => s.end(pkt));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  };
  const slow = client!.query('SELECT pg_sleep(1.5) AS slept');
  await new Promise((r) => setTimeout(r, 200));
  await sendCancel('198.51.100.77');
  await nodeA.waitForLog({ event: 'cancel_ignored', reason: 'allowlist' });
  const res = await slow;
  t.ok(res.rows.length === 1, 'query ran to completion: the disallowed cancel was ignored');

  const slow2 = client!.query('SELECT pg_sleep(30)');
  await new Promise((r) => setTimeout(r, 200));
  await sendCancel('203.0.113.7');
  await t.rejects(slow2, { code: '57014' }, 'an allowed cancel cancels');
});
