// The ioredis connections every Redis-backed part opens (tenant store, bans, fleet): fail fast while disconnected, reconnect with jittered backoff, and close without waiting on commands a lost connection stranded.
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisTarget {
  url: string;
  password?: string | undefined;
  caFile?: string | undefined;
  connectTimeoutMs: number;
}

export interface RedisRole {
  /** Connection name suffix: the client is `pgporter-<name>` in CLIENT LIST. */
  name: string;
  /**
   * A subscriber keeps an offline queue so a subscribe issued before the connection is ready is not lost. Other
   * connections fail commands at once while disconnected: callers answer 503 or act alone instead of waiting.
   */
  subscriber: boolean;
  /** Subscribe again after a reconnect (off for callers that resubscribe themselves to catch up first). */
  resubscribe?: boolean;
}

export function openRedis(target: RedisTarget, role: RedisRole, onError: (err: Error) => void): Redis {
  const options: RedisOptions = {
    connectionName: `pgporter-${role.name}`,
    connectTimeout: target.connectTimeoutMs,
    enableOfflineQueue: role.subscriber,
    maxRetriesPerRequest: 1,
    autoResubscribe: role.resubscribe ?? true,
    retryStrategy: (times: number) => Math.min(2000, 50 * 2 ** Math.min(times, 6)) + Math.floor(Math.random() * 100),
  };
  if (target.password !== undefined) options.password = target.password;
  if (target.url.startsWith('rediss://')) options.tls = target.caFile ? { ca: readFileSync(target.caFile) } : {};
  const c = new Redis(target.url, options);
  c.on('error', onError);
  return c;
}

/**
 * Disconnects `clients`, then waits for `inFlight` (work using them) only if it can still settle. A command sent just
 * before its connection was lost is kept by ioredis for the reconnect that disconnect() cancels, and never settles:
 * waiting for it would make close() hang whenever Redis is down.
 */
export async function closeRedis(clients: readonly (Redis | undefined)[], inFlight?: Promise<unknown>): Promise<void> {
  const stranded = clients.some((c) => c !== undefined && c.status !== 'ready' && c.status !== 'end');
  for (const c of clients) c?.disconnect();
  if (inFlight !== undefined && !stranded) await inFlight.catch(() => undefined);
}
