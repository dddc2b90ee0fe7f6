// Gauges of every routed upstream (role, up, asleep, ban, replication lag), read from the health monitors at scrape time.
import { Gauge, type Registry } from 'prom-client';
import type { UpstreamStatus } from './health.js';

const ROLES = ['primary', 'standby', 'fenced', 'down', 'unknown'] as const;

export function registerUpstreamMetrics(registry: Registry, statuses: () => UpstreamStatus[]): void {
  const registers = [registry];
  new Gauge({
    name: 'pgporter_upstream_role',
    help: '1 for the role each routed upstream has now (primary, standby, fenced, down, unknown), by tenant and upstream',
    labelNames: ['tenant', 'upstream', 'role'],
    registers,
    collect() {
      this.reset();
      for (const u of statuses()) for (const r of ROLES) this.set({ tenant: u.tenant, upstream: u.name, role: r }, u.role === r ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pgporter_upstream_up',
    help: 'Whether the last probe or login of a routed upstream succeeded, by tenant and upstream',
    labelNames: ['tenant', 'upstream'],
    registers,
    collect() {
      this.reset();
      for (const u of statuses()) this.set({ tenant: u.tenant, upstream: u.name }, u.role === 'down' ? 0 : 1);
    },
  });
  new Gauge({
    name: 'pgporter_upstream_asleep',
    help: 'Whether a routed upstream\'s machine is suspended or not known started (it is then not probed, and woken only for a read that needs it), by tenant and upstream',
    labelNames: ['tenant', 'upstream'],
    registers,
    collect() {
      this.reset();
      for (const u of statuses()) this.set({ tenant: u.tenant, upstream: u.name }, u.asleep ? 1 : 0);
    },
  });
  new Gauge({
    name: 'pgporter_upstream_ban_seconds',
    help: 'Seconds left of a routed upstream\'s ban (0: not banned), by tenant and upstream',
    labelNames: ['tenant', 'upstream'],
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const u of statuses()) this.set({ tenant: u.tenant, upstream: u.name }, u.bannedUntil ? Math.max(0, (u.bannedUntil - now) / 1000) : 0);
    },
  });
  new Gauge({
    name: 'pgporter_upstream_replication_lag_seconds',
    help: 'Seconds since the last transaction a replica replayed (now() - pg_last_xact_replay_timestamp()), by tenant and upstream',
    labelNames: ['tenant', 'upstream'],
    registers,
    collect() {
      this.reset();
      for (const u of statuses()) if (u.lagSeconds !== undefined) this.set({ tenant: u.tenant, upstream: u.name }, u.lagSeconds);
    },
  });
}
