// End to end: two pgporter processes on one Redis; an allowlist revocation through the admin API stays enforced for real clients across a Redis restart and a node restarting from its old config.
import t from 'tap';
import pg from 'pg';
import { PgporterProcess } from './fixtures/pgporter.js';
import { RedisFixture } from './fixtures/redis.js';
import { freePort, sleep, waitFor } from './fixtures/ports.js';

const ADMIN_TOKEN = 'test-token-0123456789'; // the pgporter fixture's admin token

const redis = await RedisFixture.start();
t.teardown(() => redis.destroy());
// Nothing listens there: an admitted client gets as far as the upstream connection (08006), which is all we need to know.
const deadUpstream = await freePort();

// proxyProtocol off: the client address pgporter checks is the socket's, 127.0.0.1. The config file keeps allowing it.
const config = {
  proxyProtocol: { mode: 'off' },
  store: { kind: 'redis', redis: { url: redis.url, keyPrefix: 'e2e-rev:', resyncInterval: '300ms', connectTimeout: '500ms', restoreGrace: '3s' } },
  tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: deadUpstream }, auth: { method: 'trust' }, allowlist: ['127.0.0.0/8', '198.51.100.0/24'] }],
};

const nodes: Record<'A' | 'B', PgporterProcess | undefined> = { A: undefined, B: undefined };
t.teardown(() => Promise.all(Object.values(nodes).map((n) => n?.stop())));

/**
 * What a client from 127.0.0.1 gets from `node`: 'admitted' when it got past the allowlist (it connected, or pgporter
 * failed to reach the dead upstream: 08006), else the SQLSTATE or socket error (a node shutting down is not an admission).
 */
async function attempt(node: PgporterProcess): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: node.port, user: 'app', database: 'postgres', connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end().catch(() => undefined);
    return 'admitted';
  } catch (err) {
    const code = (err as { code?: string }).code ?? String(err);
    return code === '08006' ? 'admitted' : code;
  }
}

const admin = (node: PgporterProcess, method: string, path: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${node.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  }).then((r) => r.status);

t.test('a revocation survives Redis restarting empty and a node restarting from its old config first', async (t) => {
  // A fresh fleet: both nodes find Redis empty and wait one grace period, refusing the restricted tenant meanwhile.
  [nodes.A, nodes.B] = await Promise.all([PgporterProcess.start({ config }), PgporterProcess.start({ config })]);
  t.equal(await attempt(nodes.A), '08004', 'while waiting for peers on an empty Redis, A refuses with 08004');
  await waitFor(async () => (await attempt(nodes.A!)) === 'admitted' && (await attempt(nodes.B!)) === 'admitted', 'both nodes to seed and admit 127.0.0.1', 15_000, 200);
  t.pass('after the grace period both nodes admit 127.0.0.1 from the config');

  t.equal(await admin(nodes.A, 'PUT', '/v1/tenants/acme/allowlist', { entries: ['198.51.100.0/24'] }), 200, 'revoke 127.0.0.0/8 through A');
  await waitFor(async () => (await attempt(nodes.B!)) === '28000', 'B to refuse after the revocation', 3000, 100);

  // From here on, every attempt on every running node must be refused.
  const seen: string[] = [];
  const codes = new Set<string>();
  let probing = true;
  const probe = (async () => {
    while (probing) {
      for (const [name, n] of Object.entries(nodes)) {
        if (!n || n.proc.exitCode !== null) continue;
        const r = await attempt(n);
        if (r === 'admitted') seen.push(`${name} admitted 127.0.0.1`);
        else codes.add(r);
      }
      await sleep(50);
    }
  })();

  // Redis loses everything; B restarts from its config the moment Redis is back, while A is still in its reconnect backoff.
  const b = nodes.B;
  nodes.B = undefined;
  await b.stop();
  await redis.stop();
  await sleep(2000);
  await redis.restart();
  nodes.B = await PgporterProcess.start({ config });
  await nodes.B.waitForLog({ msg: 'tenant store loaded from Redis' }, 15_000);
  await waitFor(async () => (await attempt(nodes.B!)) === '28000', 'B to refuse with 28000 once loaded', 5000, 100);
  await sleep(1500);
  probing = false;
  await probe;
  t.same([...new Set(seen)], [], `no node admitted the revoked address at any moment (refusals seen: ${[...codes].join(', ')})`);
  t.equal(await attempt(nodes.A), '28000', 'A refuses 127.0.0.1');
  t.equal(await attempt(nodes.B), '28000', 'B refuses 127.0.0.1');
  t.ok(
    nodes.A.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis came back empty or older than this node')),
    'A restored its newer record into Redis',
  );
});
