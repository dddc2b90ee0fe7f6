// Opens an ioredis connection for fleet coordination with the store's connection settings: fail fast while disconnected, reconnect with jittered backoff.
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisTarget {
  url: string;
  password?: string | undefined;
  caFile?: string | undefined;
  connectTimeoutMs: number;
}

/** A client named `pgporter-<role>`; `subscriber` keeps an offline queue so a subscribe issued early is not lost. */
export function openRedis(target: RedisTarget, role: string, onError: (err: Error) => void): Redis {
  const options: RedisOptions = {
    connectionName: `pgporter-${role}`,
    connectTimeout: target.connectTimeoutMs,
    // Coordination calls must fail at once while Redis is away: callers fall back to acting alone.
    enableOfflineQueue: role.endsWith('subscriber'),
    maxRetriesPerRequest: 1,
    autoResubscribe: true,
    retryStrategy: (times: number) => Math.min(2000, 50 * 2 ** Math.min(times, 6)) + Math.floor(Math.random() * 100),
  };
  if (target.password !== undefined) options.password = target.password;
  if (target.url.startsWith('rediss://')) options.tls = target.caFile ? { ca: readFileSync(target.caFile) } : {};
  const c = new Redis(target.url, options);
  c.on('error', onError);
  return c;
}
