// The store's metrics: errors by operation, health, whether rules are loaded, and how stale the last sync is.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Metrics } from '../observability/index.js';
import type { StoreStatus } from './types.js';

export interface StoreMetrics {
  /** Count one failed load, write, sync or connection attempt. */
  error(op: 'load' | 'write' | 'sync' | 'connect'): void;
}

const errorCounters = new WeakMap<Registry, Counter<'store' | 'op'>>();

/** Registers the store gauges; a later store on the same registry (tests, restarts) replaces the earlier one's. */
export function registerStoreMetrics(metrics: Metrics, kind: string, status: () => StoreStatus): StoreMetrics {
  const registry = metrics.registry;
  let errors = errorCounters.get(registry);
  if (!errors) {
    errors = new Counter({
      name: 'pgporter_store_errors_total',
      help: 'Failed store operations, by store kind and operation (load, write, sync, connect)',
      labelNames: ['store', 'op'],
      registers: [registry],
    });
    errorCounters.set(registry, errors);
  }
  const gauge = (name: string, help: string, value: (s: StoreStatus) => number) => {
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(status()));
      },
    });
  };
  gauge('pgporter_store_healthy', 'Whether the tenant store backend is reachable and its data valid (1) or not (0)', (s) => (s.healthy ? 1 : 0));
  gauge('pgporter_store_loaded', 'Whether rules have been loaded from the store since start (0: cold start with the store down)', (s) => (s.loaded ? 1 : 0));
  gauge('pgporter_store_version', 'Version of the tenant data set this node holds', (s) => s.version);
  gauge('pgporter_store_sync_age_seconds', 'Seconds since the last successful load or sync of the tenant store', (s) =>
    s.lastSyncAt > 0 ? (Date.now() - s.lastSyncAt) / 1000 : -1,
  );
  const counter = errors;
  return { error: (op) => counter.inc({ store: kind, op }) };
}
