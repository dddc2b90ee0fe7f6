// Every way the front door refuses a connection ends with an ErrorResponse psql prints (or a clean close), never a crash.
import t from 'tap';
import { PostgresFixture } from './fixtures/postgres.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { HaproxyFixture } from './fixtures/haproxy.js';
import { firstError, psql, rawConnection, startupMessage } from './fixtures/clients.js';
import { sleep } from './fixtures/ports.js';
import { V2_SIGNATURE } from './fixtures/proxy-headers.js';

const pgfx = await PostgresFixture.start();
t.teardown(() => pgfx.destroy());
const tenants = [{ id: 'acme', upstream: { host: '127.0.0.1', port: pgfx.port }, auth: { authQuery: { user: 'postgres' } } }];

// Trusts only a documentation address, so haproxy on loopback is an untrusted sender.
const untrusting = await PgporterProcess.start({
  config: { proxyProtocol: { mode: 'optional', trustedProxies: ['192.0.2.1/32'], headerTimeout: '1s' }, startup: { timeout: '1s' }, tenants },
});
t.teardown(() => untrusting.stop());
const required = await PgporterProcess.start({
  config: { proxyProtocol: { mode: 'required', trustedProxies: ['127.0.0.1/32'], headerTimeout: '500ms' }, tenants },
});
t.teardown(() => required.stop());


t.test('a PROXY header from an untrusted peer is refused with 28000', async (t) => {
  const ha = await HaproxyFixture.start({ targetPort: untrusting.port, proxy: 'v2', source: '203.0.113.7' });
  t.teardown(() => ha.stop());
  const r = await psql(`postgres://app:app-secret@127.0.0.1:${ha.port}/postgres`, 'SELECT 1');
  t.not(r.code, 0, 'psql failed');
  const line = await untrusting.waitForLog({ event: 'refused', code: 'PROXY_HEADER_UNTRUSTED' });
  t.equal(line.sqlstate, '28000');
  t.equal(untrusting.find({ event: 'accepted' }).length, 0, 'nothing was admitted');
});

t.test('optional mode: an untrusted direct client without a header is served under its own address', async (t) => {
  const r = await psql(`postgres://app:app-secret@127.0.0.1:${untrusting.port}/postgres`, 'SELECT 7');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '7');
  const line = await untrusting.waitForLog({ event: 'accepted' });
  t.equal(line.client, '127.0.0.1');
});

t.test('required mode: no header gets a FATAL psql prints', async (t) => {
  const r = await psql(`postgres://app:app-secret@127.0.0.1:${required.port}/postgres`, 'SELECT 1');
  t.not(r.code, 0);
  t.match(r.stderr, /FATAL: +connection did not start with a PROXY protocol header/, 'psql shows the reason');
  const line = await required.waitForLog({ event: 'refused', code: 'PROXY_HEADER_MISSING' });
  t.equal(line.sqlstate, '08P01');
});

t.test('required mode: garbage instead of a header gets 08P01 and a close', async (t) => {
  const c = await rawConnection(required.port);
  c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const got = await c.closed;
  t.equal(firstError(got)?.C, '08P01');
});

t.test('a malformed header from a trusted peer is refused with 08P01', async (t) => {
  const c = await rawConnection(required.port);
  c.socket.write('PROXY TCP4 203.0.113.7 10.0.0.1 99999 5432\r\n');
  const err = firstError(await c.closed);
  t.equal(err?.C, '08P01');
  t.match(err?.M, /port/i, 'the message says what is wrong');
});

t.test('a header that never completes times out', async (t) => {
  const c = await rawConnection(required.port);
  c.socket.write(V2_SIGNATURE.subarray(0, 7));
  const err = firstError(await c.closed);
  t.equal(err?.C, '08P01');
  const line = await required.waitForLog({ event: 'refused', code: 'PROXY_HEADER_TIMEOUT' });
  t.equal(line.reason, 'proxy_timeout');
});

t.test('a v2 LOCAL header (health check) is answered by a clean close', async (t) => {
  const c = await rawConnection(required.port);
  const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  c.socket.write(local);
  const got = await c.closed;
  t.equal(got.length, 0, 'nothing is sent back');
  const m = await required.metrics();
  t.match(m, /pgporter_proxy_headers_total\{version="2",family="local"\} 1/);
});

t.test('the process survives all of the above and still serves', async (t) => {
  const ha = await HaproxyFixture.start({ targetPort: required.port, proxy: 'v1', source: '198.51.100.9' });
  t.teardown(() => ha.stop());
  const r = await psql(`postgres://app:app-secret@127.0.0.1:${ha.port}/postgres`, 'SELECT 1');
  t.equal(r.code, 0, r.stderr);
  t.equal(required.proc.exitCode, null);
  t.equal(untrusting.proc.exitCode, null);
});

t.test('startup protocol errors', async (t) => {
  const send = async (bytes: Buffer) => {
    const c = await rawConnection(untrusting.port);
    c.socket.write(bytes);
    const got = await Promise.race([c.closed, sleep(5000).then(() => c.received())]);
    c.socket.destroy();
    return got;
  };
  const v2 = await send(startupMessage({ user: 'app' }, 2, 0));
  t.equal(firstError(v2)?.C, '0A000', 'protocol 2.0 refused with feature_not_supported');
  t.match(firstError(v2)?.M, /unsupported frontend protocol 2\.0/);

  const huge = Buffer.alloc(8);
  huge.writeInt32BE(1_000_000, 0);
  huge.writeInt32BE(196608, 4);
  t.equal(firstError(await send(huge))?.C, '08P01', 'oversized startup packet');

  const nouser = await send(startupMessage({ database: 'postgres' }));
  t.equal(firstError(nouser)?.C, '28000', 'no user name');

  const bad = startupMessage({ user: 'app' });
  bad[bad.length - 1] = 0x41; // no terminator
  t.equal(firstError(await send(bad))?.C, '08P01', 'missing terminator');

  // Newer minor version: NegotiateProtocolVersion ('v') with the newest minor we speak and the unknown _pq_ option.
  const c = await rawConnection(untrusting.port);
  c.socket.write(startupMessage({ user: 'trusty', database: 'postgres', '_pq_.test_option': 'x' }, 3, 5));
  await sleep(500);
  const got = c.received();
  c.socket.destroy();
  t.equal(String.fromCharCode(got[0]!), 'v', 'NegotiateProtocolVersion first');
  t.equal(got.readInt32BE(5), 0x30000, 'newest supported version 3.0');
  t.equal(got.readInt32BE(9), 1, 'one unrecognised option');

  // GSSENCRequest gets 'N', after which a normal startup proceeds.
  const g = await rawConnection(untrusting.port);
  const gss = Buffer.alloc(8);
  gss.writeInt32BE(8, 0);
  gss.writeInt32BE(80877104, 4);
  g.socket.write(gss);
  await sleep(200);
  t.equal(g.received().toString(), 'N');
  g.socket.write(startupMessage({ user: 'trusty', database: 'postgres' }));
  await sleep(500);
  const after = g.received().subarray(1);
  t.equal(String.fromCharCode(after[0]!), 'R', 'an authentication request follows the startup sent after GSSENCRequest');
  t.equal(after.readInt32BE(5), 10, 'AuthenticationSASL');
  g.socket.destroy();
});

t.test('a startup that never completes is refused with 08P01 and logged once', async (t) => {
  const c = await rawConnection(untrusting.port);
  c.socket.write(Buffer.from([0, 0, 0, 40])); // the start of a StartupMessage, and then nothing
  const err = firstError(await c.closed);
  t.equal(err?.C, '08P01');
  t.match(err?.M, /timeout/);
  const line = await untrusting.waitForLog({ event: 'refused', code: 'STARTUP_TIMEOUT' });
  await sleep(200);
  const later = untrusting.logs.filter((l) => l.clientPort === line.clientPort && l !== line);
  t.same(later, [], 'no second line for the same connection');
});
