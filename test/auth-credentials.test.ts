// Credential lookup: config users before authQuery, TTL cache with negative entries, one query at a time per user, errors not cached; and the auth config schema.
import t from 'tap';
import { CredentialResolver, parseStoredSecret, type AuthQueryRequest, type Credential } from '../src/auth/index.js';
import { parseConfig, type AuthConfig } from '../src/config/index.js';

function tenantConfig(auth: unknown) {
  return parseConfig({ tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: 5432 }, auth }] }).tenants[0]!;
}

t.test('auth config: defaults, validation', async (t) => {
  const d = tenantConfig(undefined).auth;
  t.equal(d.method, 'scram-sha-256');
  t.equal(d.timeout, 10_000);
  t.equal(d.failureDelay, 500);
  t.same(d.users, []);
  const q = tenantConfig({ authQuery: { user: 'postgres' } }).auth.authQuery!;
  t.equal(q.cacheTtl, 60_000);
  t.equal(q.negativeCacheTtl, 5_000);
  t.equal(q.database, 'postgres');
  t.match(q.query, /\$1/);
  t.throws(() => tenantConfig({ users: [{ name: 'a' }] }), /exactly one of/);
  t.throws(() => tenantConfig({ users: [{ name: 'a', password: 'x', md5: 'md5' + '0'.repeat(32) }] }), /exactly one of/);
  t.throws(() => tenantConfig({ users: [{ name: 'a', md5: 'md5xyz' }] }), /md5/);
  t.throws(() => tenantConfig({ users: [{ name: 'a', scramVerifier: 'SCRAM-SHA-256$x' }] }), /SCRAM-SHA-256/);
  t.throws(() => tenantConfig({ users: [{ name: 'a', password: 'x' }, { name: 'a', password: 'y' }] }), /duplicate user/);
  t.throws(() => tenantConfig({ method: 'password' }));
  t.throws(() => tenantConfig({ timeout: '10' }), /duration/);
});

t.test('stored secrets are read like pg_authid.rolpassword', async (t) => {
  t.equal(parseStoredSecret(null), undefined);
  t.equal(parseStoredSecret(''), undefined);
  t.same(parseStoredSecret('md5' + 'a'.repeat(32)), { kind: 'md5', hash: 'md5' + 'a'.repeat(32) });
  t.equal(parseStoredSecret('SCRAM-SHA-256$broken'), undefined, 'a broken verifier is no credential');
  t.equal(parseStoredSecret('plain')?.kind, 'plain');
});

function setup(auth: unknown) {
  const tenant = tenantConfig(auth);
  let clock = 1_000;
  const calls: AuthQueryRequest[] = [];
  let answer: (req: AuthQueryRequest) => Promise<Credential | undefined> = async () => undefined;
  const r = new CredentialResolver({
    tenant: (id) => (id === 'acme' ? { auth: tenant.auth as AuthConfig, upstream: tenant.upstream } : undefined),
    query: (req) => {
      calls.push(req);
      return answer(req);
    },
    now: () => clock,
  });
  return {
    r,
    calls,
    tick: (ms: number) => (clock += ms),
    answer: (f: typeof answer) => (answer = f),
  };
}

t.test('config users come first and never hit the upstream', async (t) => {
  const s = setup({ users: [{ name: 'cfg', password: 'pw' }], authQuery: { user: 'postgres' } });
  t.same(await s.r.lookup('acme', 'cfg'), { kind: 'plain', password: 'pw' });
  t.equal(s.calls.length, 0);
  t.equal(await s.r.lookup('nope', 'cfg'), undefined, 'unknown tenant');
  const noQuery = setup({});
  t.equal(await noQuery.r.lookup('acme', 'x'), undefined, 'no authQuery: unknown user');
});

t.test('authQuery results are cached for cacheTtl, misses for negativeCacheTtl', async (t) => {
  const s = setup({ authQuery: { user: 'postgres', password: 'pg', cacheTtl: '60s', negativeCacheTtl: '5s' }, timeout: '3s' });
  s.answer(async (req) => (req.lookupUser === 'real' ? { kind: 'md5', hash: 'md5' + 'b'.repeat(32) } : undefined));
  t.equal((await s.r.lookup('acme', 'real'))?.kind, 'md5');
  t.same(s.calls[0], {
    tenantId: 'acme',
    host: '127.0.0.1',
    port: 5432,
    tls: 'disable',
    user: 'postgres',
    password: 'pg',
    database: 'postgres',
    query: 'SELECT usename, passwd FROM pg_shadow WHERE usename = $1',
    lookupUser: 'real',
    timeoutMs: 3000,
  });
  t.equal(await s.r.lookup('acme', 'ghost'), undefined);
  t.equal(s.calls.length, 2);
  s.tick(4_000);
  await s.r.lookup('acme', 'real');
  await s.r.lookup('acme', 'ghost');
  t.equal(s.calls.length, 2, 'both still cached');
  s.tick(2_000);
  await s.r.lookup('acme', 'ghost');
  await s.r.lookup('acme', 'real');
  t.equal(s.calls.length, 3, 'the miss expired, the hit did not');
  s.tick(60_000);
  await s.r.lookup('acme', 'real');
  t.equal(s.calls.length, 4, 'the hit expired too');
  s.r.invalidate('acme', 'real');
  await s.r.lookup('acme', 'real');
  t.equal(s.calls.length, 5, 'invalidate forgets');
});

t.test('concurrent lookups of one user share one query; failures are not cached', async (t) => {
  const s = setup({ authQuery: { user: 'postgres' } });
  let release!: () => void;
  s.answer(() => new Promise((r) => (release = () => r({ kind: 'plain', password: 'x' }))));
  const all = Promise.all([1, 2, 3].map(() => s.r.lookup('acme', 'u')));
  await new Promise((r) => setImmediate(r));
  t.equal(s.calls.length, 1, 'single flight');
  release();
  t.same((await all).map((c) => c?.kind), ['plain', 'plain', 'plain']);

  s.answer(async () => Promise.reject(new Error('upstream down')));
  await t.rejects(s.r.lookup('acme', 'v'), /upstream down/);
  s.answer(async () => ({ kind: 'plain', password: 'y' }));
  t.equal((await s.r.lookup('acme', 'v'))?.kind, 'plain', 'retried after the failure');
});
