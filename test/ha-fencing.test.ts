// Fencing (Fly's zombie primary: default_transaction_read_only on, not in recovery): pgporter sends it neither writes nor reads, a 25006 answer makes it look again at once, and idle transaction-mode clients continue on the promoted replica.
import t from 'tap';
import pg from 'pg';
import { psql } from './fixtures/clients.js';
import { startHaEnv } from './fixtures/replication.js';
import { waitFor } from './fixtures/ports.js';
import { HoldProxy } from './fixtures/hold-proxy.js';

// pgporter reaches the primary through a relay that holds back what follows a 25006 for 1.5 s: PostgreSQL flushes the
// error before its ReadyForQuery, and under load the fence can be seen in that gap (a CI run lost client A so).
let hold: HoldProxy | undefined;
// A long probe interval: only the 25006 answer can make pgporter notice the fence quickly.
const env = await startHaEnv({
  config: { health: { interval: '30s', timeout: '3s', banMin: '500ms', banMax: '2s' }, failover: { primaryWait: '2s' } },
  primaryVia: async (port) => (hold = await HoldProxy.start(port, '25006', 1500)).port,
});
t.teardown(async () => {
  await env.stop();
  await hold?.stop();
});

const roleOf = async (name: string) => {
  const r = await fetch(`http://127.0.0.1:${env.porter.adminPort}/v1/tenants/ha/upstreams`, { headers: { authorization: 'Bearer test-token-0123456789' } });
  return ((await r.json()) as { upstreams: { name: string; role: string }[] }).upstreams.find((u) => u.name === name)?.role;
};

t.test('directly: a fenced primary refuses writes yet is not in recovery; libpq read-only would still take it', async (t) => {
  const direct = `postgresql://trusty@127.0.0.1:${env.set.primary.port}/postgres?sslmode=disable`;
  env.set.primary.sql('CREATE TABLE fence_t(x int); GRANT ALL ON fence_t TO PUBLIC');
  await env.set.waitReplayed();
  await waitFor(async () => (await roleOf('one')) === 'primary' && (await roleOf('two')) === 'standby', 'roles known', 10_000);
  env.set.fence();
  const w = await psql(direct, 'INSERT INTO fence_t VALUES (1)');
  t.match(w.stderr, /read-only transaction/, 'a direct write is refused');
  t.equal((await psql(direct, 'SELECT pg_is_in_recovery()')).stdout, 'f', 'not in recovery');
  const libpqRo = await psql(`postgresql://trusty@127.0.0.1:${env.set.primary.port}/postgres?sslmode=disable&target_session_attrs=read-only`, 'SELECT 1');
  t.equal(libpqRo.code, 0, 'libpq target_session_attrs=read-only accepts the fenced primary (nothing replicates to it)');
  env.set.unfence();
  await waitFor(async () => (await psql(direct, 'SHOW default_transaction_read_only')).stdout === 'off', 'unfenced', 5000);
});

t.test('through pgporter: the fence is seen at the first 25006, writes stop, reads stay on the replica', async (t) => {
  const a = new pg.Client(env.conn);
  a.on('error', () => {});
  await a.connect();
  t.teardown(() => a.end().catch(() => {}));
  await a.query('INSERT INTO fence_t VALUES (2)');
  t.equal((await a.query('SELECT pg_is_in_recovery() AS r')).rows[0].r, false, 'idle client A wrote on the primary');

  env.set.fence();
  const refused = await a.query('INSERT INTO fence_t VALUES (3)').then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  t.equal(refused?.code, '25006', `the write reaching the fenced primary is refused by PostgreSQL (25006): ${refused?.message}`);
  const seenAt = Date.now();
  await waitFor(async () => (await roleOf('one')) === 'fenced', 'fence seen', 5000);
  t.ok(Date.now() - seenAt < 5000, 'pgporter saw the fence long before its 30 s probe interval (the 25006 made it probe at once)');
  t.equal(hold?.holds, 1, "the fence was seen while A's server still owed the ReadyForQuery after that 25006");

  const b = await psql(env.url(), 'INSERT INTO fence_t VALUES (4)');
  t.not(b.code, 0, 'a new write finds no writer');
  t.match(b.stderr, /no writable server/, `after failover.primaryWait it is told why: ${b.stderr}`);
  t.equal((await psql(env.url({}, 'postgres-ro'), 'SELECT pg_is_in_recovery()')).stdout, 't', 'read-only clients go to the replica, never to the fenced primary');
  await waitFor(() => env.set.primary.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = 'trusty'`) === '0', 'old pool drained', 5000);
  t.pass("the fenced primary's pool was drained");

  await env.set.promote();
  // A's next write waits for a writer (probing every 200 ms meanwhile), then runs on the promoted replica.
  const r = await a.query('INSERT INTO fence_t VALUES (5) RETURNING inet_server_port() AS port, pg_is_in_recovery() AS rec');
  t.equal(r.rows[0].port, env.set.replica.port, 'idle client A continues on the promoted replica');
  t.equal(r.rows[0].rec, false, 'which is out of recovery');
  t.equal(env.set.primary.sql('SELECT count(*) FROM fence_t WHERE x >= 3'), '0', 'no write reached the fenced primary after the fence');
});
