// The wake area's Prometheus metrics, registered once per registry (a second manager on the same registry reuses them).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface WakeMetrics {
  wakes: Counter<'tenant' | 'result'>;
  wakeDuration: Histogram<'phase'>;
  waitingClients: Gauge<'tenant'>;
  suspends: Counter<'tenant' | 'result'>;
  machineState: Gauge<'tenant' | 'state'>;
  /** Fleet locks for a machine's wake or suspend, by what and result (won, lost). */
  fleetLocks: Counter<'tenant' | 'op' | 'result'>;
  /** 1 when every node of the fleet has been idle long enough for the tenant's machine to be suspended. */
  fleetIdle: Gauge<'tenant'>;
}

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function wakeMetrics(registry: Registry): WakeMetrics {
  const registers = [registry];
  return {
    wakes: reuse(registry, 'pgporter_wakes_total', () => new Counter({
      name: 'pgporter_wakes_total',
      help: 'Wake attempts by tenant and result (woken: this process started the machine; waited: another worker or node started it while this one waited; not_needed: it was already started; failed)',
      labelNames: ['tenant', 'result'],
      registers,
    })),
    wakeDuration: reuse(registry, 'pgporter_wake_duration_seconds', () => new Histogram({
      name: 'pgporter_wake_duration_seconds',
      help: 'Time to wake a machine, by phase: api (until the machine is started) and postgres_ready (until PostgreSQL accepted a connection)',
      labelNames: ['phase'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
      registers,
    })),
    waitingClients: reuse(registry, 'pgporter_wake_waiting_clients', () => new Gauge({
      name: 'pgporter_wake_waiting_clients',
      help: 'Clients waiting for their tenant\'s machine to wake (or to finish suspending first)',
      labelNames: ['tenant'],
      registers,
    })),
    suspends: reuse(registry, 'pgporter_suspends_total', () => new Counter({
      name: 'pgporter_suspends_total',
      help: 'Idle suspends by tenant and result (suspended, aborted: a client came during the preparation, failed)',
      labelNames: ['tenant', 'result'],
      registers,
    })),
    machineState: reuse(registry, 'pgporter_machine_state', () => new Gauge({
      name: 'pgporter_machine_state',
      help: 'Last known state of each tenant\'s machine: 1 for the current state (one series per tenant)',
      labelNames: ['tenant', 'state'],
      registers,
    })),
    fleetLocks: reuse(registry, 'pgporter_wake_locks_total', () => new Counter({
      name: 'pgporter_wake_locks_total',
      help: 'Fleet-wide locks for waking or suspending a machine, by tenant, op (wake, suspend) and result (won, lost: another node does it)',
      labelNames: ['tenant', 'op', 'result'],
      registers,
    })),
    fleetIdle: reuse(registry, 'pgporter_fleet_idle', () => new Gauge({
      name: 'pgporter_fleet_idle',
      help: 'Per tenant with suspendAfterIdle: 1 when no node of the fleet has had a client for that long (last check)',
      labelNames: ['tenant'],
      registers,
    })),
  };
}
