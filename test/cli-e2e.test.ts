// The real `pgporter allowlist` and `pgporter tenants` commands against a running pgporter: edits are enforced on the next connection.
import t from 'tap';
import { execFile } from 'node:child_process';
import { PostgresFixture } from './fixtures/postgres.js';
import { CLI, PgporterProcess } from './fixtures/pgporter.js';
import { freePort } from './fixtures/ports.js';
import { psql } from './fixtures/clients.js';

const db = await PostgresFixture.start();
t.teardown(() => db.destroy());
const porter = await PgporterProcess.start({
  config: {
    proxyProtocol: { mode: 'off' },
    tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: db.port }, auth: { method: 'trust' }, allowlist: ['192.0.2.0/24'] }],
  },
});
t.teardown(() => porter.stop());

function cli(args: string[], token = 'test-token-0123456789', url = `http://127.0.0.1:${porter.adminPort}`): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, PGPORTER_ADMIN_URL: url, PGPORTER_ADMIN_TOKEN: token } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const connect = () => psql(`postgres://trusty@127.0.0.1:${porter.port}/postgres?sslmode=disable`, 'SELECT 1');

t.test('allowlist add through the CLI admits the next connection', async (t) => {
  const before = await connect();
  t.match(before.stderr, /no allowlist entry for host "127\.0\.0\.1", tenant "acme"/);
  const add = await cli(['allowlist', 'add', 'acme', '127.0.0.1']);
  t.equal(add.code, 0, add.stderr);
  const after = await connect();
  t.equal(after.code, 0, after.stderr);
  const list = await cli(['allowlist', 'list', 'acme', '--json']);
  t.equal(list.code, 0, list.stderr);
  t.same((JSON.parse(list.stdout) as { entries: string[] }).entries, ['192.0.2.0/24', '127.0.0.1']);
});

t.test('allowlist remove through the CLI refuses it again', async (t) => {
  const rm = await cli(['allowlist', 'remove', 'acme', '127.0.0.1']);
  t.equal(rm.code, 0, rm.stderr);
  const again = await connect();
  t.not(again.code, 0);
  t.match(again.stderr, /no allowlist entry/);
});

t.test('tenants list shows a table; scripts get exit codes', async (t) => {
  const list = await cli(['tenants', 'list']);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /acme/);
  t.match(list.stdout, new RegExp(`127\\.0\\.0\\.1:${db.port}`));
  t.equal((await cli(['tenants', 'list'], 'wrong-token-0123456789')).code, 1, 'wrong token: refused by the API');
  t.equal((await cli(['allowlist', 'add', 'acme', '10.0.0.0/33'])).code, 1, 'malformed CIDR: refused by the API');
  t.equal((await cli(['allowlist', 'frobnicate', 'acme'])).code, 2, 'usage error');
  t.equal((await cli(['tenants', 'list'], undefined, `http://127.0.0.1:${await freePort()}`)).code, 3, 'unreachable');
});
