// Pool metrics per tenant: gauges read from the pools at scrape time, histograms for waits and connects, counters fed from plain numbers.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PoolSnapshot } from './snapshots.js';
import { Latency, registerLatency } from './latency.js';
import { fieldCounter } from '../observability/index.js';

/** Per-tenant running totals kept as plain numbers on the hot path and turned into counters and histograms at scrape time. */
export interface TenantTotals {
  queries: number;
  transactions: number;
  /** As the client sees them: first message of a transaction to its ReadyForQuery 'I'. */
  readonly transactionLatency: Latency;
  /** First message after a ReadyForQuery to the next one (one simple query, or one extended-protocol batch). */
  readonly queryLatency: Latency;
  /** Time waiting for a server connection. */
  readonly waitLatency: Latency;
}

export function newTotals(): TenantTotals {
  return { queries: 0, transactions: 0, transactionLatency: new Latency(), queryLatency: new Latency(), waitLatency: new Latency() };
}

export class PoolMetrics {
  readonly connectSeconds: Histogram<'tenant'>;
  readonly errors: Counter<'tenant' | 'kind'>;

  constructor(registry: Registry, snapshots: () => PoolSnapshot[], totals: () => Map<string, TenantTotals>) {
    const registers = [registry];
    const gauge = (name: string, help: string, pick: (s: PoolSnapshot) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['tenant'],
        registers,
        collect() {
          this.reset();
          const sums = new Map<string, number>();
          for (const s of snapshots()) sums.set(s.tenant, (sums.get(s.tenant) ?? 0) + pick(s));
          for (const [tenant, v] of sums) this.set({ tenant }, v);
        },
      });
    gauge('pgporter_pool_clients_active', 'Pooled client connections not waiting for a server, by tenant', (s) => s.clientsActive);
    gauge('pgporter_pool_clients_waiting', 'Client connections waiting for a server connection, by tenant', (s) => s.clientsWaiting);
    gauge('pgporter_pool_servers_active', 'Server connections serving a client (or being reset), by tenant', (s) => s.serversActive);
    gauge('pgporter_pool_servers_idle', 'Server connections idle in the pool, by tenant', (s) => s.serversIdle);
    gauge('pgporter_pool_servers_opening', 'Server connections being opened, by tenant', (s) => s.serversOpening);

    // Counters are fed the difference since the last scrape, so the relay only ever increments a number.
    const counter = (name: string, help: string, key: 'queries' | 'transactions') => fieldCounter(registry, name, help, totals, key);
    counter('pgporter_pool_queries_total', 'Simple queries, Syncs and function calls sent by pooled clients, by tenant', 'queries');
    counter('pgporter_pool_transactions_total', 'ReadyForQuery with status idle sent to pooled clients (transactions ended), by tenant', 'transactions');

    const latency = (name: string, help: string, pick: (t: TenantTotals) => Latency) =>
      registerLatency(registry, name, help, function* () {
        for (const [tenant, t] of totals()) yield [tenant, pick(t)];
      });
    latency('pgporter_pool_wait_seconds', 'Time clients waited for a server connection, by tenant', (t) => t.waitLatency);
    latency('pgporter_transaction_duration_seconds', 'Transactions as the client sees them, first message to ReadyForQuery idle, by tenant', (t) => t.transactionLatency);
    latency('pgporter_query_duration_seconds', 'Queries as the client sees them (a simple query, or an extended-protocol batch up to its Sync), by tenant', (t) => t.queryLatency);
    this.connectSeconds = new Histogram({
      name: 'pgporter_pool_server_connect_seconds',
      help: 'Time to open and log in a server connection (wake included), by tenant',
      labelNames: ['tenant'],
      buckets: [0.005, 0.02, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.errors = new Counter({
      name: 'pgporter_pool_errors_total',
      help: 'Pool errors by tenant and kind (server_lost, query_wait_timeout, server_unavailable, ...)',
      labelNames: ['tenant', 'kind'],
      registers,
    });
  }
}
