// Fleet metrics: live nodes and Redis health read at scrape time, and the counts of forwarded cancels.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Fleet } from './types.js';

export interface FleetMetrics {
  /** CancelRequests by route: local, forwarded (sent to the owner), received (from another node), dropped. */
  readonly cancels: Counter<'route'>;
}

export function registerFleetMetrics(registry: Registry, fleet: Fleet): FleetMetrics {
  new Gauge({
    name: 'pgporter_fleet_nodes',
    help: 'Live pgporter nodes this node sees, itself included (1 alone)',
    registers: [registry],
    async collect() {
      this.set(fleet.shared && fleet.healthy() ? (await fleet.nodes()).length : 1);
    },
  });
  new Gauge({
    name: 'pgporter_fleet_healthy',
    help: '1 when this node reaches the fleet (Redis) and its heartbeat is current; always 1 alone',
    registers: [registry],
    collect() {
      this.set(fleet.healthy() ? 1 : 0);
    },
  });
  return {
    cancels: new Counter({ name: 'pgporter_cancels_total', help: 'CancelRequests by route (local, forwarded, received, dropped)', labelNames: ['route'], registers: [registry] }),
  };
}
