// Only ::ffff:a.b.c.d is an IPv4 client: the IPv4-compatible ::a.b.c.d in a PROXY header (v1 text or v2 bytes) stays IPv6, so an IPv4 allowlist entry does not admit it.
import t from 'tap';
import { CidrSet, normaliseIp, parseCidr } from '../src/net/index.js';
import { decodeProxyHeader } from '../src/proxy/proxy-header-decode.js';
import { createAccessControl } from '../src/netrules/index.js';
import { createLogger, Metrics } from '../src/observability/index.js';
import { MemoryStore } from '../src/store/index.js';
import { parseConfig } from '../src/config/index.js';
import { firstError, rawConnection, startupMessage } from './fixtures/clients.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { v2 } from './fixtures/proxy-headers.js';

const v1 = (line: string) => Buffer.from(`${line}\r\n`, 'latin1');
const hex = (h: string) => Buffer.from(h, 'hex');
const PORTS = Buffer.from([0xc8, 0x22, 0x15, 0x38]);

t.test('normaliseIp: the mapped form becomes IPv4, the compatible form and other embedded-IPv4 text stay IPv6', async (t) => {
  t.equal(normaliseIp('::ffff:203.0.113.7'), '203.0.113.7');
  t.equal(normaliseIp('::ffff:cb00:7107'), '203.0.113.7');
  t.equal(normaliseIp('::203.0.113.7'), '::cb00:7107', 'IPv4-compatible is an IPv6 address');
  t.equal(normaliseIp('::cb00:7107'), '::cb00:7107');
  t.equal(normaliseIp('64:ff9b::203.0.113.7'), '64:ff9b::cb00:7107', 'NAT64 text stays IPv6');
  t.equal(normaliseIp('0:0:0:0:0:0:203.0.113.7'), '::cb00:7107');
  t.equal(normaliseIp('[::203.0.113.7]'), '::cb00:7107');
  t.equal(normaliseIp('::203.0.113'), undefined, 'a short dotted tail is not an address');
  t.equal(normaliseIp('::203.0.113.256'), undefined);
});

t.test('PROXY v1 TCP6 ::203.0.113.7 decodes to an IPv6 source; ::ffff:203.0.113.7 to IPv4', async (t) => {
  t.equal(decodeProxyHeader(v1('PROXY TCP6 ::203.0.113.7 ::1 51234 5432')).source?.address, '::cb00:7107');
  t.equal(decodeProxyHeader(v1('PROXY TCP6 ::1 ::198.51.100.2 51234 5432')).destination?.address, '::c633:6402');
  t.equal(decodeProxyHeader(v1('PROXY TCP6 ::ffff:203.0.113.7 ::1 51234 5432')).source?.address, '203.0.113.7');
});

t.test('PROXY v2 with the same sixteen bytes agrees with v1', async (t) => {
  const compatible = v2(0x21, 0x21, Buffer.concat([hex('000000000000000000000000cb007107'), hex('00000000000000000000000000000001'), PORTS]));
  t.equal(decodeProxyHeader(compatible).source?.address, '::cb00:7107');
  const mapped = v2(0x21, 0x21, Buffer.concat([hex('00000000000000000000ffffcb007107'), hex('00000000000000000000000000000001'), PORTS]));
  t.equal(decodeProxyHeader(mapped).source?.address, '203.0.113.7');
});

t.test('allowlists: 203.0.113.7 does not admit ::203.0.113.7, and a ::203.0.113.7 entry is an IPv6 entry', async (t) => {
  const set = new CidrSet(['203.0.113.7']);
  t.ok(set.has('203.0.113.7'));
  t.ok(set.has('::ffff:203.0.113.7'), 'mapped clients match IPv4 rules');
  t.notOk(set.has('::203.0.113.7'), 'the compatible form is not the IPv4 client');
  t.same(parseCidr('::203.0.113.7').family, 6);
  t.equal(parseCidr('::203.0.113.0/120').canonical, '::cb00:7100/120');
  t.equal(parseCidr('::ffff:203.0.113.0/120').canonical, '203.0.113.0/24', 'a mapped range is still an IPv4 range');
  const v6set = new CidrSet(['::203.0.113.7']);
  t.notOk(v6set.has('203.0.113.7'));
  t.ok(v6set.has('::cb00:7107'));

  const acme = parseConfig({ tenants: [{ id: 'acme', upstream: { host: '127.0.0.1' }, allowlist: ['203.0.113.7'] }] }).tenants[0]!;
  const access = createAccessControl({
    store: new MemoryStore([acme]),
    defaultPolicy: 'allow',
    metrics: new Metrics({ defaultMetrics: false }),
    logger: createLogger('silent'),
    sessions: { sessionsOf: () => [] },
  });
  t.equal(access.check(acme, '203.0.113.7'), undefined);
  t.equal(access.check(acme, '::203.0.113.7')?.message, 'no allowlist entry for host "::cb00:7107", tenant "acme"');
});

t.test('through pgporter: a trusted proxy saying ::203.0.113.7 is refused by an allowlist of 203.0.113.7', async (t) => {
  const pg = await PostgresFixture.start();
  t.teardown(() => pg.destroy());
  const porter = await PgporterProcess.start({
    config: {
      proxyProtocol: { mode: 'required', trustedProxies: ['127.0.0.1/32'], headerTimeout: '3s' },
      tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: pg.port }, auth: { method: 'trust' }, allowlist: ['203.0.113.7'] }],
    },
  });
  t.teardown(() => porter.stop());
  const attempt = async (header: Buffer) => {
    const c = await rawConnection(porter.port);
    c.socket.write(Buffer.concat([header, startupMessage({ user: USERS.trust.user, database: 'postgres' })]));
    const bytes = await Promise.race([c.closed, new Promise<Buffer>((r) => setTimeout(() => r(c.received()), 3000))]);
    c.socket.destroy();
    return { error: firstError(bytes), authOk: bytes.includes(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0])) };
  };
  const compatible = await attempt(v1('PROXY TCP6 ::203.0.113.7 ::1 51234 5432'));
  t.match(compatible.error, { C: '28000', M: 'no allowlist entry for host "::cb00:7107", tenant "acme"' });
  const compatibleV2 = await attempt(v2(0x21, 0x21, Buffer.concat([hex('000000000000000000000000cb007107'), hex('00000000000000000000000000000001'), PORTS])));
  t.match(compatibleV2.error, { C: '28000', M: 'no allowlist entry for host "::cb00:7107", tenant "acme"' });
  // Controls: the same allowlist admits the IPv4 client and its mapped form.
  const plain = await attempt(v1('PROXY TCP4 203.0.113.7 127.0.0.1 51234 5432'));
  t.equal(plain.error, undefined);
  t.ok(plain.authOk, '203.0.113.7 admitted');
  const mapped = await attempt(v1('PROXY TCP6 ::ffff:203.0.113.7 ::1 51234 5432'));
  t.equal(mapped.error, undefined);
  t.ok(mapped.authOk, '::ffff:203.0.113.7 admitted');
});
