// Failover under load: the primary is SIGKILLed and the replica promoted while tpcb-like clients run; read-write service resumes on the new primary with no restart or config edit, beside libpq's own multi-host failover on the same kind of setup.
import t from 'tap';
import { psql } from './fixtures/clients.js';
import { pgbench } from './fixtures/pool-env.js';
import { ReplicaSet, startHaEnv } from './fixtures/replication.js';
import { describe, initPgbench, killAndPromote } from './fixtures/failover.js';
import { waitFor } from './fixtures/ports.js';

const CLIENTS = 4;

t.test('pgporter: kill the primary, promote the replica, writes resume on it', async (t) => {
  const env = await startHaEnv();
  t.teardown(() => env.stop());
  await initPgbench(env);
  const before = await psql(env.url({ target_session_attrs: 'read-write' }), 'SELECT pg_is_in_recovery()');
  t.equal(before.stdout, 'f', 'a libpq read-write client lands on the primary');

  const f = await killAndPromote(env, CLIENTS);
  t.ok(f.commitsAfterPromote > 20, `read-write service resumed on the new primary (${f.commitsAfterPromote} commits after the promotion)`);
  t.ok(f.outageMs !== undefined, 'commits before and after the kill');
  t.comment(describe(f, `pgporter failover, asynchronous replication, ${CLIENTS} clients, health.interval 500ms`));
  const up = await psql(env.url({ target_session_attrs: 'read-write' }), 'SELECT pg_is_in_recovery()');
  t.equal(up.stdout, 'f', 'a libpq read-write client through pgporter lands on the new writer');
  const bench = await pgbench(['-n', '-T', '1', '-c', '2', '-h', '127.0.0.1', '-p', String(env.porter.port), '-U', env.conn.user, 'postgres']);
  t.equal(bench.code, 0, `pgbench tpcb-like through pgporter on the new primary: ${bench.stderr.slice(-300)}`);
  t.match(bench.stdout, /number of failed transactions: 0/, 'no failed transactions');
  const rw = await psql(env.url({ target_session_attrs: 'read-write' }), 'SELECT pg_is_in_recovery()');
  t.equal(rw.stdout, 'f', 'libpq target_session_attrs=read-write through pgporter still lands on the writer');
});

t.test("libpq's own multi-host failover on the same setup (host=a,b target_session_attrs=read-write)", async (t) => {
  const set = await ReplicaSet.start();
  t.teardown(() => set.stop());
  set.primary.sql('CREATE TABLE ha_libpq(x int); GRANT ALL ON ha_libpq TO PUBLIC');
  await set.waitReplayed();
  const url = `postgresql://trusty@127.0.0.1:${set.primary.port},127.0.0.1:${set.replica.port}/postgres?sslmode=disable&connect_timeout=2&target_session_attrs=read-write`;
  const ok = await psql(url, 'SELECT pg_is_in_recovery()');
  t.equal(ok.stdout, 'f', 'libpq picks the primary');
  await set.killPrimary();
  const promoteAt = Date.now();
  const promoting = set.promote();
  let attempts = 0;
  const failures = new Map<string, number>();
  await waitFor(async () => {
    attempts++;
    const r = await psql(url, 'INSERT INTO ha_libpq VALUES (2)');
    if (r.code !== 0) {
      const why = r.stderr.replace(/\d+/g, "N").split("\n").filter((l) => !l.includes("Connection refused") && !l.includes("Is the server")).join(" ").slice(0, 300);
      failures.set(why, (failures.get(why) ?? 0) + 1);
    }
    return r.code === 0;
  }, 'libpq writes resume', 20_000, 5);
  t.comment(`libpq failures meanwhile: ${JSON.stringify([...failures])}`);
  const resumedMs = Date.now() - promoteAt;
  await promoting;
  t.comment(`libpq multi-host failover: writes resumed ${resumedMs} ms after the promotion started (${attempts} psql attempts, each a new connection)`);
  t.pass('libpq resumed writes on the promoted replica');
});
