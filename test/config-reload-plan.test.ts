// The reload marks and plan: every option of the schema has a mark, README's table is the one the marks render, and a plan sorts changes correctly.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig, planReload, reloadMarkOf, reloadMarksMarkdown, type Config } from '../src/config/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** A config with every optional block present, so its leaves are every option the schema has. */
const FULL = {
  listen: { host: '127.0.0.1', port: 6432 },
  tls: { certFile: '/x.crt', keyFile: '/x.key' },
  store: { kind: 'redis', redis: { password: 'p', caFile: '/ca' } },
  fleet: { nodeId: 'n1' },
  fly: { token: 't' },
  admin: { tokens: [{ name: 'ops', token: 'x'.repeat(16) }] },
  tenants: [
    {
      id: 'acme',
      upstream: { host: 'h', caFile: '/ca' },
      requireTls: true,
      allowlist: ['10.0.0.0/8'],
      auth: { users: [{ name: 'u', password: 'p' }], authQuery: { user: 'q', password: 'p' } },
      fly: { app: 'a', machineId: 'm1', suspendAfterIdle: '5m', wakeTimeout: '10s' },
      pool: { maxClientConnections: 5, maxClientConnectionsFleet: 9 },
      authFailureBan: { enabled: true, maxFailures: 3, window: '1m', banTime: '1m' },
    },
  ],
};

function leaves(v: unknown, path: string, out: string[]): string[] {
  if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
  else if (Array.isArray(v) && path === 'tenants') v.forEach((x, i) => { leaves(x, `${path}[${i}]`, out); });
  else out.push(path);
  return out;
}

const base = (over: Record<string, unknown> = {}): Config => parseConfig({ ...FULL, ...over }, 'test', {});

t.test('every option of the schema has a reload mark', async (t) => {
  const paths = leaves(base(), '', []);
  t.ok(paths.length > 60, `${paths.length} options`);
  for (const p of paths) t.ok(reloadMarkOf(p), `${p} is marked`);
});

t.test("README's reload table is the one the marks render", async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- reload-marks -->\n([\s\S]*?)\n<!-- end reload-marks -->/.exec(readme);
  t.ok(m, 'README has the reload-marks block');
  t.equal(m?.[1], reloadMarksMarkdown(), 'regenerate it from reloadMarksMarkdown() when the marks change');
});

t.test('a plan names what changed and refuses options that need a restart', async (t) => {
  const cur = base();
  const same = planReload(cur, base());
  t.same(same.changed, []);
  t.same(same.refused, []);

  const next = base({
    listen: { host: '127.0.0.1', port: 7000 },
    log: { level: 'debug' },
    proxyProtocol: { trustedProxies: ['10.1.0.0/16'] },
    pool: { maxClientConnections: 5 },
    tenants: [{ ...FULL.tenants[0], pool: { ...FULL.tenants[0]!.pool, size: 3 } }, { id: 'globex', upstream: { host: 'g' } }],
  });
  const plan = planReload(cur, next);
  t.same(
    Object.fromEntries(plan.changed.map((c) => [c.path, c.kind])),
    {
      'listen.port': 'restart',
      'proxyProtocol.trustedProxies': 'new',
      'log.level': 'existing',
      'pool.maxClientConnections': 'new',
      'tenants[0].pool.size': 'new',
      'tenants[1]': 'new',
    },
  );
  t.same(plan.refused, ['listen.port']);
  t.same(plan.tenants.added.map((x) => x.id), ['globex']);
  t.same(plan.tenants.changed.map((x) => x.id), ['acme']);

  const dropped = planReload(next, cur);
  t.same(dropped.tenants.dropped, ['globex'], 'a tenant gone from the file is reported, not deleted');
});

t.test('an option without a mark counts as needing a restart', async (t) => {
  t.equal(reloadMarkOf('nosuch.option'), undefined);
  t.equal(reloadMarkOf('tenants[4].pool.size')?.kind, 'new');
  t.equal(reloadMarkOf('tenants[4].id')?.kind, 'new');
  t.equal(reloadMarkOf('admin.tokens')?.kind, 'restart');
});
