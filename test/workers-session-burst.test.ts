// With two workers in session mode, a burst of short sessions leaves no stale permit ask behind: two clients that then need both servers at once are both served (a stale ask once kept an idle server from being handed over, and one of them waited out query_wait_timeout).
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';

t.test('session mode, size 2, two workers: after bursts, two sessions at once are served every time', async (t) => {
  const env = await startPoolEnv({ mode: 'session', size: 2, queryWaitTimeout: '4s' }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  const failures: string[] = [];
  for (let round = 0; round < 8; round++) {
    // A burst of short sessions (they spread over both workers and leave servers idle here and there).
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = new pg.Client(env.conn);
        await c.connect();
        for (let q = 0; q < 5; q++) await c.query('SELECT 1');
        await c.end();
      }),
    );
    const a = new pg.Client(env.conn);
    const b = new pg.Client(env.conn);
    a.on('error', () => {});
    b.on('error', () => {});
    await a.connect();
    await b.connect();
    // Session mode: each holds a server for as long as it is connected, so the two need both servers at once.
    const r = await Promise.allSettled([a.query('LISTEN x'), b.query('SELECT 1')]);
    for (const x of r) if (x.status === 'rejected') failures.push(`round ${round}: ${(x.reason as Error).message}`);
    await Promise.all([a.end().catch(() => {}), b.end().catch(() => {})]);
  }
  t.same(failures, [], 'every client of every round was served');
  t.notMatch(await env.porter.metrics(), /kind="query_wait_timeout"/, 'nobody timed out waiting');
});
