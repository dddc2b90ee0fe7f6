// Fleet-wide limits on two nodes: maxClientConnectionsFleet counts clients on every node, dead nodes' clients stop counting, and CancelRequests are rate-limited per source address.
import t from 'tap';
import pg from 'pg';
import { connect } from 'node:net';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { RedisFixture } from './fixtures/redis.js';
import { waitFor } from './fixtures/ports.js';

const db = await PostgresFixture.start();
t.teardown(() => db.destroy());
const redis = await RedisFixture.start();
t.teardown(() => redis.destroy());

const config = (name: string) => ({
  log: { level: 'info' },
  store: { kind: 'redis', redis: { url: `redis://127.0.0.1:${redis.port}`, keyPrefix: 'fleet-limits:', connectTimeout: '1s' } },
  fleet: { nodeId: name, heartbeatInterval: '200ms', nodeTtl: '1s', cancelRatePerAddress: 5 },
  tenants: [{ id: 'acme', upstream: { host: db.host, port: db.port }, auth: { method: 'trust' }, pool: { maxClientConnectionsFleet: 3 } }],
});
const A = await PgporterProcess.start({ config: config('limits-a') });
t.teardown(() => A.stop());
const B = await PgporterProcess.start({ config: config('limits-b') });
t.teardown(() => B.stop());
// A fresh fleet on an empty Redis waits store.redis.restoreGrace for peers before seeding from the config.
await Promise.all([A, B].map((n) => n.waitForLog({ msg: 'tenant store loaded from Redis' }, 20_000)));

const open = async (n: PgporterProcess) => {
  const c = new pg.Client({ host: '127.0.0.1', port: n.port, user: USERS.trust.user, database: 'postgres' });
  c.on('error', () => {});
  await c.connect();
  return c;
};
const refusal = async (n: PgporterProcess) => {
  try {
    const c = await open(n);
    await c.end();
    return undefined;
  } catch (err) {
    return err as { code?: string; message: string };
  }
};

t.test('maxClientConnectionsFleet counts the clients of every node', async (t) => {
  const a1 = await open(A);
  const a2 = await open(A);
  t.teardown(() => Promise.all([a1.end(), a2.end()]));
  // Node B learns node A's count with the next heartbeat.
  await waitFor(async () => (await refusal(B)) === undefined, 'a third client on B', 5000);
  const b1 = await open(B);
  t.teardown(() => b1.end());
  await waitFor(async () => (await refusal(A))?.code === '53300', 'A to see B’s client', 5000);
  // Counts travel with heartbeats: the limit holds once both nodes have heard from each other.
  await waitFor(async () => (await refusal(B))?.code === '53300', 'B to see A’s clients', 5000);
  const refused = await refusal(B);
  t.equal(refused?.code, '53300', 'a fourth client is refused on either node');
  t.match(refused?.message, /too many clients already for tenant "acme" across all nodes/);
});

t.test('CancelRequests over the per-address rate are dropped and counted', async (t) => {
  const cancel = () =>
    new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: A.port }, () => {
        const msg = Buffer.alloc(16);
        msg.writeInt32BE(16, 0);
        msg.writeInt32BE(80877102, 4);
        msg.writeInt32BE(12345, 8);
        msg.writeInt32BE(678, 12);
        s.end(msg);
      });
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  for (let i = 0; i < 30; i++) await cancel();
  const m = await A.metrics();
  const dropped = Number(/pgporter_cancels_total\{route="dropped"\} (\d+)/.exec(m)?.[1] ?? 0);
  t.ok(dropped >= 15, `most of 30 cancels in a burst were dropped (${dropped}; burst allowance 10)`);
});

t.test("a node that dies: its clients stop counting against the fleet's limit", async (t) => {
  // The fleet's three, all on B (they die with it), once B has heard that the first test's clients are gone.
  await waitFor(
    async () => {
      const held: pg.Client[] = [];
      try {
        for (let i = 0; i < 3; i++) held.push(await open(B));
        return held;
      } catch {
        await Promise.all(held.map((c) => c.end()));
        return undefined;
      }
    },
    'three clients on B',
    5000,
  );
  await waitFor(async () => (await refusal(A))?.code === '53300', 'A to count B’s clients', 5000);
  B.proc.kill('SIGKILL');
  await waitFor(async () => (await refusal(A)) === undefined, "A to forget dead B's clients", 5000);
  t.pass('A admits clients again once B has expired');
});
