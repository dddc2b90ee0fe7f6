// Tenant revisions on the Redis store: a revocation or a deletion survives Redis restarts, node restarts from an old config, in any order.
import t from 'tap';

type Test = Parameters<NonNullable<Parameters<typeof t.test>[0]>>[0];
import { createAccessControl, type AccessControl } from '../src/netrules/index.js';
import { createLogger, Metrics } from '../src/observability/index.js';
import { createStore, type Store, type TenantRecord } from '../src/store/index.js';
import { parseConfig } from '../src/config/index.js';
import { sleep, waitFor } from './fixtures/ports.js';
import { RedisFixture } from './fixtures/redis.js';

const logger = createLogger('silent');
const REVOKED = '203.0.113.7'; // inside 203.0.113.0/24, which the admin removes from acme's list
const KEPT = '198.51.100.9'; // inside 198.51.100.0/24, which stays
// The config file every node starts from: older than the fleet once the admin has revoked and deleted.
const CONFIG_TENANTS: TenantRecord[] = parseConfig({
  tenants: [
    { id: 'acme', upstream: { host: '127.0.0.1' }, allowlist: ['203.0.113.0/24', '198.51.100.0/24'] },
    { id: 'gone', upstream: { host: '127.0.0.1' }, allowlist: ['192.0.2.0/24'] },
  ],
}).tenants;
// Longer than a peer's reconnect backoff after a long outage (about 2 s), so a peer always gets to restore first.
const GRACE = '3s';
// Long enough for a node's ioredis backoff to grow past 1 s (its next try comes 1-1.5 s after Redis is back), so a node restarted right after Redis is back gets there first.
const OUTAGE_MS = 2000;

interface Node {
  name: string;
  store: Store;
  access: AccessControl;
}

/** One test's world: a Redis, the nodes on it, and checks that run all the time, not only at the end of each step. */
class Fleet {
  readonly nodes = new Map<string, Node>();
  private violations: string[] = [];
  private watching: NodeJS.Timeout | undefined;

  private constructor(readonly redis: RedisFixture) {}

  static async create(t: Test): Promise<Fleet> {
    const f = new Fleet(await RedisFixture.start());
    t.teardown(async () => {
      if (f.watching) clearInterval(f.watching);
      await Promise.all([...f.nodes.values()].map((n) => n.store.close()));
      await f.redis.destroy();
    });
    return f;
  }

  /** Starts (or restarts) a node from the config file's tenants. */
  async start(name: string, restoreGrace = GRACE): Promise<Node> {
    await this.nodes.get(name)?.store.close();
    this.nodes.delete(name);
    const cfg = parseConfig({
      store: { kind: 'redis', redis: { url: this.redis.url, keyPrefix: 'rev:', resyncInterval: '300ms', connectTimeout: '500ms', restoreGrace } },
    });
    const metrics = new Metrics({ defaultMetrics: false });
    const store = createStore({ store: cfg.store, tenants: CONFIG_TENANTS }, logger, metrics);
    const access = createAccessControl({ store, defaultPolicy: 'allow', metrics, logger, sessions: { sessionsOf: () => [] } });
    const node = { name, store, access };
    // Registered before start, so the watcher sees the node from its first moment of serving.
    this.nodes.set(name, node);
    await store.start();
    return node;
  }

  async stop(name: string): Promise<void> {
    await this.nodes.get(name)?.store.close();
    this.nodes.delete(name);
  }

  /** From now on, every 20 ms: no node admits the revoked range or knows the deleted tenant. */
  watch(): void {
    this.watching = setInterval(() => {
      for (const n of this.nodes.values()) {
        const acme = n.store.getTenant('acme');
        if (acme && !n.access.check(acme, REVOKED)) this.violations.push(`${n.name} admits ${REVOKED} (allowlist ${JSON.stringify(acme.allowlist)})`);
        if (n.store.status().loaded && n.store.getTenant('gone')) this.violations.push(`${n.name} has the deleted tenant "gone" back`);
      }
    }, 20);
  }

  /** Waits until every node is loaded, healthy and at one version, then keeps checking for `holdMs`. */
  async settle(t: Test, step: string, holdMs = 1200): Promise<void> {
    await waitFor(
      () => {
        const st = [...this.nodes.values()].map((n) => n.store.status());
        return st.every((s) => s.loaded && s.healthy && s.version === st[0]!.version);
      },
      `every node loaded and in sync after: ${step}`,
      15_000,
    );
    await sleep(holdMs);
    t.same([...new Set(this.violations)], [], `${step}: the revoked range stays refused and the deleted tenant stays deleted`);
    this.violations = [];
    for (const n of this.nodes.values()) {
      t.equal(n.access.check(n.store.getTenant('acme')!, REVOKED)?.code, 'ALLOWLIST_DENIED', `${step}: ${n.name} refuses ${REVOKED}`);
      t.equal(n.access.check(n.store.getTenant('acme')!, KEPT), undefined, `${step}: ${n.name} still admits ${KEPT}`);
    }
  }

  /** Redis dies and comes back empty (no persistence) after `OUTAGE_MS`; nodes that are up keep running. */
  async restartRedis(): Promise<void> {
    await this.redis.stop();
    await sleep(OUTAGE_MS);
    await this.redis.restart();
  }
}

/** A fresh fleet of two nodes; the admin then revokes 203.0.113.0/24 from acme and deletes "gone" through node A. */
async function revokedFleet(t: Test): Promise<Fleet> {
  const f = await Fleet.create(t);
  // The very first node of a fresh fleet: no peer can restore anything, so no grace to wait.
  const a = await f.start('A', '0s');
  await f.start('B');
  await a.store.putTenant({ ...a.store.getTenant('acme')!, allowlist: ['198.51.100.0/24'] });
  t.ok(await a.store.deleteTenant('gone'), 'tenant "gone" deleted');
  f.watch();
  await f.settle(t, 'revocation and deletion through A', 300);
  return f;
}

t.test('Redis restarts, then node B restarts from its config before A has reconnected', async (t) => {
  const f = await revokedFleet(t);
  await f.redis.stop();
  await sleep(OUTAGE_MS);
  await f.redis.restart();
  // B restarts at once: it finds Redis empty while A is still in its reconnect backoff.
  await f.start('B');
  t.equal(f.nodes.get('B')!.store.status().loaded, false, 'B waits for a peer instead of seeding an empty Redis');
  t.equal(f.nodes.get('B')!.access.check(f.nodes.get('B')!.store.getTenant('acme')!, KEPT)?.code, 'ALLOWLIST_UNAVAILABLE', 'B refuses acme with 08004 while it waits');
  await f.settle(t, 'Redis restart then B restart');
});

t.test('node B restarts, then Redis restarts', async (t) => {
  const f = await revokedFleet(t);
  await f.start('B');
  await f.settle(t, 'B restart');
  await f.restartRedis();
  await f.settle(t, 'B restart then Redis restart');
  await f.start('A');
  await f.settle(t, 'then A restart');
});

t.test('Redis restarts while both nodes are up, then both nodes restart', async (t) => {
  const f = await revokedFleet(t);
  await f.restartRedis();
  await f.settle(t, 'Redis restart with both nodes up');
  await Promise.all([f.start('A'), f.start('B')]);
  await f.settle(t, 'both nodes restart after the Redis restart');
});

t.test('Redis restarts while both nodes are up; a new node with the old config joins afterwards', async (t) => {
  const f = await revokedFleet(t);
  await f.restartRedis();
  await f.settle(t, 'Redis restart with both nodes up');
  // The tombstone must have been restored too, or this node's config brings "gone" back.
  await f.start('C');
  await f.settle(t, 'a newcomer seeds from the old config');
});

t.test('Redis restarts while node B is down; B comes back while Redis is empty and A has not reconnected', async (t) => {
  const f = await revokedFleet(t);
  await f.stop('B');
  await f.restartRedis();
  await f.start('B');
  await f.settle(t, 'B down across the Redis restart');
  await f.restartRedis();
  await f.settle(t, 'a second Redis restart');
});

t.test('a node started with an older config than the fleet does not roll the fleet back', async (t) => {
  const f = await revokedFleet(t);
  // Redis intact: the old config neither replaces the edited record nor brings the deleted tenant back.
  await f.start('C');
  await f.settle(t, 'old-config node C joins');
  await f.stop('C');
  // Redis empty and C first: C must wait for A and B rather than seed its old records.
  await f.redis.stop();
  await sleep(OUTAGE_MS);
  await f.redis.restart();
  await f.start('C');
  await f.settle(t, 'old-config node C starts first on an empty Redis');
  // And a write made after all this outranks every copy: revisions only grow.
  const c = f.nodes.get('C')!.store;
  await c.putTenant({ ...c.getTenant('acme')!, allowlist: ['198.51.100.0/24', '100.64.0.0/10'] });
  await waitFor(() => f.nodes.get('A')!.store.getTenant('acme')?.allowlist?.length === 2, 'A to see the new write', 3000);
  await f.restartRedis();
  await f.settle(t, 'Redis restart after a write through C');
  t.same(f.nodes.get('B')!.store.getTenant('acme')?.allowlist, ['198.51.100.0/24', '100.64.0.0/10'], 'the newest write is what every node restored');
});

t.test('a fresh fleet: the first node waits one grace period on an empty Redis, refusing restricted tenants, then seeds', async (t) => {
  const f = await Fleet.create(t);
  const started = Date.now();
  const a = await f.start('A', '1500ms');
  t.equal(a.store.status().loaded, false, 'not loaded while waiting for peers');
  t.equal(a.access.check(a.store.getTenant('acme')!, KEPT)?.code, 'ALLOWLIST_UNAVAILABLE', 'restricted tenant refused with 08004');
  await waitFor(() => a.store.status().loaded, 'A to seed after the grace period', 5000, 20);
  t.ok(Date.now() - started >= 1400, `seeded after the grace period (${Date.now() - started} ms)`);
  t.same(a.store.getTenant('acme')?.allowlist, ['203.0.113.0/24', '198.51.100.0/24'], 'seeded from config');
  // A second node on the now non-empty Redis does not wait.
  const b = await f.start('B');
  t.equal(b.store.status().loaded, true, 'B loads at once: Redis is not empty');
});
