// Stopping without drops: SIGTERM or POST /v1/drain ends sessions at transaction boundaries with 57P01, loses no committed transaction, and exits 0; PAUSE holds new transactions until RESUME.
import t from 'tap';
import pg from 'pg';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { pgbench } from './fixtures/pool-env.js';
import { sleep, waitFor } from './fixtures/ports.js';

const db = await PostgresFixture.start();
t.teardown(() => db.destroy());
const user = USERS.trust.user;

const start = (extra: Record<string, unknown> = {}) =>
  PgporterProcess.start({
    config: {
      log: { level: 'info' },
      shutdown: { timeout: '20s' },
      tenants: [{ id: 'acme', upstream: { host: db.host, port: db.port }, auth: { method: 'trust' }, pool: { size: 10, queryWaitTimeout: '30s' } }],
      ...extra,
    },
  });
const exitCode = (p: PgporterProcess) => new Promise<number | null>((resolve) => (p.proc.exitCode !== null ? resolve(p.proc.exitCode) : p.proc.once('exit', (code) => resolve(code))));
const admin = (p: PgporterProcess, method: string, path: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${p.adminPort}${path}`, {
    method,
    headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const client = (p: PgporterProcess) => {
  const c = new pg.Client({ host: '127.0.0.1', port: p.port, user, database: 'postgres' });
  c.on('error', () => {});
  return c;
};

t.test('SIGTERM during pgbench tpcb-like, 50 clients: every reported transaction is committed, clients get 57P01, exit 0', async (t) => {
  const init = await pgbench(['-i', '-q', '-s', '2', '-h', '127.0.0.1', '-p', String(db.port), '-U', user, 'postgres']);
  t.equal(init.code, 0, init.stderr);
  const p = await start();
  t.teardown(() => p.stop());
  const run = pgbench(['-n', '-c', '50', '-j', '2', '-T', '30', '-h', '127.0.0.1', '-p', String(p.port), '-U', user, 'postgres']);
  await sleep(3000);
  p.proc.kill('SIGTERM');
  t.equal(await exitCode(p), 0, 'pgporter exits 0 after draining');
  const r = await run;
  const processed = Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1] ?? NaN);
  t.ok(processed > 0, `pgbench ran transactions before the drain (${processed})`);
  t.equal(Number(db.sql('SELECT count(*) FROM pgbench_history')), processed, 'every transaction pgbench counted is in the database, and no other');
  t.equal(db.sql('SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history)'), 't', 'balances add up');
  t.match(r.stderr, /terminating connection due to administrator command/, 'clients were told 57P01');
  t.notMatch(r.stderr, /server closed the connection unexpectedly|connection reset|could not receive data|SSL SYSCALL/i, 'no client saw a dropped connection');
  const closed = p.find({ event: 'closed' });
  t.ok(closed.length >= 50 && closed.every((l) => l.endedBy === 'pgporter' || l.endedBy === 'client'), 'every session closed cleanly');
});

t.test('POST /v1/drain: healthz turns unhealthy, a transaction under way finishes, then 57P01', async (t) => {
  const p = await start();
  t.teardown(() => p.stop());
  const c = client(p);
  // The FATAL comes right after COMMIT's ReadyForQuery: pg reports it as a connection error event, or on the next query.
  const codes: (string | undefined)[] = [];
  c.on('error', (err: Error & { code?: string }) => codes.push(err.code));
  await c.connect();
  const idle = client(p);
  await idle.connect();
  await c.query('BEGIN');
  await c.query('CREATE TEMP TABLE drained (x int)');
  const res = await admin(p, 'POST', '/v1/drain');
  t.equal(res.status, 202);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${p.metricsPort}/healthz`)).status === 503, 'healthz to turn 503', 5000);
  await waitFor(() => p.find({ event: 'closed', endedBy: 'pgporter' }).length >= 1, 'the idle session to end', 5000);
  t.same((await c.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the transaction goes on');
  await c.query('COMMIT');
  const after = await c.query('SELECT 2').then(
    () => 'ran',
    (err: { code?: string }) => err.code,
  );
  t.not(after, 'ran', 'no statement runs after the transaction');
  t.ok([after, ...codes].includes('57P01'), `after the transaction: admin_shutdown (${JSON.stringify([after, ...codes])})`);
  t.equal(await exitCode(p), 0, 'exits 0');
});

t.test('PAUSE holds new transactions until the ones under way end; RESUME lets them run', async (t) => {
  const p = await start();
  t.teardown(() => p.stop());
  const a = client(p);
  const b = client(p);
  await a.connect();
  await b.connect();
  t.teardown(() => Promise.all([a.end(), b.end()]).catch(() => undefined));
  await a.query('BEGIN');
  let paused = false;
  const pausing = admin(p, 'POST', '/v1/tenants/acme/pause', { timeout: '10s' }).then((r) => {
    paused = true;
    return r.status;
  });
  await sleep(300);
  t.notOk(paused, 'PAUSE waits for the transaction under way');
  let bDone = false;
  const bQuery = b.query('SELECT 42 AS v').then((r) => {
    bDone = true;
    return r.rows[0].v as number;
  });
  await a.query('COMMIT');
  t.equal(await pausing, 200, 'paused once the transaction ended');
  await sleep(500);
  t.notOk(bDone, 'a new transaction is held while paused');
  const servers = Number(db.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${user}' AND backend_type = 'client backend'`));
  t.equal(servers, 0, 'no server connection is left open while paused');
  t.equal((await admin(p, 'POST', '/v1/tenants/acme/resume')).status, 200);
  t.equal(await bQuery, 42, 'the held transaction runs after RESUME');
  t.equal((await admin(p, 'POST', '/v1/tenants/nosuch/pause')).status, 404);
});
