// Builds the store the config asks for, seeded with the config's tenants and wired to the metrics.
import type { Config } from '../config/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import { EmbeddedStore } from './embedded.js';
import { MemoryStore } from './memory.js';
import { registerStoreMetrics } from './metrics.js';
import { RedisStore } from './redis.js';
import type { Store } from './types.js';

/** The store is not started: call `await store.start()` before serving. */
export function createStore(config: Pick<Config, 'store' | 'tenants'>, logger: Logger, metrics: Metrics): Store {
  const seed = config.tenants;
  let store: Store | undefined;
  const status = () => store!.status();
  switch (config.store.kind) {
    case 'memory':
      store = new MemoryStore(seed);
      registerStoreMetrics(metrics, 'memory', status);
      return store;
    case 'embedded': {
      const m = registerStoreMetrics(metrics, 'embedded', status);
      return (store = new EmbeddedStore({ path: config.store.path, pollIntervalMs: config.store.pollInterval, seed, logger, metrics: m }));
    }
    case 'redis': {
      const r = config.store.redis;
      const m = registerStoreMetrics(metrics, 'redis', status);
      return (store = new RedisStore({
        url: r.url,
        password: r.password,
        caFile: r.caFile,
        keyPrefix: r.keyPrefix,
        resyncIntervalMs: r.resyncInterval,
        connectTimeoutMs: r.connectTimeout,
        restoreGraceMs: r.restoreGrace,
        seed,
        logger,
        metrics: m,
      }));
    }
  }
}
