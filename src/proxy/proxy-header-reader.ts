// First step of every connection: read the PROXY protocol header (if the mode expects one) and say who the client really is.
import type { Socket } from 'node:net';
import { ClientError, PgporterError } from '../errors.js';
import { normaliseIp } from '../net/index.js';
import { ProxyHeaderFramer } from './proxy-header-framer.js';
import { decodeProxyHeader, type ProxyHeader } from './proxy-header-decode.js';
import { loginDeadlines } from './janitor.js';

/**
 * `required`: every connection must come from a trusted proxy and start with a header.
 * `optional`: trusted proxies may send a header; anything else is a direct client.
 * `off`: never look for a header.
 */
export type ProxyMode = 'required' | 'optional' | 'off';

export interface ReadProxyHeaderOptions {
  readonly mode: ProxyMode;
  /** Whether a (normalised) peer address may send a PROXY header, i.e. is one of our proxies. */
  readonly isTrusted: (peerIp: string) => boolean;
  /** How long to wait for the header (or, in `optional` mode, the first bytes); the spec suggests at least 3 s. */
  readonly timeoutMs: number;
}

export interface ProxyResult {
  /** The address to apply allowlists to: the header's source when there is one, else the peer. */
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The TCP peer, normalised: the proxy when a header was used. */
  readonly peerAddress: string;
  readonly header?: ProxyHeader;
  /** A v2 LOCAL header: the proxy's own health check. The caller should close cleanly. */
  readonly local: boolean;
  /** Bytes that followed the header (or, without one, every byte read): the start of the Postgres stream. */
  readonly rest: Buffer;
}

/** Code of the error readProxyHeader rejects with when the socket ends or fails first (nothing to send back). */
export const CLIENT_GONE = 'CLIENT_GONE';

const EMPTY = Buffer.alloc(0);

function clientGone(message: string, cause?: unknown): PgporterError {
  return new PgporterError(CLIENT_GONE, 'client_gone', 'client', message, cause === undefined ? undefined : { cause });
}

/**
 * Who a connection without a PROXY header comes from: its TCP peer, normalised (what `off` mode needs, at once and
 * without a promise). A PgporterError coded `CLIENT_GONE` when the socket is already closed.
 */
export function directClient(socket: Socket): ProxyResult | PgporterError {
  const remote = socket.remoteAddress;
  const peerAddress = remote === undefined ? undefined : normaliseIp(remote);
  if (peerAddress === undefined || socket.destroyed) return clientGone('client connection closed before its PROXY protocol header was read');
  return { clientAddress: peerAddress, clientPort: socket.remotePort ?? 0, peerAddress, local: false, rest: EMPTY };
}

/**
 * Reads the PROXY header off a fresh socket. On success the socket is paused with none of our
 * listeners left, so the next stage attaches its own and calls `resume()`; it must also attach an
 * 'error' listener right after the await, as ours is gone. Rejects with a `ClientError` (to send
 * to the client) or a `PgporterError` coded `CLIENT_GONE` (nothing to send).
 */
export function readProxyHeader(socket: Socket, opts: ReadProxyHeaderOptions): Promise<ProxyResult> {
  const direct = directClient(socket);
  if (direct instanceof PgporterError) return Promise.reject(direct);
  if (opts.mode === 'off') return Promise.resolve(direct);
  const peerAddress = direct.peerAddress;

  let trusted: boolean;
  try {
    trusted = opts.isTrusted(peerAddress);
  } catch (err) {
    return Promise.reject(err);
  }
  // In required mode an untrusted peer is refused whatever it sends, so there is no point reading from it.
  if (opts.mode === 'required' && !trusted) {
    return Promise.reject(
      new ClientError('PROXY_HEADER_UNTRUSTED', `connection from untrusted address "${peerAddress}": a PROXY protocol header from a trusted proxy is required`),
    );
  }

  return new Promise<ProxyResult>((resolve, reject) => {
    const framer = new ProxyHeaderFramer();
    let settled = false;

    const finish = (): void => {
      settled = true;
      loginDeadlines.delete(deadline);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.off('error', onError);
      socket.pause();
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      finish();
      reject(err);
    };
    const succeed = (result: ProxyResult): void => {
      if (settled) return;
      finish();
      resolve(result);
    };

    const onData = (chunk: Buffer): void => {
      if (settled) return;
      let frame;
      try {
        frame = framer.push(chunk);
      } catch (err) {
        fail(err);
        return;
      }
      if (frame.status === 'need-more') return;
      if (frame.status === 'absent') {
        if (opts.mode === 'required') {
          // Keep what was read: when it is a Postgres startup, the caller can still answer in a way psql prints.
          fail(Object.assign(new ClientError('PROXY_HEADER_MISSING', 'connection did not start with a PROXY protocol header', { hint: 'Connect through the load balancer.' }), { rest: frame.rest }));
        } else {
          succeed({ ...direct, rest: frame.rest });
        }
        return;
      }
      // Only the trusted proxies may speak for someone else; anyone else sending a header is spoofing.
      if (!trusted) {
        fail(new ClientError('PROXY_HEADER_UNTRUSTED', `PROXY protocol header from untrusted address "${peerAddress}"`));
        return;
      }
      let header: ProxyHeader;
      try {
        header = decodeProxyHeader(frame.header);
      } catch (err) {
        fail(err);
        return;
      }
      if (header.command === 'local') {
        succeed({ ...direct, header, local: true, rest: frame.rest });
      } else if (header.source !== undefined) {
        succeed({ clientAddress: header.source.address, clientPort: header.source.port, peerAddress, header, local: false, rest: frame.rest });
      } else {
        succeed({ ...direct, header, rest: frame.rest });
      }
    };
    const onEnd = (): void => fail(clientGone('client closed the connection before sending a complete PROXY protocol header'));
    const onClose = (): void => fail(clientGone('client connection closed before its PROXY protocol header was read'));
    const onError = (err: Error): void => fail(clientGone(`client connection failed before its PROXY protocol header was read: ${err.message}`, err));

    const deadline = {
      due: Date.now() + opts.timeoutMs,
      expire: () => fail(new ClientError('PROXY_HEADER_TIMEOUT', `timed out after ${opts.timeoutMs} ms waiting for the PROXY protocol header`)),
    };
    loginDeadlines.add(deadline);

    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    // A socket accepted with pauseOnConnect (or paused by the caller) does not flow just because we listen.
    socket.resume();
  });
}
