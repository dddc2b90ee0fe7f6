// End to end: two pgporter processes on one Redis; an allowlist revocation through the admin API stays enforced for real clients across a Redis restart and a node restarting from its old config.
import t from 'tap';
import pg from 'pg';
import { createServer, connect, type Socket } from 'node:net';
import { PgporterProcess } from './fixtures/pgporter.js';
import { RedisFixture } from './fixtures/redis.js';
import { freePort, sleep, waitFor } from './fixtures/ports.js';

const ADMIN_TOKEN = 'test-token-0123456789'; // the pgporter fixture's admin token

const redis = await RedisFixture.start();
t.teardown(() => redis.destroy());
// Nothing listens there: an admitted client gets as far as the upstream connection (08006), which is all we need to know.
const deadUpstream = await freePort();

/**
 * Node A reaches Redis through this relay, so the test decides when A reconnects after the outage: only once node B
 * has met the empty Redis. Without it the order would depend on ioredis backoff timing.
 */
class Relay {
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((s) => {
    const u = connect({ host: '127.0.0.1', port: redis.port });
    this.sockets.add(s).add(u);
    s.pipe(u).pipe(s);
    const end = () => (s.destroy(), u.destroy(), this.sockets.delete(s), this.sockets.delete(u));
    s.on('error', end).on('close', end);
    u.on('error', end).on('close', end);
  });
  constructor(readonly port: number) {}
  up(): Promise<void> {
    return new Promise((r) => this.server.listen(this.port, '127.0.0.1', () => r()));
  }
  down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
const relay = new Relay(await freePort());
await relay.up();
t.teardown(() => relay.down().catch(() => undefined));

// proxyProtocol off: the client address pgporter checks is the socket's, 127.0.0.1. The config file keeps allowing it.
const configFor = (redisPort: number) => ({
  proxyProtocol: { mode: 'off' },
  store: {
    kind: 'redis',
    redis: { url: `redis://127.0.0.1:${redisPort}`, keyPrefix: 'e2e-rev:', resyncInterval: '300ms', connectTimeout: '500ms', restoreGrace: '12s' },
  },
  tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: deadUpstream }, auth: { method: 'trust' }, allowlist: ['127.0.0.0/8', '198.51.100.0/24'] }],
});
const configA = configFor(relay.port);
const config = configFor(redis.port);

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
  // The grace is long enough for both nodes to be listening inside it: a node forks its workers first, and starting
  // two nodes' processes at once on a busy machine takes seconds.
  [nodes.A, nodes.B] = await Promise.all([PgporterProcess.start({ config: configA }), PgporterProcess.start({ config })]);
  t.equal(await attempt(nodes.A), '08004', 'while waiting for peers on an empty Redis, A refuses with 08004');
  await waitFor(async () => (await attempt(nodes.A!)) === 'admitted' && (await attempt(nodes.B!)) === 'admitted', 'both nodes to seed and admit 127.0.0.1', 25_000, 200);
  t.pass('after the grace period both nodes admit 127.0.0.1 from the config');

  t.equal(await admin(nodes.A, 'PUT', '/v1/tenants/acme/allowlist', { entries: ['198.51.100.0/24'] }), 200, 'revoke 127.0.0.0/8 through A');
  await waitFor(async () => (await attempt(nodes.B!)) === '28000', 'B to refuse after the revocation', 3000, 100);

  // From here on, every attempt on every running node must be refused.
  const seen: string[] = [];
  const codes = new Set<string>();
  let probing = true;
  t.teardown(() => void (probing = false));
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

  // Redis loses everything while A is cut off from it. B restarts from its config and meets the empty Redis first;
  // only then does A get through again.
  await relay.down();
  await waitFor(async () => /pgporter_store_healthy 0/.test(await nodes.A!.metrics()), 'A to notice Redis is gone', 10_000);
  const b = nodes.B;
  nodes.B = undefined;
  await b.stop();
  await redis.restart();
  nodes.B = await PgporterProcess.start({ config });
  const met = (l: { msg?: string }) => typeof l.msg === 'string' && /^(Redis is empty|tenant store loaded from Redis)/.test(l.msg);
  await waitFor(() => nodes.B!.logs.find(met), 'B to meet the empty Redis', 10_000);
  await relay.up();
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
