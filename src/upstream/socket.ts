// Opens the byte stream to a tenant's PostgreSQL: TCP, then SSLRequest and TLS when the tenant's upstream `tls` asks for it; shared by logins and cancels.
// SSL negotiation: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { SSL_REQUEST } from '../protocol/index.js';
import { UpstreamError } from './errors.js';
import type { UpstreamTarget } from './target.js';

/**
 * Resolves with a connected socket (a TLSSocket unless `target.tls` is disable), or rejects with an UpstreamError:
 * UPSTREAM_UNREACHABLE (TCP or handshake failed), UPSTREAM_REFUSED (the server answered the SSLRequest 'N'),
 * UPSTREAM_PROTOCOL (anything but one byte 'S'/'N'), UPSTREAM_TIMEOUT when `signal` aborts first.
 */
export async function openUpstreamSocket(target: UpstreamTarget, signal: AbortSignal): Promise<Socket> {
  const where = `${target.host}:${target.port}`;
  let current: Socket | undefined;
  // One abort path for every stage, so a server that stops answering half way never leaves a promise pending.
  const pending: Pending = {};
  const onAbort = () => {
    current?.destroy();
    pending.reject?.(new UpstreamError('UPSTREAM_TIMEOUT', `timed out connecting to ${where}`));
  };
  if (signal.aborted) throw new UpstreamError('UPSTREAM_TIMEOUT', `timed out connecting to ${where}`);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const sock = netConnect({ host: target.host, port: target.port });
    current = sock;
    sock.setNoDelay(true);
    await stage<void>(pending, sock, 'connect', (err) => new UpstreamError('UPSTREAM_UNREACHABLE', `cannot reach ${where}: ${err?.message ?? 'connection closed'}`, undefined, { cause: err }));
    if (target.tls === 'disable') {
      signal.removeEventListener('abort', onAbort);
      return sock;
    }

    sock.write(SSL_REQUEST);
    const answer = await stage<Buffer>(pending, sock, 'data', (err) =>
      err ? new UpstreamError('UPSTREAM_UNREACHABLE', `connection to ${where} failed: ${err.message}`, undefined, { cause: err })
        : new UpstreamError('UPSTREAM_UNREACHABLE', `${where} closed the connection during SSL negotiation`));
    sock.pause();
    if (answer.length !== 1 || (answer[0] !== 0x53 && answer[0] !== 0x4e)) {
      // More than the one byte would be read as if it came through TLS (CVE-2021-23222); anything else is not PostgreSQL.
      throw new UpstreamError('UPSTREAM_PROTOCOL', `${where} answered the SSLRequest with unexpected data`);
    }
    if (answer[0] === 0x4e) throw new UpstreamError('UPSTREAM_REFUSED', `server ${where} does not accept TLS (upstream tls is ${target.tls})`);

    const tlsSock: TLSSocket = tlsConnect({
      socket: sock,
      // The name checked against the certificate: the host itself, whether a DNS name or an IP (SNI only for names).
      host: target.host,
      ...(isIP(target.host) ? {} : { servername: target.host }),
      rejectUnauthorized: target.tls === 'verify-full',
      ...(target.caFile ? { ca: readFileSync(target.caFile) } : {}),
    });
    current = tlsSock;
    await stage<void>(pending, tlsSock, 'secureConnect', (err) =>
      new UpstreamError('UPSTREAM_UNREACHABLE', `TLS to ${where} failed: ${err?.message ?? 'connection closed during the handshake'}`, undefined, { cause: err }));
    tlsSock.setNoDelay(true);
    signal.removeEventListener('abort', onAbort);
    return tlsSock;
  } catch (err) {
    signal.removeEventListener('abort', onAbort);
    current?.destroy();
    throw err;
  }
}

/** The stage in progress, which an abort rejects. */
interface Pending {
  reject?: ((err: Error) => void) | undefined;
}

/** Waits for `event` on `sock`; an error or close first rejects with `fail(err)`. Its listeners are removed either way. */
function stage<T>(pending: Pending, sock: Socket, event: string, fail: (err: Error | undefined) => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      sock.off(event, onEvent);
      sock.off('error', onError);
      sock.off('close', onClose);
      pending.reject = undefined;
    };
    const onEvent = (v: T) => {
      done();
      resolve(v);
    };
    const onError = (err: Error) => {
      done();
      reject(fail(err));
    };
    const onClose = () => {
      done();
      reject(fail(undefined));
    };
    sock.on(event, onEvent);
    sock.on('error', onError);
    sock.on('close', onClose);
    pending.reject = (err) => {
      done();
      reject(err);
    };
  });
}
