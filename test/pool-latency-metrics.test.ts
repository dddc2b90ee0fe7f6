// Latency as clients see it, per tenant: transaction and query duration and wait-for-server histograms on /metrics, counting what the clients did.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';

const env = await startPoolEnv({ mode: 'transaction', size: 2 });
t.teardown(() => env.stop());

function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const [key, value] = line.split(' ');
    out.set(key!, Number(value));
  }
  return out;
}

t.test('5 transactions of 3 queries and 10 single queries are counted; buckets are cumulative', async (t) => {
  const c = new pg.Client(env.conn);
  await c.connect();
  t.teardown(() => c.end());
  for (let i = 0; i < 5; i++) {
    await c.query('BEGIN');
    await c.query('SELECT pg_sleep(0.02)');
    await c.query('COMMIT');
  }
  for (let i = 0; i < 10; i++) await c.query('SELECT $1::int', [i]);
  const text = await env.porter.metrics();
  const tx = series(text, 'pgporter_transaction_duration_seconds');
  const q = series(text, 'pgporter_query_duration_seconds');
  // Each single query is its own transaction; each BEGIN..COMMIT one more.
  t.equal(tx.get('pgporter_transaction_duration_seconds_count{tenant="demo"}'), 15);
  t.equal(q.get('pgporter_query_duration_seconds_count{tenant="demo"}'), 25, 'one per simple query or Sync');
  t.ok((tx.get('pgporter_transaction_duration_seconds_sum{tenant="demo"}') ?? 0) >= 5 * 0.02, 'the sleeps are inside the transactions');
  const buckets = [...tx].filter(([k]) => k.includes('_bucket')).map(([, v]) => v);
  t.ok(buckets.length > 5 && buckets.every((v, i) => i === 0 || v >= buckets[i - 1]!), 'buckets are cumulative');
  const under10ms = tx.get('pgporter_transaction_duration_seconds_bucket{le="0.01",tenant="demo"}') ?? tx.get('pgporter_transaction_duration_seconds_bucket{tenant="demo",le="0.01"}');
  t.ok(under10ms !== undefined && under10ms <= 10, `the 20 ms transactions are not in the 10 ms bucket (${under10ms})`);
  t.ok((series(text, 'pgporter_pool_wait_seconds').get('pgporter_pool_wait_seconds_count{tenant="demo"}') ?? 0) >= 15, 'a wait observed per transaction');
});
