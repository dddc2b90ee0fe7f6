// TCP_NODELAY and keepalive for client sockets: set once on the listening socket where accepted sockets inherit them (Linux), else on each accepted socket.
import type { Server, Socket } from 'node:net';

/**
 * How long a client connection may be silent before keepalive probes start: a client that vanished without a FIN
 * (NAT timeout, dead host) is found instead of held forever.
 */
export const CLIENT_KEEPALIVE_MS = 60_000;

/** What Node's TCP handle (net.Server's `_handle`) offers: libuv's setters, returning 0 or an error code. */
interface TcpHandle {
  setNoDelay?(enable: boolean): number;
  setKeepAlive?(enable: boolean, delaySeconds: number): number;
}

/**
 * Sets TCP_NODELAY and keepalive on the listening socket itself. On Linux a socket made by accept() is a copy of the
 * listener's and keeps both (and the keepalive idle time, interval and count), so each connection is spared the five
 * setsockopt calls of setNoDelay and setKeepAlive (PgBouncer makes two). True when every accepted socket will have
 * them; false (set them per socket with tuneAccepted) on other systems, or when the listener has no TCP handle of its
 * own (cluster's round-robin: the primary accepts and hands sockets over).
 */
export function tuneListener(server: Server): boolean {
  if (process.platform !== 'linux') return false;
  const handle = (server as unknown as { _handle?: TcpHandle | null })._handle;
  if (typeof handle?.setNoDelay !== 'function' || typeof handle.setKeepAlive !== 'function') return false;
  // The same values setNoDelay(true) and setKeepAlive(true, CLIENT_KEEPALIVE_MS) give an accepted socket.
  return handle.setNoDelay(true) === 0 && handle.setKeepAlive(true, Math.floor(CLIENT_KEEPALIVE_MS / 1000)) === 0;
}

/** Per accepted socket, when the listener could not pass the options on. */
export function tuneAccepted(socket: Socket): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, CLIENT_KEEPALIVE_MS);
}
