// With two workers, a CancelRequest works whichever worker it lands on: a key of the other worker reaches it through the supervisor.
import { connect } from 'node:net';
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { sleep } from './fixtures/ports.js';
import { workerOf } from './fixtures/workers.js';

/** A raw CancelRequest on a connection of its own (as libpq sends it). */
function sendCancel(port: number, pid: number, secret: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      const b = Buffer.alloc(16);
      b.writeInt32BE(16, 0);
      b.writeInt32BE(80877102, 4);
      b.writeInt32BE(pid, 8);
      b.writeInt32BE(secret, 12);
      s.end(b);
    });
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

t.test('four cancels in a row, spread by round-robin over both workers, each end pg_sleep with 57014', async (t) => {
  // Round-robin: the four CancelRequests alternate between the workers, so some are the client's worker's and some
  // are forwarded (the kernel's spread could put all four on one worker).
  const env = await startPoolEnv({ mode: 'transaction', size: 2 }, { config: { workers: 2, workerScheduling: 'round-robin' } });
  t.teardown(() => env.stop());
  const client = new pg.Client(env.conn);
  client.on('error', () => {});
  await client.connect();
  t.teardown(() => client.end());
  const key = client as unknown as { processID: number; secretKey: number };
  t.comment(`client on worker ${workerOf(client)}`);
  for (let round = 1; round <= 4; round++) {
    const q = client.query('SELECT pg_sleep(10)').then(
      () => 'finished',
      (e: Error & { code?: string }) => e.code,
    );
    for (let i = 0; i < 100 && env.pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'`) !== '1'; i++) await sleep(30);
    await sendCancel(env.porter.port, key.processID, key.secretKey);
    const guard = sleep(8000).then(() => 'guard');
    t.equal(await Promise.race([q, guard]), '57014', `round ${round}: query_canceled`);
  }
  const m = await env.porter.metrics();
  const routed = (route: string) => Number(m.match(new RegExp(`pgporter_cancels_total\\{route="${route}"\\} (\\d+)`))?.[1] ?? 0);
  t.ok(routed('local') >= 1, `some cancels landed on the client's worker (${routed('local')})`);
  t.ok(routed('forwarded') >= 1, `some landed on the other worker and were forwarded (${routed('forwarded')})`);
  t.equal(routed('received'), routed('forwarded'), 'every forwarded cancel was received by the owner');
});
