// Sends a CancelRequest to a tenant's PostgreSQL over the same kind of connection a login uses: SSLRequest and TLS first when the upstream's `tls` is not disable.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS
import { cancelRequest } from '../protocol/index.js';
import type { ServerKey } from './connect.js';
import { openUpstreamSocket } from './socket.js';
import type { UpstreamTarget } from './target.js';

/** How long a cancel may take to be delivered before it is given up. */
const CANCEL_TIMEOUT_MS = 5000;

/**
 * Delivers the server's real key on a new connection and resolves once the server has closed it (it answers a
 * cancel with nothing) or the timeout passed after sending; rejects with UpstreamError (side 'server') when the
 * server cannot be reached or will not speak TLS although the tenant requires it. Like libpq's cancel on an
 * sslmode=require connection, it never falls back to plain text.
 */
export async function cancelUpstream(target: UpstreamTarget, key: ServerKey, timeoutMs = CANCEL_TIMEOUT_MS): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const sock = await openUpstreamSocket(target, ac.signal);
    await new Promise<void>((resolve) => {
      const done = () => {
        ac.signal.removeEventListener('abort', onAbort);
        sock.destroy();
        resolve();
      };
      const onAbort = () => done();
      ac.signal.addEventListener('abort', onAbort, { once: true });
      sock.on('error', done);
      sock.on('close', done);
      sock.resume(); // the server sends nothing, but a paused socket would never see its close
      sock.end(cancelRequest(key.pid, key.secret));
    });
  } finally {
    clearTimeout(timer);
  }
}
