// With two workers, a worker that dies (SIGKILL) is restarted, its server permits are freed at once, and the node goes on serving.
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { waitFor } from './fixtures/ports.js';
import { alive, clientsOnEveryWorker, workerOf } from './fixtures/workers.js';

t.test('SIGKILL of the worker holding every permit: restarted, permits freed, the pool serves at full size', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 2, queryWaitTimeout: '5s' }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  const clients = await clientsOnEveryWorker(env.conn, 2, 2);
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
  const doomed = clients.filter((c) => workerOf(c) === 0).slice(0, 2);
  const survivor = clients.find((c) => workerOf(c) === 1)!;
  // Worker 0 holds both of the pool's servers inside open transactions.
  for (const c of doomed) await c.query('BEGIN; SELECT 1');
  const ready = env.porter.find({ event: 'worker_ready', worker: 0 })[0]!;
  const pid = ready.pid as number;
  t.ok(alive(pid), `worker 0 is pid ${pid}`);
  process.kill(pid, 'SIGKILL');
  await env.porter.waitForLog({ event: 'worker_exit', worker: 0 }, 5000);
  await waitFor(() => env.porter.find({ event: 'worker_ready', worker: 0 }).length === 2, 'worker 0 to be restarted', 10_000);
  const restarted = env.porter.find({ event: 'worker_ready', worker: 0 })[1]!.pid as number;
  t.not(restarted, pid, `a new worker 0 (pid ${restarted})`);

  // Both permits are free: two transactions at once are served (they would wait out the 5 s otherwise).
  const fresh = await clientsOnEveryWorker(env.conn, 2, 1);
  t.teardown(() => Promise.all(fresh.map((c) => c.end().catch(() => {}))));
  const started = Date.now();
  await Promise.all([survivor.query('SELECT pg_sleep(0.5)'), fresh.find((c) => workerOf(c) === 0)!.query('SELECT pg_sleep(0.5)')]);
  t.ok(Date.now() - started < 4000, 'both servers available at once on the two workers');
  t.equal((await survivor.query('SELECT 3 AS x')).rows[0].x, 3, 'the other worker’s client kept its session');
  t.notMatch(await env.porter.metrics(), /kind="query_wait_timeout"/, 'nobody timed out waiting');
});
