// The admin console (database `pgporter`): every SHOW answers with PgBouncer's column names while a client is pooled, roles, KILL, allowlist, SHUTDOWN; with psql and node-postgres.
import t from 'tap';
import pg from 'pg';
import { startPoolEnv } from './fixtures/pool-env.js';
import { psql, rawConnection, firstError, startupMessage } from './fixtures/clients.js';
import { waitFor } from './fixtures/ports.js';

const ADMIN = { name: 'admin', password: 'admin-secret-1', role: 'admin' };
const VIEWER = { name: 'viewer', password: 'viewer-secret-1', role: 'readonly' };

const env = await startPoolEnv(
  { mode: 'transaction', size: 3 },
  {
    config: {
      // One worker: SHOW POOLS/CLIENTS/SERVERS and KILL show and act on the worker the console connection lands on
      // (docs/internals.md); these checks need the pooled client on that same process.
      workers: 1,
      admin: { host: '127.0.0.1', port: 0, tokens: [{ name: 'test', token: 'test-token-0123456789' }], consoleUsers: [ADMIN, VIEWER] },
    },
  },
);
t.teardown(() => env.stop());

const consoleClient = async (u: { name: string; password: string }) => {
  const c = new pg.Client({ host: '127.0.0.1', port: env.porter.port, user: u.name, password: u.password, database: 'pgporter' });
  await c.connect();
  return c;
};
const conninfo = (u: { name: string; password: string }) => `host=127.0.0.1 port=${env.porter.port} user=${u.name} dbname=pgporter password=${u.password} sslmode=disable`;

// An application client, pooled through tenant "demo", holding a server inside a transaction.
const app = new pg.Client(env.conn);
const appErrors: (Error & { code?: string })[] = [];
app.on('error', (e) => appErrors.push(e));
await app.connect();
await app.query('BEGIN');
await app.query('SELECT 1');

t.test('SHOW POOLS with psql: cl_active counts the pooled client, sv_active its server', async (t) => {
  const r = await psql(conninfo(ADMIN), 'SHOW POOLS');
  t.equal(r.code, 0, r.stderr);
  const row = r.stdout.split('\n').map((l) => l.split('|')).find((f) => f[0] === 'demo');
  t.ok(row, r.stdout);
  // tenant|database|user|cl_active|cl_waiting|sv_active|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|pool_mode|pool_size
  t.same(row, ['demo', 'postgres', env.conn.user, '1', '0', '1', '0', '0', '0', '0', '0', '0', 'transaction', '3']);
});

t.test('every SHOW answers with the expected columns (node-postgres, simple protocol)', async (t) => {
  const c = await consoleClient(VIEWER);
  t.teardown(() => c.end());
  const cols = async (sql: string) => {
    const r = await c.query(sql);
    return { names: r.fields.map((f) => f.name), rows: r.rows as Record<string, string | boolean | null>[], command: r.command };
  };

  const pools = await cols('SHOW POOLS');
  t.same(pools.names, ['tenant', 'database', 'user', 'cl_active', 'cl_waiting', 'sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login', 'maxwait', 'maxwait_us', 'pool_mode', 'pool_size']);
  t.equal(pools.command, 'SHOW');

  const clients = await cols('show clients;');
  t.same(clients.names, ['tenant', 'type', 'user', 'database', 'state', 'addr', 'local_addr', 'local_port', 'connect_time', 'request_time', 'wait', 'wait_us', 'link', 'tls', 'application_name', 'id']);
  const mine = clients.rows.find((r) => r.tenant === 'demo');
  t.match(mine, { type: 'C', user: env.conn.user, database: 'postgres', state: 'active', addr: '127.0.0.1', tls: false });
  t.match(mine?.connect_time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  t.ok(clients.rows.find((r) => r.database === 'pgporter' && r.user === 'viewer'), 'the console session itself is listed');

  const servers = await cols('SHOW SERVERS');
  t.same(servers.names, ['tenant', 'type', 'user', 'database', 'state', 'addr', 'port', 'local_addr', 'local_port', 'connect_time', 'request_time', 'link', 'remote_pid', 'tls', 'close_needed', 'upstream', 'role']);
  t.equal(servers.rows.length, 1);
  t.match(servers.rows[0], { tenant: 'demo', type: 'S', state: 'active', addr: '127.0.0.1', port: String(env.pg.port), link: mine?.id });
  t.equal(mine?.link, servers.rows[0]?.remote_pid, 'the client links to the server serving it');
  const pid = (await app.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
  t.equal(servers.rows[0]?.remote_pid, String(pid), 'remote_pid is the backend pid');

  const stats = await cols('SHOW STATS');
  t.same(stats.names, ['tenant', 'total_xact_count', 'total_query_count', 'total_received', 'total_sent', 'total_xact_time', 'total_query_time', 'total_wait_time', 'avg_xact_count', 'avg_query_count', 'avg_recv', 'avg_sent', 'avg_xact_time', 'avg_query_time', 'avg_wait_time']);
  const st = stats.rows.find((r) => r.tenant === 'demo');
  t.ok(Number(st?.total_query_count) >= 3, `queries counted: ${st?.total_query_count}`);
  t.ok(Number(st?.total_query_time) > 0, `query time counted: ${st?.total_query_time} µs`);

  const tenants = await cols('SHOW TENANTS');
  t.same(tenants.names, ['tenant', 'host', 'port', 'upstream_tls', 'pool_mode', 'pool_size', 'min_pool_size', 'max_client_conn', 'auth_method', 'require_tls', 'allowlist_entries', 'fly_app', 'fly_machine', 'cl_count']);
  t.match(tenants.rows, [{ tenant: 'demo', port: String(env.pg.port), pool_mode: 'transaction', pool_size: '3', auth_method: 'trust', cl_count: '1' }]);

  const config = await cols('SHOW CONFIG');
  t.same(config.names, ['key', 'value', 'default', 'changeable']);
  const byKey = new Map(config.rows.map((r) => [r.key, r]));
  t.match(byKey.get('listen.host'), { value: '127.0.0.1', default: '0.0.0.0', changeable: 'no' });
  const users = String(byKey.get('admin.consoleUsers')?.value);
  t.notMatch(users, /secret/, 'console passwords are redacted');
  t.match(users, /\[redacted\]/);
  t.notMatch(String(byKey.get('admin.tokens')?.value), /test-token/, 'admin tokens are redacted');

  const version = await cols('SHOW VERSION');
  t.same(version.names, ['version']);
  t.match(version.rows[0]?.version, /^pgporter \d+\.\d+\.\d+/);

  const nodes = await cols('SHOW NODES');
  t.same(nodes.names, ['node_id', 'slot', 'self', 'started_at', 'expires_at', 'healthy', 'shared']);
  t.match(nodes.rows, [{ self: true, shared: false }]);
});

t.test('errors: unknown commands 42601, extended protocol 0A000, unknown tenant 42704; RESUME and RELOAD work; the session goes on', async (t) => {
  const c = await consoleClient(ADMIN);
  t.teardown(() => c.end());
  await t.rejects(c.query('SHOW NONSENSE'), { code: '42601', message: /unrecognized SHOW topic "NONSENSE"/ });
  await t.rejects(c.query('SELECT 1'), { code: '42601', message: /unrecognized console command/ });
  await t.rejects(c.query({ text: 'SHOW POOLS', values: [1] }), { code: '0A000', message: /extended query protocol/ });
  // PAUSE itself waits for transactions under way (test/drain.test.ts covers it through the admin API).
  await t.rejects(c.query('PAUSE nosuch'), { code: '42704' });
  t.equal((await c.query('RESUME')).command, 'RESUME');
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  t.equal((await c.query('RELOAD')).command, 'RELOAD', 'RELOAD re-reads the file');
  t.match(notices.join('\n'), /reloaded: nothing changed/);
  await t.rejects(c.query('KILL nosuch'), { code: '42704' });
  const r = await c.query('SHOW VERSION');
  t.equal(r.rows.length, 1, 'the session still answers');
});

t.test('a readonly user sees but may not change: KILL and SHUTDOWN get 42501', async (t) => {
  const c = await consoleClient(VIEWER);
  t.teardown(() => c.end());
  await t.rejects(c.query('KILL demo'), { code: '42501', message: /KILL needs an admin console user/ });
  await t.rejects(c.query('SHUTDOWN'), { code: '42501' });
  const r = await psql(conninfo(VIEWER), 'KILL demo');
  t.not(r.code, 0);
  t.match(r.stderr, /permission denied/);
  t.equal(appErrors.length, 0, 'the pooled client was not touched');
});

t.test('a wrong password gets 28P01; so does an unknown console user', async (t) => {
  const r = await psql(conninfo({ name: 'admin', password: 'wrong' }), 'SHOW POOLS');
  t.not(r.code, 0);
  t.match(r.stderr, /password authentication failed for user "admin"/);
  const c = new pg.Client({ host: '127.0.0.1', port: env.porter.port, user: 'nobody', password: 'x', database: 'pgporter' });
  await t.rejects(c.connect(), { code: '28P01' });
});

t.test('a client address outside admin.consoleAllowlist is refused (28000), before authentication', async (t) => {
  const conn = await rawConnection(env.porter.port);
  conn.socket.write(Buffer.concat([Buffer.from(`PROXY TCP4 203.0.113.7 127.0.0.1 5000 ${env.porter.port}\r\n`), startupMessage({ user: 'admin', database: 'pgporter' })]));
  const bytes = await conn.closed;
  const err = firstError(bytes);
  t.equal(err?.C, '28000');
  t.equal(err?.M, 'no admin console allowlist entry for host "203.0.113.7"');
  t.equal(bytes[0], 'E'.charCodeAt(0), 'no authentication request was sent first');
});

t.test('KILL tenant ends its sessions with 57P01 and closes its servers', async (t) => {
  const c = await consoleClient(ADMIN);
  t.teardown(() => c.end());
  const r = await c.query('KILL demo');
  t.equal(r.command, 'KILL');
  await waitFor(() => appErrors.length > 0, 'the pooled client to be ended');
  t.equal(appErrors[0]?.code, '57P01');
  t.match(appErrors[0]?.message, /terminating connection due to administrator command/);
  await waitFor(async () => (await c.query('SHOW SERVERS')).rows.length === 0, 'its servers to close');
  t.same((await c.query('SHOW CLIENTS')).rows.filter((r) => r.tenant === 'demo'), []);
});

t.test('SHUTDOWN from an admin stops pgporter', async (t) => {
  const r = await psql(conninfo(ADMIN), 'SHUTDOWN');
  t.equal(r.code, 0, r.stderr);
  await waitFor(() => env.porter.proc.exitCode !== null, 'pgporter to exit', 15_000);
  t.equal(env.porter.proc.exitCode, 0);
  t.ok(env.porter.find({ event: 'console_shutdown', user: 'admin' }).length, 'logged who asked');
});
