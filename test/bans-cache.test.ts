// The pieces of failed-login bans without processes: config defaults and refusals, the node's ban cache merging a full read with newer local changes, the bounded failure counter, per-tenant policy and the trusted-proxy exemption.
import t from 'tap';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { BanList, MemoryBanBackend } from '../src/netrules/index.js';
import { BanCache, banKey, parseBanKey } from '../src/netrules/ban-cache.js';
import { FailureCounter } from '../src/netrules/failure-counter.js';
import { createLogger, Metrics } from '../src/observability/index.js';
import { waitFor } from './fixtures/ports.js';

t.test('config: defaults as Supavisor, durations with units, unknown keys refused', async (t) => {
  const c = parseConfig({});
  t.same(c.netrules.authFailureBan, { enabled: true, maxFailures: 10, window: 150_000, banTime: 120_000, syncInterval: 1000 });
  const tenant = parseConfig({ tenants: [{ id: 'a', upstream: { host: 'h' }, authFailureBan: { banTime: '10m' } }] }).tenants[0]!;
  t.same(tenant.authFailureBan, { banTime: 600_000 });
  t.throws(() => parseConfig({ netrules: { authFailureBan: { window: 150 } } }), ConfigError, 'a duration without a unit');
  t.throws(() => parseConfig({ netrules: { authFailureBan: { maxFailure: 3 } } }), ConfigError, 'an unknown key');
  t.throws(() => parseConfig({ netrules: { authFailureBan: { maxFailures: 0 } } }), ConfigError, 'zero failures');
  t.throws(() => parseConfig({ tenants: [{ id: 'a', upstream: { host: 'h' }, authFailureBan: { syncInterval: '1s' } }] }), ConfigError, 'syncInterval is global only');
});

t.test('ban keys split at the first colon, so IPv6 addresses survive', async (t) => {
  t.same(parseBanKey(banKey('acme', '2001:db8::7')), { tenant: 'acme', address: '2001:db8::7' });
  t.equal(parseBanKey('nocolon'), undefined);
  t.equal(parseBanKey(':1.2.3.4'), undefined);
});

t.test('cache: a full read replaces older state but not changes made after the read started', async (t) => {
  const c = new BanCache();
  const far = Date.now() + 60_000;
  c.add('a', '10.0.0.1', far); // known before the read, gone from Redis: dropped
  c.add('a', '10.0.0.2', far); // known before, lifted after the read started: stays lifted
  const since = c.mark();
  c.remove(banKey('a', '10.0.0.2'));
  c.add('a', '10.0.0.3', far); // banned after the read started: kept although the read lacks it
  c.add('a', '10.0.0.4', far, true); // made while Redis was away: kept until written back
  c.replace(
    [
      { tenant: 'a', address: '10.0.0.2', expiresAt: far },
      { tenant: 'a', address: '10.0.0.5', expiresAt: far },
    ],
    since,
  );
  t.same(c.list().map((b) => b.address).sort(), ['10.0.0.3', '10.0.0.4', '10.0.0.5']);
  t.same(c.localOnly().map((b) => b.address), ['10.0.0.4']);
  c.written(banKey('a', '10.0.0.4'));
  t.same(c.localOnly(), []);
  c.keepAll();
  t.equal(c.localOnly().length, 3, 'everything known is to be written back after an outage');
  // The next read no longer sees the lift as newer.
  c.replace([{ tenant: 'a', address: '10.0.0.2', expiresAt: far }], c.mark());
  t.ok(c.get(banKey('a', '10.0.0.2')), 'a ban Redis holds again is taken');
});

t.test('cache: expired bans are not enforced', async (t) => {
  const c = new BanCache();
  c.add('a', '10.0.0.1', Date.now() - 1);
  t.equal(c.get(banKey('a', '10.0.0.1')), undefined);
  t.equal(c.size, 0);
});

t.test('failure counter: a fixed window from the first failure, bounded in size', async (t) => {
  const f = new FailureCounter(2);
  t.equal(f.add('k', 1000, 0), 1);
  t.equal(f.add('k', 1000, 999), 2);
  t.equal(f.add('k', 1000, 1000), 1, 'a new window');
  f.add('x', 1000, 1000);
  f.add('y', 1000, 1000);
  t.equal(f.add('k', 1000, 1001), 1, 'the oldest window was forgotten past the bound');
});

t.test('ban list: per-tenant policy, trusted addresses exempt, lift by any text form', async (t) => {
  const config = parseConfig({ netrules: { authFailureBan: { maxFailures: 2, window: '1m', banTime: '1m' } } });
  const bans = new BanList({
    config,
    logger: createLogger('silent'),
    metrics: new Metrics({ defaultMetrics: false }),
    isTrustedProxy: (ip) => ip === '127.0.0.1',
    backend: new MemoryBanBackend(),
  });
  const [acme, off, strict] = parseConfig({
    tenants: [
      { id: 'acme', upstream: { host: 'h' } },
      { id: 'off', upstream: { host: 'h' }, authFailureBan: { enabled: false } },
      { id: 'strict', upstream: { host: 'h' }, authFailureBan: { maxFailures: 1 } },
    ],
  }).tenants as [never, never, never];
  bans.recordFailure(acme, '203.0.113.7');
  t.equal(bans.check(acme, '203.0.113.7'), undefined, 'one failure: no ban');
  bans.recordFailure(acme, '203.0.113.7');
  const err = await waitFor(() => bans.check(acme, '203.0.113.7'), 'the ban', 1000, 5);
  t.match(err, { code: 'AUTH_BANNED', sqlstate: '28000', kind: 'auth_banned', message: /^too many failed logins from host "203\.0\.113\.7" for tenant "acme": refused for 60 more seconds$/ });
  for (let i = 0; i < 5; i++) bans.recordFailure(off, '203.0.113.7');
  for (let i = 0; i < 5; i++) bans.recordFailure(acme, '127.0.0.1');
  bans.recordFailure(strict, '2001:db8::7');
  await new Promise((r) => setImmediate(r));
  t.equal(bans.check(off, '203.0.113.7'), undefined, 'a tenant with bans off');
  t.equal(bans.check(acme, '127.0.0.1'), undefined, 'a trusted proxy address');
  t.ok(bans.check(strict, '2001:db8::7'), 'maxFailures 1 for this tenant');
  t.equal((await bans.list()).length, 2);
  t.equal((await bans.list('strict')).length, 1);
  t.ok(await bans.lift('strict', '2001:0db8:0:0::7'), 'lifted by a non-canonical form');
  t.equal(bans.check(strict, '2001:db8::7'), undefined);
  await t.rejects(bans.lift('acme', 'nope'), RangeError);
  await bans.close();
});
