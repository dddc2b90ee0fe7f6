// pgporter's own BackendKeyData per client, mapped to whichever server serves that client, for CancelRequest routing.
import { randomInt } from 'node:crypto';
import { cancelUpstream, type ServerKey, type UpstreamTarget } from '../upstream/index.js';
import { KEYS_PER_WORKER, keyPid } from '../fleet/index.js';

export interface CancelRoute {
  tenantId: string;
  /** The secret of the key its client was given (allocate's result): kept by the route, not in a record per key. */
  readonly keySecret: number;
  /** The server currently serving the client, or undefined when it holds none (cancel is then a no-op). */
  current(): { target: UpstreamTarget; key: ServerKey } | undefined;
}

/**
 * Allocates unique (pid, secret) pairs for clients and resolves them back. The pid names this node's slot (and
 * worker) so any node of the fleet knows where to send a CancelRequest; the rest of it and the secret are random.
 */
export class CancelKeys<R extends CancelRoute = CancelRoute> {
  private readonly routes = new Map<number, R>();

  constructor(
    private readonly slot = 0,
    private readonly worker = 0,
  ) {}

  /** A fresh key for `route`, which must answer `keySecret` with the secret returned here before a cancel can reach it. */
  allocate(route: R): { pid: number; secret: number } {
    let pid: number;
    do pid = keyPid(this.slot, this.worker, randomInt(1, KEYS_PER_WORKER));
    while (this.routes.has(pid));
    this.routes.set(pid, route);
    return { pid, secret: randomInt(0, 0x7fffffff) };
  }

  release(pid: number): void {
    this.routes.delete(pid);
  }

  /** Routes holding a key: every client being served, in the order they got theirs. */
  get size(): number {
    return this.routes.size;
  }

  routesNow(): IterableIterator<R> {
    return this.routes.values();
  }

  lookup(pid: number, secret: number): R | undefined {
    const r = this.routes.get(pid);
    return r && r.keySecret === secret ? r : undefined;
  }
}

/**
 * Sends a CancelRequest with the server's real key, over TLS when the tenant's upstream uses it (src/upstream's
 * cancelUpstream). Fire and forget: a client's cancel is best effort in PostgreSQL too, so a failure is only logged.
 */
export function sendCancel(target: UpstreamTarget, key: ServerKey, onError?: (err: unknown) => void): void {
  cancelUpstream(target, key).catch((err: unknown) => onError?.(err));
}
