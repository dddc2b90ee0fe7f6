// With synchronous replication no transaction whose COMMIT was acknowledged through pgporter is lost when the primary is SIGKILLed and the replica promoted.
import t from 'tap';
import { startHaEnv } from './fixtures/replication.js';
import { describe, initPgbench, killAndPromote } from './fixtures/failover.js';

t.test('synchronous_standby_names: every acknowledged commit is on the new primary', async (t) => {
  const env = await startHaEnv({ set: { sync: true } });
  t.teardown(() => env.stop());
  t.equal(env.set.primary.sql('SHOW synchronous_standby_names'), '*', 'the primary waits for the replica at commit');
  t.equal(env.set.primary.sql(`SELECT sync_state FROM pg_stat_replication`), 'sync', 'the replica is synchronous');
  await initPgbench(env);
  const f = await killAndPromote(env, 4);
  t.comment(describe(f, 'pgporter failover, synchronous replication, 4 clients'));
  t.ok(f.load.committed.length > 50, `load ran (${f.load.committed.length} commits)`);
  t.ok(f.commitsAfterPromote > 20, 'writes resumed on the new primary');
  t.same(f.lost, [], 'no acknowledged commit is missing');
});
