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
