// With two workers, per-tenant and global client limits count the clients of both: the supervisor sums each worker's counts and tells the others.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { sleep } from './fixtures/ports.js';
import { workerOf } from './fixtures/workers.js';

type PgError = Error & { code?: string };

/** Connects; the client, or the error it was refused with. Waits a little after, for the counts to reach every worker. */
async function attempt(conn: pg.ClientConfig): Promise<pg.Client | PgError> {
  const c = new pg.Client(conn);
  c.on('error', () => {});
  const out = await c.connect().then(
    () => c,
    (e: PgError) => e,
  );
  await sleep(150);
  return out;
}

// Round-robin: the four admitted clients and the four refused attempts alternate between the workers, so each worker
// is shown to count the other's clients (the kernel's spread could put every attempt on one worker).
for (const [name, pool, config] of [
  ['tenant maxClientConnections', { mode: 'transaction', size: 1, maxClientConnections: 4 }, { workers: 2, workerScheduling: 'round-robin' }],
  ['global pool.maxClientConnections', { mode: 'transaction', size: 1 }, { workers: 2, workerScheduling: 'round-robin', pool: { maxClientConnections: 4 } }],
] as const) {
  t.test(`${name} 4 over two workers: the fifth client is refused on either worker`, async (t) => {
    const env = await startPoolEnv(pool, { config });
    t.teardown(() => env.stop());
    const admitted: pg.Client[] = [];
    t.teardown(() => Promise.all(admitted.map((c) => c.end().catch(() => {}))));
    for (let i = 0; i < 4; i++) {
      const c = await attempt(env.conn);
      if (!(c instanceof pg.Client)) throw c;
      admitted.push(c);
    }
    const workers = new Set(admitted.map(workerOf));
    t.same([...workers].sort(), [0, 1], 'the four clients are spread over both workers');
    // Round-robin: four more attempts reach both workers; each sees the other's clients.
    for (let i = 0; i < 4; i++) {
      const r = await attempt(env.conn);
      if (r instanceof pg.Client) {
        admitted.push(r);
        t.fail(`attempt ${i + 1} was admitted on worker ${workerOf(r)}`);
      } else t.equal(r.code, '53300', `attempt ${i + 1} refused with too_many_connections`);
    }
    await admitted.shift()!.end();
    await sleep(300);
    const again = await attempt(env.conn);
    t.ok(again instanceof pg.Client, 'a slot frees when a client leaves, whichever worker it was on');
    if (again instanceof pg.Client) admitted.push(again);
  });
}
