// pgbench through pgporter in transaction mode: 100 clients on 10 server connections, in every query mode, with no failed transaction.
import t from 'tap';
import { USERS } from './fixtures/postgres.js';
import { pgbench, startPoolEnv } from './fixtures/pool-env.js';

const env = await startPoolEnv({ mode: 'transaction', size: 10, queryWaitTimeout: '60s' });
t.teardown(() => env.stop());

const direct = ['-h', '127.0.0.1', '-p', String(env.pg.port), '-U', USERS.trust.user, 'postgres'];
const init = await pgbench(['-i', '-q', '-s', '1', ...direct]);
if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);

const CLIENTS = 100;
const TX = 20;
let expectedHistory = 0;

for (const mode of ['simple', 'extended', 'prepared']) {
  t.test(`pgbench -M ${mode}: ${CLIENTS} clients, pool size 10, zero failures`, async (t) => {
    const r = await pgbench(['-n', '-M', mode, '-c', String(CLIENTS), '-j', '2', '-t', String(TX), '-h', '127.0.0.1', '-p', String(env.porter.port), '-U', USERS.trust.user, 'postgres']);
    t.equal(r.code, 0, `pgbench exited 0 (${r.stderr.slice(0, 2000)})`);
    t.match(r.stdout, new RegExp(`number of transactions actually processed: ${CLIENTS * TX}/${CLIENTS * TX}`), 'every transaction ran');
    const failed = /number of failed transactions: (\d+)/.exec(r.stdout);
    t.ok(failed, 'pgbench reports failures');
    t.equal(failed?.[1], '0', 'no failed transaction');
    expectedHistory += CLIENTS * TX;
    const count = env.pg.sql('SELECT count(*) FROM pgbench_history');
    t.equal(Number(count), expectedHistory, 'pgbench_history has one row per transaction');
    const servers = Number(env.pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${USERS.trust.user}' AND backend_type = 'client backend'`));
    t.ok(servers <= 10, `at most 10 server connections (saw ${servers})`);
  });
}

t.test('the tpcb balances still add up', async (t) => {
  const sums = env.pg.sql('SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history)');
  t.equal(sums, 't');
});
