// Latency histograms kept as plain bucket counts per tenant (an array increment on the hot path) and turned into Prometheus histograms at scrape time.
import type { Registry } from 'prom-client';

/** Upper bounds in seconds, from sub-millisecond pooled queries to long transactions. */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One histogram's running state: counts per bucket (the last is +Inf), sum and count. */
export class Latency {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * Times one client's queries and transactions as the client sees them: from the first message after a ReadyForQuery
 * to the next ReadyForQuery, and from a transaction's first message to ReadyForQuery 'I'. performance.now() is read
 * once per batch, never per message.
 */
export class TransactionTimer {
  private batchStart = 0;
  private txStart = 0;

  /** Any client message (cheap when a batch is already under way). */
  message(): void {
    if (this.batchStart !== 0) return;
    this.batchStart = performance.now();
    if (this.txStart === 0) this.txStart = this.batchStart;
  }

  /** pgporter answered the batch itself (no server): nothing to time. */
  answeredLocally(): void {
    this.batchStart = this.txStart = 0;
  }

  /** A ReadyForQuery reached the client; `moreOwed`: pipelined batches follow, timed from this reply. */
  ready(idle: boolean, moreOwed: boolean, query: Latency, transaction: Latency): void {
    const now = performance.now();
    if (this.batchStart !== 0) query.observe((now - this.batchStart) / 1000);
    this.batchStart = moreOwed ? now : 0;
    if (idle && this.txStart !== 0) {
      transaction.observe((now - this.txStart) / 1000);
      this.txStart = moreOwed ? now : 0;
    }
  }
}

interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * Registers a histogram named `name` whose series (by tenant) are read from `per()` at scrape time. prom-client's own
 * Histogram hashes labels on every observe; this keeps the relay to an array increment.
 */
export function registerLatency(registry: Registry, name: string, help: string, per: () => Iterable<[string, Latency]>): void {
  registry.registerMetric({
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: Value[] = [];
      for (const [tenant, h] of per()) {
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((le, i) => {
          cumulative += h.counts[i]!;
          values.push({ labels: { tenant, le }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { tenant, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` });
        values.push({ labels: { tenant }, value: h.sum, metricName: `${name}_sum` });
        values.push({ labels: { tenant }, value: h.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset: () => undefined,
  } as unknown as Parameters<Registry['registerMetric']>[0]);
}
