// The allowlist check: IPv4/IPv6 rules, mapped addresses, default policy, exact refusal wording, large lists and cold starts.
import t from 'tap';
import { createLogger, Metrics } from '../src/observability/index.js';
import { MemoryStore, type Store, type StoreStatus, type TenantRecord } from '../src/store/index.js';
import { createAccessControl } from '../src/netrules/index.js';
import { parseConfig } from '../src/config/index.js';

const logger = createLogger('silent');
const noSessions = { sessionsOf: () => [] };
const tenant = (id: string, allowlist?: string[]): TenantRecord =>
  parseConfig({ tenants: [{ id, upstream: { host: '127.0.0.1' }, ...(allowlist ? { allowlist } : {}) }] }).tenants[0]!;

function ac(store: Store, defaultPolicy: 'allow' | 'deny' = 'allow') {
  return createAccessControl({ store, defaultPolicy, metrics: new Metrics({ defaultMetrics: false }), logger, sessions: noSessions });
}

t.test('IPv4 and IPv6 rules, single addresses and mapped clients', async (t) => {
  const acme = tenant('acme', ['203.0.113.7', '10.0.0.0/8', '2001:db8::7', '2001:db8:1::/48']);
  const a = ac(new MemoryStore([acme]));
  for (const ip of ['203.0.113.7', '10.255.1.2', '::ffff:10.1.2.3', '::ffff:203.0.113.7', '2001:db8::7', '2001:db8:1:ffff::1', '2001:DB8::7']) {
    t.equal(a.check(acme, ip), undefined, `${ip} admitted`);
  }
  for (const ip of ['203.0.113.8', '198.51.100.9', '11.0.0.1', '2001:db8::8', '2001:db8:2::1', '::ffff:198.51.100.9', 'not-an-ip', '']) {
    t.ok(a.check(acme, ip), `${ip} refused`);
  }
  const err = a.check(acme, '198.51.100.9')!;
  t.equal(err.sqlstate, '28000');
  t.equal(err.severity, 'FATAL');
  t.equal(err.code, 'ALLOWLIST_DENIED');
  t.equal(err.kind, 'allowlist', 'metric label for connectionsRefused');
  t.equal(err.message, 'no allowlist entry for host "198.51.100.9", tenant "acme"');
  t.equal(a.check(acme, '::ffff:198.51.100.9')!.message, 'no allowlist entry for host "198.51.100.9", tenant "acme"', 'mapped address shown as IPv4');
  t.equal(a.check(acme, '2001:db8:0:0::8')!.message, 'no allowlist entry for host "2001:db8::8", tenant "acme"');
  const bytes = err.toErrorResponse();
  t.equal(bytes[0], 'E'.charCodeAt(0));
  t.ok(bytes.includes(Buffer.from('C28000\0')), 'ErrorResponse carries the SQLSTATE');
});

t.test('an IPv4-mapped IPv6 rule matches plain IPv4 clients', async (t) => {
  const x = tenant('x', ['::ffff:192.0.2.0/120']);
  const a = ac(new MemoryStore([x]));
  t.equal(a.check(x, '192.0.2.77'), undefined);
  t.ok(a.check(x, '192.0.3.1'));
});

t.test('default policy applies to tenants without a list; an empty list admits nobody', async (t) => {
  const open = tenant('open');
  const empty = tenant('empty', []);
  const allow = ac(new MemoryStore([open, empty]), 'allow');
  t.equal(allow.check(open, '198.51.100.9'), undefined);
  t.equal(allow.check(empty, '198.51.100.9')?.sqlstate, '28000');
  const deny = ac(new MemoryStore([open]), 'deny');
  t.equal(deny.check(open, '198.51.100.9')?.message, 'no allowlist entry for host "198.51.100.9", tenant "open"');
});

t.test('10,000 entries compile once and still answer', async (t) => {
  const entries: string[] = [];
  for (let i = 0; i < 10_000; i++) entries.push(`10.${i >> 8}.${i & 255}.0/30`);
  for (let i = 0; i < 100; i++) entries.push(`2001:db8:${i.toString(16)}::/64`);
  const big = tenant('big', entries);
  const store = new MemoryStore([big]);
  const a = ac(store);
  t.equal(a.check(big, '10.39.15.2'), undefined, 'inside the 9999th range');
  t.ok(a.check(big, '10.39.15.4'), 'just past a range');
  t.equal(a.check(big, '2001:db8:63::1'), undefined);
  t.ok(a.check(big, '2001:db8:64::1'));
  // Many checks in a row work on the compiled set (no recompilation per call; timing is the benchmark's business).
  let admitted = 0;
  for (let i = 0; i < 10_000; i++) if (!a.check(big, `10.${(i >> 8) & 255}.${i & 255}.1`)) admitted++;
  t.equal(admitted, 10_000);
});

t.test('an edit takes effect on the next check', async (t) => {
  const store = new MemoryStore([tenant('acme', ['10.0.0.0/8'])]);
  const a = ac(store);
  t.equal(a.check(store.getTenant('acme')!, '10.1.1.1'), undefined);
  await store.putTenant({ ...store.getTenant('acme')!, allowlist: ['192.0.2.0/24'] });
  t.ok(a.check(store.getTenant('acme')!, '10.1.1.1'));
  t.equal(a.check(store.getTenant('acme')!, '192.0.2.9'), undefined);
});

t.test('cold start with the store never loaded refuses restricted tenants with 08004', async (t) => {
  class ColdStore extends MemoryStore {
    override status(): StoreStatus {
      return { healthy: false, loaded: false, version: 0, lastSyncAt: 0 };
    }
  }
  const restricted = tenant('acme', ['10.0.0.0/8']);
  const open = tenant('open');
  const store = new ColdStore([restricted, open]);
  const allow = ac(store, 'allow');
  const err = allow.check(restricted, '10.1.1.1');
  t.equal(err?.code, 'ALLOWLIST_UNAVAILABLE');
  t.equal(err?.sqlstate, '08004');
  t.match(err?.message, /tenant "acme" is unavailable/);
  t.equal(allow.check(open, '10.1.1.1'), undefined, 'unrestricted tenant under default allow still admitted');
  t.equal(ac(store, 'deny').check(open, '10.1.1.1')?.code, 'ALLOWLIST_UNAVAILABLE', 'default deny refuses with 08004 too');
});

t.test('entries gauge per tenant', async (t) => {
  const metrics = new Metrics({ defaultMetrics: false });
  const store = new MemoryStore([tenant('acme', ['10.0.0.0/8', '::1']), tenant('open')]);
  createAccessControl({ store, defaultPolicy: 'allow', metrics, logger, sessions: noSessions });
  const text = await metrics.registry.getSingleMetricAsString('pgporter_allowlist_entries');
  t.match(text, /pgporter_allowlist_entries\{tenant="acme"\} 2/);
  t.notMatch(text, /tenant="open"/);
});
