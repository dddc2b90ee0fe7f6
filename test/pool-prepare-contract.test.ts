// libpq's PQprepare (Parse + Sync) through the pool: errors at prepare, 42P05 for a name taken, the client's own names in every error text, in both modes.
import t from 'tap';
import { startPoolEnv, pgbench } from './fixtures/pool-env.js';
import { USERS } from './fixtures/postgres.js';
import { Bind, Close, Execute, Parse, Query, Sync, Wire, errorOf, rowsOf, typesOf } from './fixtures/wire.js';

// One worker: the point is every client sharing one server (a pool of 1); with several workers that server would take
// turns between them, each turn a new server login (README, Every core).
const tx = await startPoolEnv({ mode: 'transaction', size: 1 }, { config: { workers: 1 } });
t.teardown(() => tx.stop());
const session = await startPoolEnv({ mode: 'session', size: 10, queryWaitTimeout: '60s' }, { pg: tx.pg, config: { workers: 1 } });
t.teardown(() => session.porter.stop());
tx.pg.sql(`CREATE TABLE things (id int PRIMARY KEY, name text); INSERT INTO things VALUES (1, 'one'), (2, 'two'); GRANT ALL ON things TO ${USERS.trust.user};`);
const login = { user: USERS.trust.user, database: 'postgres' };
const targets = { direct: tx.pg.port, 'pgporter transaction': tx.porter.port, 'pgporter session': session.porter.port };

for (const [target, port] of Object.entries(targets)) {
  t.test(`${target}: a syntax error or a missing table is reported at prepare`, async (t) => {
    const c = await Wire.open(port, login);
    t.teardown(() => c.close());
    const syntax = await c.roundTrip(Parse('bad1', 'SELEC 1'), Sync);
    t.equal(typesOf(syntax), 'EZ', 'ErrorResponse then ReadyForQuery, no ParseComplete');
    t.equal(errorOf(syntax)?.C, '42601');
    const missing = await c.roundTrip(Parse('bad2', 'SELECT * FROM no_such_table'), Sync);
    t.equal(errorOf(missing)?.C, '42P01');
    t.equal(errorOf(missing)?.M, 'relation "no_such_table" does not exist');
    // A failed prepare leaves the name free.
    const ok = await c.roundTrip(Parse('bad1', 'SELECT 1'), Sync);
    t.equal(typesOf(ok), '1Z', 'the name of a failed prepare can be used');
  });

  t.test(`${target}: preparing a name twice is 42P05 and the first statement stays`, async (t) => {
    const c = await Wire.open(port, login);
    t.teardown(() => c.close());
    t.equal(typesOf(await c.roundTrip(Parse('s1', 'SELECT name FROM things WHERE id = $1'), Sync)), '1Z');
    const dup = await c.roundTrip(Parse('s1', 'SELECT 42'), Sync);
    t.equal(typesOf(dup), 'EZ');
    t.equal(errorOf(dup)?.C, '42P05');
    t.equal(errorOf(dup)?.M, 'prepared statement "s1" already exists', 'the message names the client’s statement');
    t.same(rowsOf(await c.roundTrip(Bind('s1', ['2']), Execute(), Sync)), [['two']], 'the first statement is kept');
    // Inside a transaction the duplicate aborts it, as it does directly.
    const inTx = await c.roundTrip(Query('BEGIN'));
    t.equal(inTx.at(-1)!.body.toString(), 'T');
    const dupTx = await c.roundTrip(Parse('s1', 'SELECT 43'), Bind('s1', ['1']), Execute(), Sync);
    t.equal(errorOf(dupTx)?.C, '42P05');
    t.equal(dupTx.at(-1)!.body.toString(), 'E', 'the transaction is failed');
    t.same(rowsOf(dupTx), [], 'nothing after the failed Parse ran');
    await c.roundTrip(Query('ROLLBACK'));
    t.same(rowsOf(await c.roundTrip(Bind('s1', ['1']), Execute(), Sync)), [['one']]);
  });

  t.test(`${target}: error texts name the client's statements`, async (t) => {
    const c = await Wire.open(port, login);
    t.teardown(() => c.close());
    await c.roundTrip(Parse('by_id', 'SELECT name FROM things WHERE id = $1'), Sync);
    const wrong = await c.roundTrip(Bind('by_id', []), Execute(), Sync);
    t.equal(errorOf(wrong)?.C, '08P01');
    t.equal(errorOf(wrong)?.M, 'bind message supplies 0 parameters, but prepared statement "by_id" requires 1');
    const unknown = await c.roundTrip(Bind('never_prepared', []), Execute(), Sync);
    t.equal(errorOf(unknown)?.M, 'prepared statement "never_prepared" does not exist');
    t.equal(typesOf(await c.roundTrip(Close('S', 'by_id'), Sync)), '3Z');
    t.equal(errorOf(await c.roundTrip(Bind('by_id', ['1']), Execute(), Sync))?.M, 'prepared statement "by_id" does not exist', 'closed for the client');
    const dealloc = await c.roundTrip(Query('DEALLOCATE by_id'));
    t.equal(errorOf(dealloc)?.M, 'prepared statement "by_id" does not exist');
  });
}

t.test('transaction mode: a prepare while the only server is busy waits for it, then gets the real answer', async (t) => {
  const holder = await Wire.open(tx.porter.port, login);
  const c = await Wire.open(tx.porter.port, login);
  t.teardown(() => (holder.close(), c.close()));
  await holder.roundTrip(Query('BEGIN'));
  const from = c.replies.length;
  c.send(Parse('p_wait', 'SELECT * FROM not_there_either'), Sync);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(c.replies.length, from, 'no made-up answer while no server could judge the statement');
  await holder.roundTrip(Query('COMMIT'));
  const z = await c.until((r) => r.type === 'Z', from);
  t.equal(errorOf(c.replies.slice(from, z + 1))?.C, '42P01', 'the error comes at the prepare');
});

for (const [mode, env] of [
  ['transaction', tx],
  ['session', session],
] as const) {
  t.test(`pgbench -M prepared: 50 clients on a pool of ${mode === 'transaction' ? 1 : 10}, ${mode} mode`, async (t) => {
    const direct = ['-h', '127.0.0.1', '-p', String(tx.pg.port), '-U', USERS.trust.user, 'postgres'];
    if (mode === 'transaction') {
      const init = await pgbench(['-i', '-q', '-s', '1', ...direct]);
      t.equal(init.code, 0, init.stderr);
    }
    const r = await pgbench(['-n', '-M', 'prepared', '-c', '50', '-j', '2', '-T', '3', '-h', '127.0.0.1', '-p', String(env.porter.port), '-U', USERS.trust.user, 'postgres']);
    t.equal(r.code, 0, `pgbench exited 0 (${r.stderr.slice(0, 1500)})`);
    t.match(r.stdout, /number of failed transactions: 0 /, 'no failed transaction');
    const done = /number of transactions actually processed: (\d+)/.exec(r.stdout);
    t.ok(done && Number(done[1]) > 0, `transactions ran (${done?.[1]})`);
  });
}
