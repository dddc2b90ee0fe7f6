// Picks the fleet for a config: several nodes on the Redis store, a node alone otherwise; and the node's id.
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import { LocalFleet } from './local-fleet.js';
import { RedisFleet } from './redis-fleet.js';
import type { Fleet } from './types.js';

/** `fleet.nodeId`, else the Fly machine id, else hostname and process id. */
export function nodeIdFor(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  return config.fleet.nodeId ?? env.FLY_MACHINE_ID ?? `${hostname()}-${process.pid}`;
}

export function createFleet(config: Config, logger: Logger): Fleet {
  const nodeId = nodeIdFor(config);
  if (config.store.kind !== 'redis') return new LocalFleet(nodeId);
  const r = config.store.redis;
  return new RedisFleet({
    redis: { url: r.url, password: r.password, caFile: r.caFile, connectTimeoutMs: r.connectTimeout },
    keyPrefix: r.keyPrefix,
    nodeId,
    heartbeatIntervalMs: config.fleet.heartbeatInterval,
    nodeTtlMs: config.fleet.nodeTtl,
    logger,
  });
}
