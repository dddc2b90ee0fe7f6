// Three pgporter nodes on one Redis act as one service: cancels reach the owning node, one start per machine, suspend only when every node is idle, dead nodes expire, and Redis down degrades to per-node.
import t from 'tap';
import pg from 'pg';
import { connect } from 'node:net';
import { FakeFly } from './fixtures/fake-fly.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { RedisFixture } from './fixtures/redis.js';
import { sleep, waitFor } from './fixtures/ports.js';
import { firstError } from './fixtures/clients.js';

const APP = 'acme-db';
const ID = '5683d920b1e287';
const db = await PostgresFixture.start();
t.teardown(() => db.destroy());
const redis = await RedisFixture.start();
t.teardown(() => redis.destroy());
const fake = await FakeFly.start({ transitionMs: 100 });
t.teardown(() => fake.close());
await fake.addMachine({ app: APP, id: ID, state: 'suspended', pg: db });

function nodeConfig(name: string): Record<string, unknown> {
  return {
    log: { level: 'info' },
    proxyProtocol: { mode: 'optional' },
    store: { kind: 'redis', redis: { url: `redis://127.0.0.1:${redis.port}`, keyPrefix: 'fleet-e2e:', resyncInterval: '500ms', connectTimeout: '1s' } },
    fleet: { nodeId: name, heartbeatInterval: '200ms', nodeTtl: '1s' },
    fly: { apiBaseUrl: fake.url, token: fake.token, retry: { maxAttempts: 3, baseDelay: '20ms', maxDelay: '200ms' } },
    tenants: [
      {
        id: 'acme',
        upstream: { host: db.host, port: db.port },
        auth: { method: 'trust' },
        allowlist: ['127.0.0.1/32', '203.0.113.0/24'],
        fly: { app: APP, machineId: ID, suspendAfterIdle: '1500ms' },
        pool: { size: 10, queryWaitTimeout: '20s' },
      },
    ],
  };
}

const nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map((n) => PgporterProcess.start({ config: nodeConfig(n) })));
t.teardown(() => Promise.all(nodes.map((n) => n.stop())));
const [A, B, C] = nodes as [PgporterProcess, PgporterProcess, PgporterProcess];
// A fresh fleet on an empty Redis waits store.redis.restoreGrace for peers before seeding from the config.
await Promise.all(nodes.map((n) => n.waitForLog({ msg: 'tenant store loaded from Redis' }, 20_000)));

const client = (n: PgporterProcess) => new pg.Client({ host: '127.0.0.1', port: n.port, user: USERS.trust.user, database: 'postgres' });
const admin = async (n: PgporterProcess, path: string) => {
  const res = await fetch(`http://127.0.0.1:${n.adminPort}${path}`, { headers: { authorization: 'Bearer test-token-0123456789' } });
  return (await res.json()) as Record<string, unknown>;
};

/** Sends a CancelRequest to `n`, behind a PROXY v1 header naming `from` when given. */
function sendCancel(n: PgporterProcess, pid: number, secret: number, from?: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: n.port }, () => {
      const msg = Buffer.alloc(16);
      msg.writeInt32BE(16, 0);
      msg.writeInt32BE(80877102, 4);
      msg.writeInt32BE(pid, 8);
      msg.writeInt32BE(secret, 12);
      const header = from ? Buffer.from(`PROXY TCP4 ${from} 127.0.0.1 40000 ${n.port}\r\n`) : Buffer.alloc(0);
      s.end(Buffer.concat([header, msg]));
    });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

async function machineWaitsForSuspend(count: number): Promise<void> {
  await waitFor(() => fake.count('suspend') >= count && fake.state(ID) === 'suspended', `suspend number ${count}`, 15_000);
}

t.test('every node lists the three nodes, each with its own cancel-key slot', async (t) => {
  await waitFor(async () => ((await admin(A, '/v1/nodes')).nodes as unknown[]).length === 3, 'three nodes', 5000);
  const listed = (await admin(B, '/v1/nodes')).nodes as Array<{ id: string; slot: number; self: boolean }>;
  t.same(
    listed.map((n) => n.id),
    ['node-a', 'node-b', 'node-c'],
  );
  t.equal(new Set(listed.map((n) => n.slot)).size, 3, 'distinct slots');
  t.same(
    listed.filter((n) => n.self).map((n) => n.id),
    ['node-b'],
  );
  t.match(await B.metrics(), /pgporter_fleet_nodes 3/);
});

t.test('60 first connections over three nodes to a suspended machine: one start call, all served', async (t) => {
  t.equal(fake.state(ID), 'suspended');
  const starts = fake.count('start');
  const results = await Promise.all(
    Array.from({ length: 60 }, async (_, i) => {
      const c = client(nodes[i % 3]!);
      c.on('notice', () => {});
      await c.connect();
      try {
        return (await c.query('SELECT $1::int AS i', [i])).rows[0].i as number;
      } finally {
        await c.end();
      }
    }),
  );
  t.same(results, Array.from({ length: 60 }, (_, i) => i), 'all 60 served');
  t.equal(fake.count('start') - starts, 1, 'exactly one start call');
  const locks = (await Promise.all(nodes.map((n) => n.metrics()))).join('\n');
  t.match(locks, /pgporter_wake_locks_total\{tenant="acme",op="wake",result="won"\} 1/, 'one node won the wake lock');
});

t.test('a cancel sent to node C cancels a query on node A; a wrong secret or a disallowed address cancels nothing', async (t) => {
  const c = client(A);
  c.on('notice', () => {});
  await c.connect();
  t.teardown(() => c.end());
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  let settled = false;
  const running = c.query('SELECT pg_sleep(30)').then(
    () => ({ code: 'none' }),
    (err: { code?: string }) => ({ code: err.code }),
  );
  void running.then(() => (settled = true));
  await sleep(300);
  await sendCancel(C, processID, secretKey ^ 1);
  await sendCancel(C, processID, secretKey, '198.51.100.9');
  await sleep(1500);
  t.notOk(settled, 'still running after a wrong secret and a disallowed address');
  await sendCancel(C, processID, secretKey, '203.0.113.7');
  t.same(await running, { code: '57014' }, 'canceled through another node');
  t.match(await C.metrics(), /pgporter_cancels_total\{route="forwarded"\} 3/);
  t.match(await A.metrics(), /pgporter_cancels_total\{route="received"\} 3/);
  t.same((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the session goes on');
});

t.test('a client on node B keeps the machine awake however idle A and C are; once it leaves, one suspend', async (t) => {
  const b = client(B);
  b.on('notice', () => {});
  await b.connect();
  t.teardown(() => b.end().catch(() => undefined));
  await b.query('SELECT 1');
  const before = fake.count('suspend');
  await sleep(4000); // more than twice suspendAfterIdle with A and C idle
  t.equal(fake.count('suspend'), before, 'no suspend while node B has a client');
  t.equal(fake.state(ID), 'started');
  await b.end();
  await machineWaitsForSuspend(before + 1);
  await sleep(3000);
  t.equal(fake.count('suspend'), before + 1, 'suspended exactly once');
});

t.test('a node killed with SIGKILL: its entries expire and the others go on without it', async (t) => {
  const c = client(C);
  c.on('notice', () => {});
  c.on('error', () => {});
  await c.connect();
  await c.query('SELECT 1'); // wakes the machine; node C now reports a client
  const before = fake.count('suspend');
  C.proc.kill('SIGKILL');
  await waitFor(async () => ((await admin(A, '/v1/nodes')).nodes as unknown[]).length === 2, 'node C to drop out of the fleet', 5000);
  // C's last word was "one client"; once it is gone, A and B suspend the idle machine.
  await machineWaitsForSuspend(before + 1);
  t.pass('the machine was suspended once node C had expired');
});

t.test('Redis down: cancels on the owning node, wakes and allowlists still work; nothing is suspended', async (t) => {
  await redis.stop();
  await waitFor(async () => /pgporter_fleet_healthy 0/.test(await A.metrics()), 'node A to notice', 5000);
  const starts = fake.count('start');
  const c = client(A);
  c.on('notice', () => {});
  await c.connect();
  t.same((await c.query('SELECT 2 AS two')).rows, [{ two: 2 }], 'the suspended machine was woken');
  t.equal(fake.count('start') - starts, 1);
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  const running = c.query('SELECT pg_sleep(30)').catch((err: { code?: string }) => err.code);
  await sleep(300);
  await sendCancel(A, processID, secretKey);
  t.equal(await running, '57014', 'cancel on the owning node');
  await c.end();
  const suspends = fake.count('suspend');
  await sleep(4000);
  t.equal(fake.count('suspend'), suspends, 'no suspend on a partial view');
  const refused = await new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port: B.port }, () => {
      const startup = Buffer.from(`\0\0\0\0\0\x03\0\0user\0${USERS.trust.user}\0database\0postgres\0\0`, 'latin1');
      startup.writeInt32BE(startup.length, 0);
      s.write(Buffer.concat([Buffer.from(`PROXY TCP4 198.51.100.9 127.0.0.1 40000 ${B.port}\r\n`), startup]));
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', () => undefined);
  });
  t.equal(firstError(refused)?.C, '28000', 'the allowlist is still enforced');
});
