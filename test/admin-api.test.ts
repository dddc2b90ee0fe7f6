// The admin API over real HTTP: token checks, validation errors naming the field, tenant CRUD, allowlist edits and audit lines.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../src/observability/index.js';
import { MemoryStore } from '../src/store/index.js';
import { startAdminServer } from '../src/admin/index.js';
import { parseConfig } from '../src/config/index.js';

const TOKEN = 'tok-ops-0123456789abcdef';
const OTHER = 'tok-ci-0123456789abcdefgh';

async function setup(t: { teardown(fn: () => unknown): void }) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger('info', sink);
  const cfg = parseConfig({
    tenants: [
      {
        id: 'acme',
        upstream: { host: '10.0.0.5' },
        allowlist: ['203.0.113.7'],
        auth: { users: [{ name: 'app', password: 'very-secret-pw' }] },
      },
    ],
  });
  const store = new MemoryStore(cfg.tenants);
  const admin = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    tokens: [
      { name: 'ops', token: TOKEN },
      { name: 'ci', token: OTHER },
    ],
    store,
    logger,
    maxBodyBytes: 4096,
  });
  t.teardown(() => admin.close());
  const base = `http://127.0.0.1:${admin.port}`;
  const call = async (method: string, path: string, body?: unknown, token: string | null = TOKEN, raw?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const res = await fetch(base + path, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
  };
  return { store, admin, call, lines };
}

t.test('authentication', async (t) => {
  const { call } = await setup(t);
  const missing = await call('GET', '/v1/tenants', undefined, null);
  t.equal(missing.status, 401);
  t.equal(missing.headers.get('www-authenticate'), 'Bearer realm="pgporter-admin"');
  t.equal(missing.json.error.code, 'UNAUTHORIZED');
  t.equal((await call('GET', '/v1/tenants', undefined, 'wrong-token-0123456789')).status, 401, 'wrong token');
  t.equal((await call('GET', '/v1/tenants', undefined, TOKEN.slice(0, -1))).status, 401, 'prefix of a token');
  t.equal((await call('GET', '/v1/tenants', undefined, `${TOKEN}x`)).status, 401, 'token plus a character');
  t.equal((await call('GET', '/v1/tenants/nope', undefined, null)).status, 401, 'unknown tenant still 401 first: no probing');
  t.equal((await call('GET', '/v1/tenants', undefined, OTHER)).status, 200, 'second token works');
});

t.test('allowlist edits, validation and audit', async (t) => {
  const { call, store, lines } = await setup(t);
  t.same((await call('GET', '/v1/tenants/acme/allowlist')).json, { tenant: 'acme', entries: ['203.0.113.7'], policy: 'list' });

  const bad = await call('PUT', '/v1/tenants/acme/allowlist', { entries: ['10.0.0.0/8', '10.0.0.0/33'] });
  t.equal(bad.status, 400);
  t.equal(bad.json.error.code, 'INVALID_CIDR');
  t.equal(bad.json.error.field, 'entries.1');
  t.match(bad.json.error.message, /"10\.0\.0\.0\/33"/, 'names the malformed entry');
  t.same(store.getTenant('acme')?.allowlist, ['203.0.113.7'], 'nothing written');

  const bad2 = await call('POST', '/v1/tenants/acme/allowlist/entries', { entries: ['2001:db8::/129'] });
  t.equal(bad2.status, 400);
  t.match(bad2.json.error.message, /2001:db8::\/129/);

  t.equal((await call('GET', '/v1/tenants/nope/allowlist')).status, 404);
  const nf = await call('PUT', '/v1/tenants/nope/allowlist', { entries: [] });
  t.equal(nf.status, 404);
  t.equal(nf.json.error.code, 'TENANT_NOT_FOUND');

  const set = await call('PUT', '/v1/tenants/acme/allowlist', { entries: ['10.0.0.0/8', '2001:db8::/32'] });
  t.equal(set.status, 200);
  t.same(store.getTenant('acme')?.allowlist, ['10.0.0.0/8', '2001:db8::/32']);

  const add = await call('POST', '/v1/tenants/acme/allowlist/entries', { entries: ['198.51.100.9', '10.0.0.0/8'] });
  t.same(add.json.entries, ['10.0.0.0/8', '2001:db8::/32', '198.51.100.9'], 'duplicates skipped');
  const del = await call('DELETE', `/v1/tenants/acme/allowlist/entries/${encodeURIComponent('2001:db8::/32')}`);
  t.equal(del.status, 200);
  t.same(del.json.entries, ['10.0.0.0/8', '198.51.100.9']);
  t.equal((await call('DELETE', `/v1/tenants/acme/allowlist/entries/${encodeURIComponent('198.51.100.9/32')}`)).status, 200, 'matched by canonical form');
  t.equal((await call('DELETE', '/v1/tenants/acme/allowlist/entries/192.0.2.1')).status, 404, 'absent entry');
  t.equal((await call('DELETE', '/v1/tenants/acme/allowlist/entries/not-an-ip')).json.error.code, 'INVALID_CIDR');

  const clear = await call('PUT', '/v1/tenants/acme/allowlist', { entries: null });
  t.same(clear.json, { tenant: 'acme', entries: null, policy: 'allow' });
  t.equal(store.getTenant('acme')?.allowlist, undefined);

  const audits = lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'admin_audit');
  t.equal(audits.length, 5, 'one audit line per change, none for reads or refusals');
  t.same(audits[0].before, { allowlist: ['203.0.113.7'] });
  t.same(audits[0].after, { allowlist: ['10.0.0.0/8', '2001:db8::/32'] });
  t.equal(audits[0].tokenName, 'ops');
  t.equal(audits[0].tenant, 'acme');
  t.notOk(lines.some((l) => l.includes(TOKEN) || l.includes(OTHER)), 'token values never logged');
});

t.test('tenant CRUD round trip', async (t) => {
  const { call, store, lines } = await setup(t);
  const body = { id: 'beta', upstream: { host: 'db.internal', port: 5433 }, allowlist: ['192.0.2.0/24'] };
  const created = await call('POST', '/v1/tenants', body, OTHER);
  t.equal(created.status, 201);
  t.equal(created.json.tenant.upstream.port, 5433);
  t.equal(created.json.tenant.dropDisallowedSessions, false, 'defaults filled');
  t.equal((await call('POST', '/v1/tenants', body)).status, 409);

  const bad = await call('POST', '/v1/tenants', { id: 'Bad Id', upstream: { host: 'x' } });
  t.equal(bad.status, 400);
  t.equal(bad.json.error.field, 'id');
  const bad2 = await call('POST', '/v1/tenants', { id: 'gamma', upstream: { host: 'x', port: 'five' } });
  t.equal(bad2.json.error.field, 'upstream.port');
  const bad3 = await call('POST', '/v1/tenants', { id: 'gamma', upstream: { host: 'x' }, colour: 'red' });
  t.equal(bad3.status, 400, 'unknown field refused');
  t.equal((await call('POST', '/v1/tenants', undefined, TOKEN, '{"id":')).json.error.code, 'INVALID_JSON');
  t.equal((await call('POST', '/v1/tenants', undefined, TOKEN, JSON.stringify({ id: 'x', pad: 'x'.repeat(5000) }))).status, 413);

  const patched = await call('PATCH', '/v1/tenants/beta', { dropDisallowedSessions: true, upstream: { host: 'db2.internal' } });
  t.equal(patched.status, 200);
  t.equal(patched.json.tenant.upstream.host, 'db2.internal');
  t.equal(patched.json.tenant.upstream.port, 5432, 'PATCH replaces the whole top-level field');
  t.same(patched.json.tenant.allowlist, ['192.0.2.0/24'], 'untouched fields kept');
  t.equal((await call('PATCH', '/v1/tenants/beta', { allowlist: null })).json.tenant.allowlist, undefined, 'null removes');
  t.equal((await call('PATCH', '/v1/tenants/beta', { upstream: null })).status, 400, 'required field cannot be removed');
  t.equal((await call('PATCH', '/v1/tenants/beta', { id: 'other' })).status, 400);
  t.equal((await call('PATCH', '/v1/tenants/nope', { requireTls: true })).status, 404);

  const acme = await call('GET', '/v1/tenants/acme');
  t.equal(acme.json.tenant.auth.users[0].password, '[redacted]', 'secrets hidden in responses');
  const echo = await call('PUT', '/v1/tenants/acme', { ...acme.json.tenant, auth: { users: acme.json.tenant.auth.users } });
  t.equal(echo.status, 400, 'a redacted placeholder is not accepted as a secret');
  t.equal(echo.json.error.field, 'auth.users.0.password');
  t.equal(store.getTenant('acme')?.auth.users[0]?.password, 'very-secret-pw');

  const replaced = await call('PUT', '/v1/tenants/beta', { upstream: { host: 'db3.internal' } });
  t.equal(replaced.status, 200);
  t.equal(replaced.json.tenant.id, 'beta');
  t.equal(store.getTenant('beta')?.dropDisallowedSessions, false, 'PUT replaces everything');
  t.equal((await call('PUT', '/v1/tenants/delta', { upstream: { host: 'x' } })).status, 201, 'PUT creates');

  const list = await call('GET', '/v1/tenants');
  t.same(list.json.tenants.map((x: { id: string }) => x.id), ['acme', 'beta', 'delta']);
  t.equal((await call('DELETE', '/v1/tenants/beta')).status, 200);
  t.equal((await call('DELETE', '/v1/tenants/beta')).status, 404);
  t.equal((await call('GET', '/v1/tenants/beta')).status, 404);
  t.equal((await call('GET', '/v1/nothing')).status, 404);
  const wrongMethod = await call('POST', '/v1/tenants/acme');
  t.equal(wrongMethod.status, 405);

  const audits = lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'admin_audit');
  t.same(audits.map((a) => a.action), ['tenant.create', 'tenant.update', 'tenant.update', 'tenant.replace', 'tenant.create', 'tenant.delete']);
  t.equal(audits[0].tokenName, 'ci');
  t.notOk(lines.some((l) => l.includes('very-secret-pw')), 'tenant secrets never logged');
});

t.test('store refusing writes gives 503', async (t) => {
  const { call, store } = await setup(t);
  store.putTenant = async () => {
    const { StoreError } = await import('../src/store/index.js');
    throw new StoreError('STORE_UNAVAILABLE', 'redis', 'Redis write failed: connection closed');
  };
  const r = await call('PUT', '/v1/tenants/acme/allowlist', { entries: ['10.0.0.0/8'] });
  t.equal(r.status, 503);
  t.equal(r.json.error.code, 'STORE_UNAVAILABLE');
});

t.test('routes added by the integrator are authenticated too', async (t) => {
  const { admin, call } = await setup(t);
  admin.route('GET', '/v1/pools', () => ({ status: 200, body: { pools: [] } }));
  t.same((await call('GET', '/v1/pools')).json, { pools: [] });
  t.equal((await call('GET', '/v1/pools', undefined, null)).status, 401);
});
