// A client's cancel reaches a TLS-only upstream: pgporter sends the CancelRequest after SSLRequest and a TLS handshake, as libpq does, never in plain text.
import t from 'tap';
import postgres from 'postgres';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { TLSSocket } from 'node:tls';
import { makeCert } from './fixtures/certs.js';
import { startPoolEnv } from './fixtures/pool-env.js';
import { PostgresFixture } from './fixtures/postgres.js';

const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;

/**
 * A TLS-only front for PostgreSQL, the way an upstream behind a TLS terminator looks: it answers SSLRequest 'S',
 * terminates TLS and relays the decrypted bytes to the real server; anything that does not start with SSLRequest
 * (a plain StartupMessage or CancelRequest) is dropped. It counts what arrived each way.
 */
async function tlsOnlyFront(pgPort: number, cert: { certFile: string; keyFile: string }) {
  const seen = { plainRefused: 0, cancelsOverTls: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.once('data', (first: Buffer) => {
      if (first.length !== 8 || first.readInt32BE(4) !== SSL_REQUEST_CODE) {
        seen.plainRefused++;
        return void sock.destroy();
      }
      sock.pause();
      sock.write('S');
      const tls = new TLSSocket(sock, { isServer: true, cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) });
      tls.on('error', () => sock.destroy());
      const upstream = connect({ host: '127.0.0.1', port: pgPort });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => tls.destroy());
      tls.once('data', (d: Buffer) => {
        if (d.length >= 8 && d.readInt32BE(4) === CANCEL_REQUEST_CODE) seen.cancelsOverTls++;
        upstream.write(d);
        tls.pipe(upstream);
        upstream.pipe(tls);
      });
      tls.on('close', () => upstream.destroy());
      upstream.on('close', () => tls.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

t.test('cancel through pgporter to an upstream that speaks only TLS ends pg_sleep with 57014', async (t) => {
  const cert = makeCert();
  t.teardown(() => cert.remove());
  const pg = await PostgresFixture.start();
  t.teardown(() => pg.destroy());
  const front = await tlsOnlyFront(pg.port, cert);
  t.teardown(() => front.close());
  const env = await startPoolEnv(
    { mode: 'transaction', size: 2 },
    { pg, config: { tenants: [{ id: 'demo', upstream: { host: '127.0.0.1', port: front.port, tls: 'verify-full', caFile: cert.certFile }, auth: { method: 'trust' }, pool: { mode: 'transaction', size: 2 } }] } },
  );
  t.teardown(() => env.stop());

  const sql = postgres({ ...env.conn, max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  const [ssl] = await sql`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
  t.equal(ssl!.ssl, false, 'the front terminates TLS, so PostgreSQL itself sees plain text: every byte went through the front');
  t.equal(front.seen.plainRefused, 0, 'logins used TLS');

  const q = sql`SELECT pg_sleep(10)`;
  const outcome = q.then(
    () => ({ ended: 'resolved' as const, code: undefined }),
    (err: { code?: string }) => ({ ended: 'rejected' as const, code: err.code }),
  );
  for (let i = 0; i < 100 && pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'`) !== '1'; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  q.cancel();
  let guard: NodeJS.Timeout | undefined;
  const timedOut = new Promise<{ ended: 'guard'; code: undefined }>((r) => (guard = setTimeout(() => r({ ended: 'guard', code: undefined }), 9000)));
  const r = await Promise.race([outcome, timedOut]);
  clearTimeout(guard);
  t.equal(r.ended, 'rejected', 'the query ended before pg_sleep(10) could finish');
  t.equal(r.code, '57014', 'query_canceled');
  t.equal(front.seen.cancelsOverTls, 1, 'the CancelRequest came over TLS');
  t.equal(front.seen.plainRefused, 0, 'and nothing was sent in plain text');
  const [row] = await sql`SELECT 7 AS x`;
  t.equal(row!.x, 7, 'the connection is usable after the cancel');
});
