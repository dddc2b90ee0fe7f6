// With two workers, one worker's idle servers are handed over when the other worker's clients wait: transaction pooling cannot starve a worker.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { clientsOnEveryWorker, workerOf } from './fixtures/workers.js';

t.test('size 2: servers idle on one worker serve the other worker’s waiting clients', async (t) => {
  // A short wait timeout: without a hand-over the second worker's clients would fail with 08004.
  const env = await startPoolEnv({ mode: 'transaction', size: 2, queryWaitTimeout: '4s', serverIdleTimeout: '10m' }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  const clients = await clientsOnEveryWorker(env.conn, 2, 2);
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
  const on = (w: number) => clients.filter((c) => workerOf(c) === w).slice(0, 2);
  const count = async () => {
    const r = env.pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${USERS.trust.user}'`);
    return Number(r.trim());
  };
  // A closed server's backend stays in pg_stat_activity until its process has exited, so a count is read until it
  // settles; an overshoot would not settle (idle servers are kept for 10 minutes here).
  const countSettles = async (ok: (n: number) => boolean) => {
    let n = await count();
    for (const until = Date.now() + 5000; !ok(n) && Date.now() < until; n = await count()) await new Promise((r) => setTimeout(r, 100));
    return n;
  };

  // Worker 0 opens both servers (two transactions open at once), then its clients sit idle: its servers are idle.
  await Promise.all(on(0).map((c) => c.query('BEGIN')));
  await Promise.all(on(0).map((c) => c.query('SELECT 1')));
  t.equal(await countSettles((n) => n === 2), 2, 'worker 0 holds the pool’s 2 servers');
  await Promise.all(on(0).map((c) => c.query('COMMIT')));

  // Worker 1's two clients need both servers at once.
  const started = Date.now();
  await Promise.all(on(1).map((c) => c.query('SELECT pg_sleep(0.3)')));
  t.ok(Date.now() - started < 4000, 'served before the wait timeout');
  t.ok((await countSettles((n) => n <= 2)) <= 2, 'still at most 2 servers');

  // And back again: worker 0's clients are served by the servers worker 1 now holds idle.
  await Promise.all(on(0).map((c) => c.query('SELECT 1')));
  t.ok((await countSettles((n) => n <= 2)) <= 2, 'at most 2 servers after handing back');
  const metrics = await env.porter.metrics();
  t.notMatch(metrics, /kind="query_wait_timeout"/, 'no client timed out waiting');
});

t.test('size 1, both workers busy: each worker gets turns, nobody times out', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 1, queryWaitTimeout: '5s' }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  const clients = await clientsOnEveryWorker(env.conn, 2, 2);
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
  const results = await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < 5; i++) await c.query('SELECT pg_sleep(0.02)');
      return workerOf(c);
    }),
  );
  t.ok(results.includes(0) && results.includes(1), 'clients of both workers finished all their transactions');
  t.notMatch(await env.porter.metrics(), /kind="query_wait_timeout"/, 'no client timed out waiting');
});
