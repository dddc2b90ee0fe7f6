// With two workers, /metrics and GET /v1/pools count the clients of both (the supervisor asks each worker at scrape time and sums).
import t from 'tap';
import { startPoolEnv } from './fixtures/pool-env.js';
import { adminCall } from './fixtures/admin-http.js';
import { clientsOnEveryWorker } from './fixtures/workers.js';

t.test('clients on both workers are counted once each, in /metrics and in GET /v1/pools', async (t) => {
  const env = await startPoolEnv({ mode: 'transaction', size: 2 }, { config: { workers: 2 } });
  t.teardown(() => env.stop());
  const clients = await clientsOnEveryWorker(env.conn, 2, 2);
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => {}))));
  await Promise.all(clients.map((c) => c.query('SELECT 1')));
  const n = clients.length;

  const m = await env.porter.metrics();
  t.match(m, new RegExp(`pgporter_connections_active\\{tenant="demo"\\} ${n}\\b`), `connections_active is ${n}`);
  t.match(m, new RegExp(`pgporter_pool_clients_active\\{tenant="demo"\\} ${n}\\b`), `pool_clients_active is ${n}`);
  t.match(m, new RegExp(`pgporter_connections_accepted_total\\{tenant="demo"\\} ${n}\\b`), `connections_accepted_total is ${n}`);
  t.match(m, /pgporter_pool_transactions_total\{tenant="demo"\} \d+/, 'transactions counted');
  t.match(m, /pgporter_store_healthy 1\b/, 'node-level gauges once, not summed');
  t.match(m, /pgporter_fleet_nodes 1\b/, 'one node');
  t.match(m, /pgporter_transaction_duration_seconds_count\{tenant="demo"\} \d+/, 'histograms merged');

  const pools = await adminCall(env.porter, 'GET', '/v1/pools');
  const list = pools.json.pools as Array<{ tenant: string; clientsActive: number; clientsWaiting: number; size: number }>;
  t.equal(list.length, 1, 'one pool entry for (demo, postgres, trusty)');
  t.equal(list[0]!.clientsActive + list[0]!.clientsWaiting, n, `GET /v1/pools counts the ${n} clients`);
  t.equal(list[0]!.size, 2, 'the size is the node total');

  const health = (await (await fetch(`http://127.0.0.1:${env.porter.metricsPort}/healthz`)).json()) as { ok: boolean; workers: number };
  t.same({ ok: health.ok, workers: health.workers }, { ok: true, workers: 2 }, 'healthz reports both workers');
});
