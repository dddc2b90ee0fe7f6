// Fleet locks and liveness on a real Redis: one holder at a time, only the holder releases, and a holder that dies (never releases, stops heartbeating) frees its lock and its place in the fleet when their TTLs run out.
import t from 'tap';
import { RedisFleet } from '../src/fleet/index.js';
import { createLogger } from '../src/observability/index.js';
import { RedisFixture } from './fixtures/redis.js';
import { waitFor } from './fixtures/ports.js';

const redis = await RedisFixture.start();
t.teardown(() => redis.destroy());

const node = (id: string) =>
  new RedisFleet({
    redis: { url: `redis://127.0.0.1:${redis.port}`, connectTimeoutMs: 1000 },
    keyPrefix: 'fleet-locks:',
    nodeId: id,
    heartbeatIntervalMs: 100,
    nodeTtlMs: 500,
    logger: createLogger('silent'),
  });

t.test('one holder; a second taker loses; release frees it; a dead holder frees it at its TTL', async (t) => {
  const a = node('lock-a');
  const b = node('lock-b');
  await Promise.all([a.start(), b.start()]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  t.not(a.slot, b.slot, 'distinct cancel-key slots');

  const held = await a.lock('wake:lock:app/m1', 10_000);
  t.not(held, 'lost', 'A takes the lock');
  t.equal(await b.lock('wake:lock:app/m1', 10_000), 'lost', 'B loses while A holds it');
  if (held !== 'lost') await held.release();
  const bHeld = await b.lock('wake:lock:app/m1', 10_000);
  t.not(bHeld, 'lost', 'B takes it once A released it');
  // A's release of a lock it no longer holds must not free B's.
  if (held !== 'lost') await held.release();
  t.equal(await a.lock('wake:lock:app/m1', 10_000), 'lost', "a stale holder's release leaves the new holder's lock");

  // A holder that dies without releasing: the lock expires with its TTL.
  const dying = node('lock-dying');
  await dying.start();
  await waitFor(async () => (await a.nodes()).length === 3, 'A to see three live nodes', 5000);
  t.not(await dying.lock('suspend:lock:app/m2', 1500), 'lost');
  clearInterval((dying as unknown as { timer: NodeJS.Timeout }).timer); // stops heartbeating and never releases: as good as killed
  t.equal(await a.lock('suspend:lock:app/m2', 1500), 'lost', 'held by the dying node');
  await waitFor(async () => (await a.lock('suspend:lock:app/m2', 1500)) !== 'lost', 'the dead holder’s lock to expire', 5000);
  await waitFor(async () => (await a.nodes()).length === 2, 'the dead node to drop out of the fleet', 5000);
  t.pass('lock and liveness expired');
  (dying as unknown as { cmd?: { disconnect(): void }; sub?: { disconnect(): void } }).cmd?.disconnect();
  (dying as unknown as { sub?: { disconnect(): void } }).sub?.disconnect();
});

t.test('Redis unreachable: locks are granted locally (each node acts alone) and no node claims the fleet is idle', async (t) => {
  const a = node('alone-a');
  await a.start();
  t.teardown(() => a.close());
  await redis.stop();
  t.teardown(() => redis.restart());
  await waitFor(() => !a.healthy(), 'the node to notice', 5000);
  const got = await a.lock('wake:lock:app/m3', 1000);
  t.not(got, 'lost', 'granted: the wake goes ahead, single flight on this node');
  t.equal(await a.idleEverywhere('acme', 0), false, 'never idle on a partial view');
});
