// Socket reader tests over real loopback TCP: who the client is, what the next stage receives, and every refusal.
import t from 'tap';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readProxyHeader, type ReadProxyHeaderOptions } from '../src/proxy/proxy-header-reader.js';
import { sleep } from './fixtures/ports.js';
import { SSL_REQUEST, v2, IPV4_BLOCK, IPV6_BLOCK } from './fixtures/proxy-headers.js';

const trustAll = () => true;
const trustNone = () => false;
const opts = (mode: ReadProxyHeaderOptions['mode'], isTrusted: (ip: string) => boolean, timeoutMs = 5000): ReadProxyHeaderOptions => ({ mode, isTrusted, timeoutMs });

/** A listening server; each accepted socket is handed to the next `accept()` caller. Closed with the test. */
async function listen(t: { teardown(fn: () => unknown): void }, host = '127.0.0.1'): Promise<{ server: Server; port: number; accept(): Promise<Socket> }> {
  const queue: Socket[] = [];
  const waiters: Array<(s: Socket) => void> = [];
  const sockets: Socket[] = [];
  const server = createServer((sock) => {
    sockets.push(sock);
    sock.on('error', () => {}); // a reset after the test is done must not crash the run
    const w = waiters.shift();
    if (w) w(sock);
    else queue.push(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return {
    server,
    port: (server.address() as { port: number }).port,
    accept: () => new Promise<Socket>((resolve) => (queue.length > 0 ? resolve(queue.shift()!) : waiters.push(resolve))),
  };
}

/** Connects a client and starts readProxyHeader on the server side of that connection. */
async function session(t: { teardown(fn: () => unknown): void }, o: ReadProxyHeaderOptions, host = '127.0.0.1', connectHost = host) {
  const srv = await listen(t, host);
  const client = connect(srv.port, connectHost);
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await new Promise<void>((r) => client.once('connect', () => r()));
  const socket = await srv.accept();
  const outcome = readProxyHeader(socket, o);
  outcome.catch(() => {}); // asserted by each test; avoid an unhandled rejection in between
  return { client, socket, outcome };
}

/** Everything the next stage reads from the paused socket until `n` bytes have arrived. */
function nextStageReads(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let len = 0;
    socket.on('data', (chunk: Buffer) => {
      got.push(chunk);
      len += chunk.length;
      if (len >= n) resolve(Buffer.concat(got));
    });
    socket.resume();
  });
}

t.test('v1 header split across delayed writes; the startup bytes after it reach the next stage intact', async (t) => {
  const { client, socket, outcome } = await session(t, opts('required', trustAll));
  const header = Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 51234 5432\r\n');
  const stream = Buffer.concat([header, SSL_REQUEST]);
  // The third write ends 3 bytes into the SSLRequest, so the handover happens mid-message.
  for (const [from, to] of [[0, 3], [3, 20], [20, header.length + 3], [header.length + 3, stream.length]] as const) {
    client.write(stream.subarray(from, to));
    await sleep(20);
  }
  const r = await outcome;
  t.equal(r.clientAddress, '192.0.2.1');
  t.equal(r.clientPort, 51234);
  t.equal(r.peerAddress, '127.0.0.1');
  t.equal(r.local, false);
  t.equal(r.header?.version, 1);
  const after = Buffer.concat([SSL_REQUEST, Buffer.from('next')]);
  t.ok(r.rest.length >= 3 && r.rest.equals(after.subarray(0, r.rest.length)), 'bytes that arrived with the header are returned as rest');
  t.equal(socket.listenerCount('data'), 0, 'no data listener left behind');
  t.ok(socket.isPaused(), 'socket handed over paused');

  client.write('next');
  const later = await nextStageReads(socket, after.length - r.rest.length);
  t.same(Buffer.concat([r.rest, later]), after, 'rest + what the next stage reads = the stream after the header');
});

t.test('v2 IPv4 header and the first message in one write', async (t) => {
  const { client, outcome } = await session(t, opts('optional', trustAll));
  client.write(Buffer.concat([v2(0x21, 0x11, IPV4_BLOCK), SSL_REQUEST]));
  const r = await outcome;
  t.match(r, { clientAddress: '192.0.2.1', clientPort: 51234, peerAddress: '127.0.0.1', local: false, header: { version: 2, command: 'proxy' } });
  t.same(r.rest, SSL_REQUEST);
});

t.test('v2 IPv6 source', async (t) => {
  const { client, outcome } = await session(t, opts('required', trustAll));
  client.write(v2(0x21, 0x21, IPV6_BLOCK));
  const r = await outcome;
  t.equal(r.clientAddress, '2001:db8::1');
  t.equal(r.clientPort, 51234);
  t.equal(r.rest.length, 0);
});

t.test('IPv4-mapped IPv6 source is normalised to IPv4', async (t) => {
  const { client, outcome } = await session(t, opts('required', trustAll));
  client.write('PROXY TCP6 ::ffff:192.0.2.7 ::1 40000 5432\r\n');
  t.equal((await outcome).clientAddress, '192.0.2.7');
});

t.test('IPv4-mapped peer address (dual-stack listener) is normalised before the trust check', async (t) => {
  let srv;
  try {
    srv = await listen(t, '::');
  } catch {
    t.pass('no IPv6 on this host; skipped');
    return;
  }
  const client = connect(srv.port, '127.0.0.1');
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const socket = await srv.accept();
  t.equal(socket.remoteAddress, '::ffff:127.0.0.1', 'kernel reports the mapped form');
  const seen: string[] = [];
  const outcome = readProxyHeader(socket, opts('optional', (ip) => (seen.push(ip), true)));
  client.write(SSL_REQUEST);
  const r = await outcome;
  t.same(seen, ['127.0.0.1'], 'isTrusted saw the normalised address');
  t.equal(r.peerAddress, '127.0.0.1');
  t.equal(r.clientAddress, '127.0.0.1');
});

t.test('v2 LOCAL (health check): local, client is the peer', async (t) => {
  const { client, outcome } = await session(t, opts('required', trustAll));
  client.write(v2(0x20, 0x00, Buffer.alloc(0)));
  const r = await outcome;
  t.equal(r.local, true);
  t.equal(r.clientAddress, '127.0.0.1');
  t.equal(r.header?.command, 'local');
});

t.test('v1 UNKNOWN: client is the peer', async (t) => {
  const { client, outcome } = await session(t, opts('required', trustAll));
  client.write('PROXY UNKNOWN\r\n');
  const r = await outcome;
  t.match(r, { clientAddress: '127.0.0.1', peerAddress: '127.0.0.1', local: false, header: { version: 1, family: 'unspec' } });
  t.equal(r.clientPort, client.localPort);
});

t.test('optional mode, header from an untrusted peer: refused', async (t) => {
  const { client, outcome } = await session(t, opts('optional', trustNone));
  client.write('PROXY TCP4 192.0.2.1 198.51.100.2 51234 5432\r\n');
  await t.rejects(outcome, { name: 'ClientError', code: 'PROXY_HEADER_UNTRUSTED', message: 'PROXY protocol header from untrusted address "127.0.0.1"' });
});

t.test('required mode, untrusted peer: refused without reading', async (t) => {
  const { client, socket, outcome } = await session(t, opts('required', trustNone));
  client.write('PROXY TCP4 192.0.2.1 198.51.100.2 51234 5432\r\n');
  await t.rejects(outcome, { code: 'PROXY_HEADER_UNTRUSTED', message: /untrusted address "127\.0\.0\.1"/ });
  t.equal(socket.listenerCount('data'), 0);
});

t.test('required mode, trusted peer without a header: missing', async (t) => {
  const { client, outcome } = await session(t, opts('required', trustAll));
  client.write(SSL_REQUEST);
  await t.rejects(outcome, { code: 'PROXY_HEADER_MISSING', sqlstate: '08P01' });
});

t.test('optional mode without a header: a direct client, its first bytes passed on', async (t) => {
  for (const isTrusted of [trustAll, trustNone]) {
    const { client, socket, outcome } = await session(t, opts('optional', isTrusted));
    client.write(SSL_REQUEST);
    const r = await outcome;
    t.match(r, { clientAddress: '127.0.0.1', clientPort: client.localPort, peerAddress: '127.0.0.1', local: false });
    t.equal(r.header, undefined);
    t.same(r.rest, SSL_REQUEST, `rest is the first bytes (${isTrusted === trustAll ? 'trusted' : 'untrusted'} peer)`);
    t.ok(socket.isPaused());
  }
});

t.test('off mode: resolves at once and reads nothing', async (t) => {
  const { client, socket, outcome } = await session(t, opts('off', trustNone));
  const r = await outcome;
  t.match(r, { clientAddress: '127.0.0.1', peerAddress: '127.0.0.1', local: false });
  t.equal(r.rest.length, 0);
  client.write('PROXY UNKNOWN\r\n');
  t.equal((await nextStageReads(socket, 15)).toString(), 'PROXY UNKNOWN\r\n', 'a header-looking line is left for the next stage');
});

t.test('timeout: nothing sent, or half a header', async (t) => {
  const silent = await session(t, opts('required', trustAll, 200));
  await t.rejects(silent.outcome, { code: 'PROXY_HEADER_TIMEOUT' });
  const partial = await session(t, opts('optional', trustAll, 200));
  partial.client.write('PROXY TCP4 192.0.2.1');
  await t.rejects(partial.outcome, { code: 'PROXY_HEADER_TIMEOUT' });
});

t.test('invalid header: refused with PROXY_HEADER_INVALID', async (t) => {
  const { client, outcome } = await session(t, opts('required', trustAll));
  client.write('PROXY TCP4 192.0.2.1 198.51.100.2 99999 5432\r\n');
  await t.rejects(outcome, { code: 'PROXY_HEADER_INVALID', message: /invalid source port "99999"/ });
});

t.test('client gone before the header completes: CLIENT_GONE, not a ClientError', async (t) => {
  const ended = await session(t, opts('required', trustAll));
  ended.client.end('PROXY TCP4');
  await t.rejects(ended.outcome, { name: 'PgporterError', code: 'CLIENT_GONE', side: 'client' });
  const reset = await session(t, opts('optional', trustAll));
  reset.client.resetAndDestroy();
  await t.rejects(reset.outcome, { code: 'CLIENT_GONE' });
});

t.test('a large first write with a header is framed without waiting for more', async (t) => {
  const { client, outcome } = await session(t, opts('required', trustAll));
  const payload = Buffer.alloc(200_000, 0x41);
  client.write(Buffer.concat([v2(0x21, 0x11, IPV4_BLOCK), payload]));
  const r = await outcome;
  t.equal(r.clientAddress, '192.0.2.1');
  t.ok(r.rest.length > 0 && r.rest.length <= payload.length, 'rest is the start of the payload');
  t.ok(r.rest.equals(payload.subarray(0, r.rest.length)), 'and intact');
});
