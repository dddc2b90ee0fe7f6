// One /metrics for the node: the supervisor's own families and every worker's (fetched over IPC at scrape time), summed by prom-client's AggregatorRegistry with labels kept.
import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * Families read from node-level state (the store, the fleet, bans, allowlists): every process reports the same
 * value, so the supervisor's (the first in the list) is the node's, not a sum.
 */
const NODE_LEVEL = new Set([
  'pgporter_store_healthy',
  'pgporter_store_loaded',
  'pgporter_store_version',
  'pgporter_store_sync_age_seconds',
  'pgporter_fleet_nodes',
  'pgporter_fleet_healthy',
  'pgporter_allowlist_entries',
  'pgporter_auth_bans_active',
]);

/**
 * Each worker probes the routed upstreams on its own and reports what it saw: the first worker that reports an upstream
 * speaks for the node (a sum would say role 2), as GET /v1/upstreams takes one worker's view per upstream.
 */
const ONE_VIEW = new Set(['pgporter_upstream_role', 'pgporter_upstream_up', 'pgporter_upstream_asleep', 'pgporter_upstream_replication_lag_seconds']);

/** A state flag (1 when in that state) or a yes/no: any worker saying it is the node saying it. */
const ANY = new Set(['pgporter_machine_state', 'pgporter_fleet_idle', 'pgporter_upstream_ban_seconds']);

type MetricJson = { name: string; aggregator?: string };

/** Merges metric lists (getMetricsAsJSON): the supervisor's first, then each worker's. */
export function mergeMetrics(lists: unknown[][]): Registry {
  const fixed = lists.map((list) =>
    (list as MetricJson[]).map((m) => {
      if (NODE_LEVEL.has(m.name) || ONE_VIEW.has(m.name)) return { ...m, aggregator: 'first' };
      if (ANY.has(m.name)) return { ...m, aggregator: 'max' };
      return m;
    }),
  );
  return AggregatorRegistry.aggregate(fixed as never);
}
