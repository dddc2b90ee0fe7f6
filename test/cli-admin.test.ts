// The allowlist and tenants commands against a running admin API, in process with captured output, asserting exit codes.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAllowlistCommand } from '../src/cli/allowlist.js';
import { Capture, CLI_TOKEN, acmeStore, cliAdmin } from './fixtures/cli.js';
import { freePort, tempDir } from './fixtures/ports.js';

t.test('CLI round trip', async (t) => {
  const store = acmeStore();
  const admin = await cliAdmin(store);
  t.teardown(() => admin.close());
  const { env, run } = admin;

  let r = await run('allowlist', ['list', 'acme']);
  t.equal(r.code, 0);
  t.match(r.out, /no allowlist; the default policy applies: allow/);

  r = await run('allowlist', ['add', 'acme', '203.0.113.7', '2001:db8::/32']);
  t.equal(r.code, 0, r.err);
  t.same(store.getTenant('acme')?.allowlist, ['203.0.113.7', '2001:db8::/32']);
  r = await run('allowlist', ['list', 'acme']);
  t.equal(r.out, 'ENTRY\n203.0.113.7\n2001:db8::/32\n', 'human table');
  r = await run('allowlist', ['list', 'acme', '--json']);
  t.same(JSON.parse(r.out), { tenant: 'acme', entries: ['203.0.113.7', '2001:db8::/32'], policy: 'list' });

  r = await run('allowlist', ['add', 'acme', '10.0.0.0/33']);
  t.equal(r.code, 1, 'malformed CIDR refused by the API: exit 1');
  t.match(r.err, /10\.0\.0\.0\/33/);
  t.match(r.err, /INVALID_CIDR/);

  r = await run('allowlist', ['remove', 'acme', '2001:db8::/32']);
  t.equal(r.code, 0);
  t.same(store.getTenant('acme')?.allowlist, ['203.0.113.7']);
  r = await run('allowlist', ['remove', 'acme', '192.0.2.1']);
  t.equal(r.code, 1, 'absent entry: exit 1');

  r = await run('allowlist', ['set', 'acme', '198.51.100.0/24', '192.0.2.1']);
  t.equal(r.code, 0);
  t.same(store.getTenant('acme')?.allowlist, ['198.51.100.0/24', '192.0.2.1']);
  const dir = tempDir('cli');
  t.teardown(() => dir.remove());
  const file = join(dir.path, 'list.txt');
  writeFileSync(file, '# office\n203.0.113.0/24\n\n2001:db8::7  # laptop\n');
  r = await run('allowlist', ['set', 'acme', '--from-file', file]);
  t.equal(r.code, 0, r.err);
  t.same(store.getTenant('acme')?.allowlist, ['203.0.113.0/24', '2001:db8::7']);
  r = await run('allowlist', ['set', 'acme', '--empty']);
  t.match(r.out, /empty allowlist/);
  t.same(store.getTenant('acme')?.allowlist, []);
  r = await run('allowlist', ['set', 'acme', '--clear']);
  t.equal(store.getTenant('acme')?.allowlist, undefined);

  // Usage errors: exit 2, nothing sent.
  t.equal((await run('allowlist', [])).code, 2);
  t.equal((await run('allowlist', ['frobnicate', 'acme'])).code, 2);
  t.equal((await run('allowlist', ['add', 'acme'])).code, 2);
  t.equal((await run('allowlist', ['set', 'acme'])).code, 2);
  t.equal((await run('allowlist', ['list', 'acme', '--bogus'])).code, 2);
  t.equal((await run('allowlist', ['list', 'acme'], { env: { PGPORTER_ADMIN_URL: env.PGPORTER_ADMIN_URL } })).code, 2, 'no token');
  t.equal((await run('allowlist', ['--help'])).code, 0);

  // Refusals and unreachable servers.
  r = await run('allowlist', ['list', 'acme', '--token', 'wrong-token-0123456789']);
  t.equal(r.code, 1, 'wrong token: exit 1');
  t.match(r.err, /401 UNAUTHORIZED/);
  t.equal((await run('allowlist', ['list', 'nope'])).code, 1, 'unknown tenant: exit 1');
  const dead = await freePort();
  r = await run('allowlist', ['list', 'acme', '--url', `http://127.0.0.1:${dead}`]);
  t.equal(r.code, 3, 'unreachable: exit 3');
  t.match(r.err, /cannot reach the admin API/);

  // Tenants.
  r = await run('tenants', ['create', 'beta', '--upstream-host', 'db.internal', '--upstream-port', '5433', '--allowlist', '192.0.2.0/24,2001:db8::1', '--drop-disallowed-sessions', 'true']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /created tenant beta/);
  t.same(store.getTenant('beta'), {
    id: 'beta',
    upstream: { host: 'db.internal', port: 5433, tls: 'disable' },
    allowlist: ['192.0.2.0/24', '2001:db8::1'],
    dropDisallowedSessions: true,
    // Sections the CLI did not set come back with their schema defaults.
    auth: store.getTenant('beta')!.auth,
    pool: store.getTenant('beta')!.pool,
  });
  t.equal((await run('tenants', ['create', 'beta', '--upstream-host', 'x'])).code, 1, 'exists: exit 1');
  t.equal((await run('tenants', ['create', 'gamma'])).code, 2, 'missing host: usage');
  r = await run('tenants', ['update', 'beta', '--upstream-port', '6000']);
  t.equal(r.code, 0, r.err);
  t.same(store.getTenant('beta')?.upstream, { host: 'db.internal', port: 6000, tls: 'disable' }, 'port changed, host kept');
  r = await run('tenants', ['update', 'beta', '--no-allowlist']);
  t.equal(store.getTenant('beta')?.allowlist, undefined);
  r = await run('tenants', ['update', 'beta', '--json-body', '-'], { stdin: '{"requireTls": true}' });
  t.equal(r.code, 0, r.err);
  t.equal(store.getTenant('beta')?.requireTls, true);
  r = await run('tenants', ['create', 'delta', '--json-body', '-'], { stdin: '{"upstream": {"host": "h", "port": 99999}}' });
  t.equal(r.code, 1);
  t.match(r.err, /field upstream\.port/);

  r = await run('tenants', ['list']);
  t.equal(r.code, 0);
  t.match(r.out, /^ID\s+UPSTREAM\s+ALLOWLIST\s+DROP_SESSIONS\n/);
  t.match(r.out, /\nacme\s+10\.0\.0\.5:5432\s+default\s+false\n/);
  t.match(r.out, /\nbeta\s+db\.internal:6000\s+default\s+true\n/);
  r = await run('tenants', ['list', '--json']);
  t.same(JSON.parse(r.out).tenants.map((x: { id: string }) => x.id), ['acme', 'beta']);
  r = await run('tenants', ['show', 'beta']);
  t.equal(JSON.parse(r.out).upstream.port, 6000);
  t.equal((await run('tenants', ['show', 'nope'])).code, 1);
  t.equal((await run('tenants', ['delete', 'beta'])).code, 0);
  t.equal(store.getTenant('beta'), undefined);
  t.equal((await run('tenants', ['delete', 'beta'])).code, 1);
  t.equal((await run('tenants', ['delete'])).code, 2);
});

t.test('a failing store surfaces as exit 3', async (t) => {
  const store = acmeStore();
  const { StoreError } = await import('../src/store/index.js');
  store.putTenant = async () => {
    throw new StoreError('STORE_UNAVAILABLE', 'redis', 'Redis write failed');
  };
  const admin = await cliAdmin(store);
  t.teardown(() => admin.close());
  const stderr = new Capture();
  const code = await runAllowlistCommand(['add', 'acme', '10.0.0.1', '--url', `http://127.0.0.1:${admin.port}`, '--token', CLI_TOKEN], {
    stdout: new Capture(),
    stderr,
    env: {},
  });
  t.equal(code, 3);
  t.match(stderr.text, /503 STORE_UNAVAILABLE/);
});
