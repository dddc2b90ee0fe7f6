// With two workers, a pool's size is the node's total: while clients on both workers wait, the server connections for that pool (counted in pg_stat_activity) never exceed it.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { clientsOnEveryWorker, workerOf } from './fixtures/workers.js';

t.test('size 3 across 2 workers: at most 3 server connections, every query served', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 3, queryWaitTimeout: '30s' }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  const monitor = new pg.Client({ host: '127.0.0.1', port: env.pg.port, user: 'postgres', database: 'postgres' });
  await monitor.connect();
  t.teardown(() => monitor.end());

  const clients = await clientsOnEveryWorker(env.conn, 2, 5);
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
  t.ok(clients.some((c) => workerOf(c) === 0) && clients.some((c) => workerOf(c) === 1), 'clients on both workers');

  let max = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const r = await monitor.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [USERS.trust.user]);
      max = Math.max(max, r.rows[0].n as number);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  // Every client runs transactions that hold a server for a while: clients on both workers wait at once.
  const done = await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < 3; i++) await c.query('SELECT pg_sleep(0.05)');
      return workerOf(c);
    }),
  );
  polling = false;
  await poll;
  t.equal(done.length, clients.length, 'every client finished its transactions');
  t.ok(max > 0, `servers were seen (${max})`);
  t.ok(max <= 3, `at most 3 server connections at once for the pool (saw ${max})`);
  const pools = (await (await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/pools`, { headers: { authorization: 'Bearer test-token-0123456789' } })).json()) as {
    pools: Array<{ size: number; serversActive: number; serversIdle: number }>;
  };
  t.equal(pools.pools.length, 1, 'one pool, merged over the workers');
  t.ok(pools.pools[0]!.serversActive + pools.pools[0]!.serversIdle <= 3, 'the admin API sees at most 3 servers');
});
