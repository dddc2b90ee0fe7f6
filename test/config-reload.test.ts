// Config reload (SIGHUP, POST /v1/reload) against a real pgporter process: what changes reaches new connections while a client mid-transaction keeps its connection, and a bad file changes nothing.
import t from 'tap';
import pg from 'pg';
import { Socket, connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { PostgresFixture } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { makeCert } from './fixtures/certs.js';
import { metricValue } from './fixtures/login.js';
import { waitFor } from './fixtures/ports.js';

const ADMIN_TOKEN = 'test-token-0123456789'; // the pgporter fixture's admin token

const pgfx = await PostgresFixture.start();
t.teardown(() => pgfx.destroy());
pgfx.sql(`CREATE TABLE reload_marks (n int); GRANT ALL ON reload_marks TO PUBLIC;`);
const cert1 = makeCert('db.test');
t.teardown(() => cert1.remove());
const cert2 = makeCert('db.test');
t.teardown(() => cert2.remove());

const porter = await PgporterProcess.start({
  config: {
    proxyProtocol: { mode: 'optional', trustedProxies: ['10.9.9.9/32'], headerTimeout: '3s' },
    tls: { certFile: cert1.certFile, keyFile: cert1.keyFile, requireTls: false },
    log: { level: 'info' },
    tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: pgfx.port }, auth: { authQuery: { user: 'postgres' } }, pool: { size: 2 } }],
  },
});
t.teardown(() => porter.stop());

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const readFile = (): Yaml => parse(readFileSync(porter.configFile, 'utf8')) as Yaml;
const writeFile = (cfg: Yaml) => writeFileSync(porter.configFile, stringify(cfg));

const admin = (method: string, path: string) =>
  fetch(`http://127.0.0.1:${porter.adminPort}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then(async (r) => ({
    status: r.status,
    json: (await r.json()) as Yaml,
  }));

/** A pg client whose connection starts with a PROXY v1 header claiming `client` as the source. */
function client(user: string, proxyFrom?: string): pg.Client {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: porter.port,
    user,
    password: 'app-secret',
    database: 'postgres',
    ...(proxyFrom
      ? {
          stream: () => {
            const s = new Socket();
            const open = s.connect.bind(s) as (...a: unknown[]) => Socket;
            (s as unknown as { connect: (...a: unknown[]) => Socket }).connect = (...a: unknown[]) => {
              s.once('connect', () => s.write(`PROXY TCP4 ${proxyFrom} 127.0.0.1 40000 6432\r\n`));
              return open(...a);
            };
            return s;
          },
        }
      : {}),
  });
  c.on('error', () => {});
  return c;
}

async function tryLogin(user: string, proxyFrom?: string): Promise<{ ok: true } | { ok: false; code: string; message: string }> {
  const c = client(user, proxyFrom);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return { ok: true };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code ?? 'none', message: (err as Error).message };
  } finally {
    await c.end().catch(() => {});
  }
}

/** SHA-256 fingerprint of the certificate a new TLS connection to pgporter is shown. */
async function servedFingerprint(): Promise<string> {
  const raw = connect({ host: '127.0.0.1', port: porter.port });
  await new Promise<void>((r, j) => raw.once('connect', r).once('error', j));
  raw.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])); // SSLRequest
  const answer = await new Promise<Buffer>((r) => raw.once('data', r));
  if (answer.toString() !== 'S') throw new Error(`SSLRequest answered ${answer.toString()}`);
  const sock = tlsConnect({ socket: raw, servername: 'acme.db.test', rejectUnauthorized: false });
  await new Promise<void>((r, j) => sock.once('secureConnect', r).once('error', j));
  const fp = sock.getPeerX509Certificate()!.fingerprint256;
  sock.destroy();
  return fp;
}
const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

const metric = async (result: string) => metricValue(await porter.metrics(), `pgporter_config_reloads_total{result="${result}"}`);

/** A reload's log line, the n-th (1-based) with that result. */
const reloadLine = (result: string, n: number) =>
  waitFor(() => porter.find({ event: 'config_reload', result })[n - 1], `config_reload ${result} #${n}`, 10_000);

t.test('SIGHUP applies pool size, log level, trusted proxies, certificate and a new tenant while a transaction stays open', async (t) => {
  // Before: 127.0.0.1 is not a trusted proxy, the first certificate is served, globex does not exist.
  const untrusted = await tryLogin('app.acme', '203.0.113.9');
  t.equal(untrusted.ok, false);
  t.match(untrusted, { code: '28000' }, 'a header from an untrusted peer is refused');
  t.equal(await servedFingerprint(), fingerprintOf(cert1.certFile));
  t.match(await tryLogin('app.globex'), { ok: false }, 'no tenant globex yet');

  const open = client('app.acme');
  await open.connect();
  await open.query('BEGIN');
  await open.query('INSERT INTO reload_marks VALUES (1)');
  const pidBefore = (await open.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  const linesBefore = porter.logs.length;

  const cfg = readFile();
  cfg.log.level = 'debug';
  cfg.proxyProtocol.trustedProxies = ['10.9.9.9/32', '127.0.0.1/32'];
  cfg.tls.certFile = cert2.certFile;
  cfg.tls.keyFile = cert2.keyFile;
  cfg.tenants[0].pool.size = 5;
  cfg.tenants.push({ id: 'globex', upstream: { host: '127.0.0.1', port: pgfx.port }, auth: { users: [{ name: 'app', password: 'app-secret' }] } });
  writeFile(cfg);
  porter.proc.kill('SIGHUP');
  const line = await reloadLine('ok', 1);
  t.equal(line.trigger, 'SIGHUP');
  t.same(
    [...(line.changed as string[])].sort(),
    ['log.level', 'proxyProtocol.trustedProxies', 'tenants[0].pool.size', 'tenants[1]', 'tls.certFile', 'tls.keyFile'],
  );
  t.same((line.tenants as Yaml).created, ['globex']);
  t.same((line.tenants as Yaml).updated, ['acme']);

  // The open transaction goes on, on the same server, and commits.
  await open.query('INSERT INTO reload_marks VALUES (2)');
  t.equal((await open.query('SELECT pg_backend_pid() AS pid')).rows[0].pid, pidBefore, 'same server connection');
  await open.query('COMMIT');
  t.equal(pgfx.sql('SELECT count(*) FROM reload_marks'), '2', 'the transaction committed');
  await open.query('BEGIN'); // and a new one starts: the client was never dropped
  await open.query('INSERT INTO reload_marks VALUES (3)');

  // Trusted proxies: 127.0.0.1's header is now believed.
  t.same(await tryLogin('app.acme', '203.0.113.9'), { ok: true });
  const accepted = await porter.waitForLog({ event: 'accepted', client: '203.0.113.9' });
  t.equal(accepted.tenant, 'acme');
  // Certificate: a new connection sees the second one.
  t.equal(await servedFingerprint(), fingerprintOf(cert2.certFile));
  // Tenant added in the file (memory store).
  t.same(await tryLogin('app.globex'), { ok: true });
  // Pool size: the acme pool takes it with its next login (made above).
  const pools = await admin('GET', '/v1/pools');
  const acme = (pools.json.pools as Yaml[]).find((p) => p.tenant === 'acme');
  t.equal(acme?.size, 5);
  // Log level: debug lines now appear, from loggers made before the reload (the acme pool's) too.
  t.equal(porter.logs.slice(0, linesBefore).filter((l) => l.level === 20).length, 0, 'no debug lines at info');
  await waitFor(() => porter.logs.slice(linesBefore).find((l) => l.level === 20 && l.tenant === 'acme'), 'a debug line from the acme pool');

  await open.query('COMMIT');
  t.equal(pgfx.sql('SELECT count(*) FROM reload_marks'), '3');
  await open.end();
  t.equal(await metric('ok'), 1);
});

t.test('a file that fails validation changes nothing and the API says which key', async (t) => {
  const good = readFileSync(porter.configFile, 'utf8');
  const open = client('app.acme');
  await open.connect();
  await open.query('BEGIN');

  const cfg = readFile();
  cfg.log.level = 'warn';
  cfg.tenants[0].pool.size = 0;
  writeFile(cfg);
  const res = await admin('POST', '/v1/reload');
  t.equal(res.status, 400);
  t.equal(res.json.error.code, 'CONFIG_INVALID');
  t.equal(res.json.error.field, 'tenants[0].pool.size');
  t.match(res.json.error.message, /tenants\[0\]\.pool\.size: .*nothing was changed/s);
  const line = await reloadLine('invalid', 1);
  t.equal(line.trigger, 'admin:test');
  t.equal(line.level, 50, 'logged as an error');
  t.equal(await metric('invalid'), 1);

  // Nothing changed: still debug, still pool size 5, and the open client goes on.
  const n = porter.logs.length;
  t.same(await tryLogin('app.acme'), { ok: true });
  await waitFor(() => porter.logs.slice(n).find((l) => l.level === 20), 'debug lines still logged');
  const acme = ((await admin('GET', '/v1/pools')).json.pools as Yaml[]).find((p) => p.tenant === 'acme');
  t.equal(acme?.size, 5);
  await open.query('COMMIT');
  await open.end();

  // A certificate that cannot be loaded is refused the same way.
  const bad = parse(good) as Yaml;
  bad.tls.certFile = porter.configFile; // not a certificate
  writeFile(bad);
  const res2 = await admin('POST', '/v1/reload');
  t.equal(res2.status, 400);
  t.equal(res2.json.error.field, 'tls.certFile');
  t.equal(await servedFingerprint(), fingerprintOf(cert2.certFile), 'the working certificate is still served');
  writeFileSync(porter.configFile, good);
});

t.test('a change that needs a restart is refused naming the option, and nothing else in the file applies', async (t) => {
  const cfg = readFile();
  cfg.listen.port = 1; // the fixture's is 0 (any free port)
  cfg.admin.tokens = [...cfg.admin.tokens, { name: 'second', token: 'another-token-0123456789' }];
  cfg.log.level = 'error';
  writeFile(cfg);
  const res = await admin('POST', '/v1/reload');
  t.equal(res.status, 409);
  t.equal(res.json.error.code, 'CONFIG_NOT_RELOADABLE');
  t.equal(res.json.error.field, 'listen.port');
  t.match(res.json.error.message, /listen\.port, admin\.tokens; nothing was changed/);
  t.equal(await metric('refused'), 1);
  const n = porter.logs.length;
  t.same(await tryLogin('app.acme'), { ok: true });
  await waitFor(() => porter.logs.slice(n).find((l) => l.level === 30 && l.event === 'accepted'), 'info lines still logged');

  // Restoring the listen port and tokens lets the rest apply.
  const fixed = readFile();
  fixed.listen.port = 0;
  fixed.admin.tokens = fixed.admin.tokens.slice(0, 1);
  writeFile(fixed);
  const ok = await admin('POST', '/v1/reload');
  t.equal(ok.status, 200, JSON.stringify(ok.json));
  t.same(ok.json.changed, ['log.level']);
});
