// A second SSLRequest or GSSENCRequest after one was answered is not answered again: like PostgreSQL, pgporter reads it as a startup packet of protocol 1234.5679/5680 and refuses it with FATAL 0A000; each case runs against PostgreSQL first.
import t from 'tap';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { makeCert } from './fixtures/certs.js';
import { firstError, rawConnection } from './fixtures/clients.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { PostgresFixture } from './fixtures/postgres.js';

const SSL = 80877103;
const GSS = 80877104;
const request = (code: number) => {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(code, 4);
  return b;
};

const cert = makeCert();
t.teardown(() => cert.remove());
const plainPg = await PostgresFixture.start();
t.teardown(() => plainPg.destroy());
const sslPg = await PostgresFixture.start({ ssl: cert });
t.teardown(() => sslPg.destroy());
const tenants = [{ id: 'acme', upstream: { host: '127.0.0.1', port: plainPg.port }, auth: { method: 'trust' } }];
const plainPorter = await PgporterProcess.start({ config: { proxyProtocol: { mode: 'off' }, tenants } });
t.teardown(() => plainPorter.stop());
const tlsPorter = await PgporterProcess.start({
  config: { proxyProtocol: { mode: 'off' }, tls: { certFile: cert.certFile, keyFile: cert.keyFile, requireTls: false }, tenants },
});
t.teardown(() => tlsPorter.stop());

/** Reads exactly one byte (the answer to a negotiation request). */
function oneByte(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      sock.off('close', onClose);
      resolve(d.toString('latin1'));
    };
    const onClose = () => reject(new Error('closed before answering'));
    sock.once('data', onData);
    sock.once('close', onClose);
  });
}

/** Everything the peer sends until it closes (or 3s pass). */
function untilClose(sock: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(Buffer.concat(chunks));
    }, 3000);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * Sends `first`, expects `answer`; with 'S' completes a TLS handshake. Then sends `second` (inside TLS when
 * there is TLS) and returns what came back before the close.
 */
async function renegotiate(port: number, first: number, answer: string, second: number): Promise<{ bytes: Buffer; error?: Record<string, string> }> {
  const raw = await rawConnection(port);
  raw.socket.removeAllListeners('data');
  raw.socket.write(request(first));
  const got = await oneByte(raw.socket);
  if (got !== answer) {
    raw.socket.destroy();
    throw new Error(`expected ${answer}, got ${JSON.stringify(got)}`);
  }
  let sock: Socket = raw.socket;
  if (answer === 'S') {
    const tls: TLSSocket = tlsConnect({ socket: raw.socket, rejectUnauthorized: false });
    tls.on('error', () => {});
    await new Promise<void>((r) => tls.once('secureConnect', () => r()));
    sock = tls;
  }
  const collected = untilClose(sock);
  sock.write(request(second));
  const bytes = await collected;
  sock.destroy();
  const error = firstError(bytes);
  return error ? { bytes, error } : { bytes };
}

const refusal = (minor: number) => ({ S: 'FATAL', C: '0A000', M: `unsupported frontend protocol 1234.${minor}: server supports 3.0 to 3.0` });

const cases: { name: string; first: number; answer: 'S' | 'N'; second: number; minor: number; pg: number; porter: number }[] = [
  { name: "a second SSLRequest after 'N'", first: SSL, answer: 'N', second: SSL, minor: 5679, pg: plainPg.port, porter: plainPorter.port },
  { name: 'a second SSLRequest inside TLS', first: SSL, answer: 'S', second: SSL, minor: 5679, pg: sslPg.port, porter: tlsPorter.port },
  { name: 'a GSSENCRequest inside TLS', first: SSL, answer: 'S', second: GSS, minor: 5680, pg: sslPg.port, porter: tlsPorter.port },
];

for (const c of cases) {
  t.test(`${c.name} is refused with FATAL 0A000, not answered`, async (t) => {
    const onPg = await renegotiate(c.pg, c.first, c.answer, c.second);
    t.match(onPg.error, refusal(c.minor), 'PostgreSQL itself');
    const onPorter = await renegotiate(c.porter, c.first, c.answer, c.second);
    t.match(onPorter.error, refusal(c.minor), 'pgporter, the same');
    t.equal(onPorter.bytes[0], 0x45, 'nothing (no S or N) before the ErrorResponse');
  });
}

t.test("a second GSSENCRequest after 'N' is refused with FATAL 0A000", async (t) => {
  // Not checked against PostgreSQL here: Debian's build answers GSSENCRequest 'G' and starts GSSAPI. Its
  // ProcessStartupPacket sets gss_done after any answer, so a repeat reads as protocol 1234.5680, as pgporter does.
  const onPorter = await renegotiate(plainPorter.port, GSS, 'N', GSS);
  t.match(onPorter.error, refusal(5680));
  t.equal(onPorter.bytes[0], 0x45);
});

t.test("after one kind was refused with 'N' the other kind is still answered (clients negotiate in either order)", async (t) => {
  for (const [first, second] of [
    [SSL, GSS],
    [GSS, SSL],
  ] as const) {
    const raw = await rawConnection(plainPorter.port);
    raw.socket.removeAllListeners('data');
    raw.socket.write(request(first));
    t.equal(await oneByte(raw.socket), 'N');
    raw.socket.write(request(second));
    t.equal(await oneByte(raw.socket), 'N', `${first === SSL ? 'GSSENCRequest after SSL N' : 'SSLRequest after GSS N'}`);
    raw.socket.destroy();
  }
  // PostgreSQL answers the second one too.
  const raw = await rawConnection(plainPg.port);
  raw.socket.removeAllListeners('data');
  raw.socket.write(request(SSL));
  t.equal(await oneByte(raw.socket), 'N');
  raw.socket.write(request(GSS));
  t.match(await oneByte(raw.socket), /^[GN]$/, 'PostgreSQL answers a GSSENCRequest after SSL N (G where built with GSSAPI)');
  raw.socket.destroy();
});
