// SHOW STATS figures per tenant: running totals from the pools and the metrics registry, and per-second averages over the last sampling period (as PgBouncer's stats_period).
import type { Metrics } from '../observability/index.js';
import type { ConsolePools } from './types.js';

/** Totals since start, per tenant. Times in microseconds, as PgBouncer reports them. */
export interface TenantStats {
  xacts: number;
  queries: number;
  received: number;
  sent: number;
  waitUs: number;
  waits: number;
  /** Time in transactions and in queries as clients saw them, and how many of each were timed. */
  xactUs: number;
  xactsTimed: number;
  queryUs: number;
  queriesTimed: number;
}

export interface StatsRow {
  tenant: string;
  total: TenantStats;
  /** Per second over the last period (counts, bytes); avgWaitUs is the mean wait of the waits in that period. */
  avgXacts: number;
  avgQueries: number;
  avgRecv: number;
  avgSent: number;
  avgWaitUs: number;
  avgXactUs: number;
  avgQueryUs: number;
}

const zero = (): TenantStats => ({ xacts: 0, queries: 0, received: 0, sent: 0, waitUs: 0, waits: 0, xactUs: 0, xactsTimed: 0, queryUs: 0, queriesTimed: 0 });

interface Sample {
  at: number;
  byTenant: Map<string, TenantStats>;
}

export class StatsSampler {
  private prev: Sample | undefined;
  private last: Sample | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pools: ConsolePools,
    private readonly metrics: Metrics,
    periodMs: number,
  ) {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), periodMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Totals now, and the averages of the last complete period (0 until one has passed). */
  async rows(): Promise<StatsRow[]> {
    const now = await this.collect();
    const { prev, last } = this;
    const out: StatsRow[] = [];
    for (const [tenant, total] of now) {
      const a = prev?.byTenant.get(tenant) ?? zero();
      const b = last?.byTenant.get(tenant) ?? zero();
      const secs = prev && last ? (last.at - prev.at) / 1000 : 0;
      const per = (k: keyof TenantStats) => (secs > 0 ? Math.max(0, b[k] - a[k]) / secs : 0);
      const waits = b.waits - a.waits;
      out.push({
        tenant,
        total,
        avgXacts: per('xacts'),
        avgQueries: per('queries'),
        avgRecv: per('received'),
        avgSent: per('sent'),
        avgWaitUs: prev && last && waits > 0 ? (b.waitUs - a.waitUs) / waits : 0,
        avgXactUs: prev && last && b.xactsTimed > a.xactsTimed ? (b.xactUs - a.xactUs) / (b.xactsTimed - a.xactsTimed) : 0,
        avgQueryUs: prev && last && b.queriesTimed > a.queriesTimed ? (b.queryUs - a.queryUs) / (b.queriesTimed - a.queriesTimed) : 0,
      });
    }
    return out.sort((x, y) => x.tenant.localeCompare(y.tenant));
  }

  private async sample(): Promise<void> {
    try {
      const byTenant = await this.collect();
      this.prev = this.last;
      this.last = { at: Date.now(), byTenant };
    } catch {
      // A failed read leaves the previous samples; the next period tries again.
    }
  }

  private async collect(): Promise<Map<string, TenantStats>> {
    const out = new Map<string, TenantStats>();
    const of = (tenant: string) => {
      let s = out.get(tenant);
      if (!s) out.set(tenant, (s = zero()));
      return s;
    };
    for (const t of this.pools.totalsSnapshot()) {
      const s = of(t.tenant);
      s.xacts = t.transactions;
      s.queries = t.queries;
    }
    // Bytes are counted when a session ends (src/proxy/front-door.ts), so open sessions are not in them yet.
    for (const v of (await this.metrics.bytesFromClient.get()).values) if (v.labels.tenant) of(String(v.labels.tenant)).received += v.value;
    for (const v of (await this.metrics.bytesToClient.get()).values) if (v.labels.tenant) of(String(v.labels.tenant)).sent += v.value;
    // The pool's latency histograms (src/pool/latency.ts): their sums and counts give the PgBouncer-style times.
    type Key = 'waitUs' | 'waits' | 'xactUs' | 'xactsTimed' | 'queryUs' | 'queriesTimed';
    const histogram = async (name: string, sumKey: Key, countKey: Key) => {
      const h = this.metrics.registry.getSingleMetric(name);
      if (!h) return;
      for (const v of (await h.get()).values) {
        const tenant = v.labels.tenant;
        if (!tenant) continue;
        const metric = (v as { metricName?: string }).metricName ?? '';
        if (metric.endsWith('_sum')) of(String(tenant))[sumKey] += v.value * 1e6;
        else if (metric.endsWith('_count')) of(String(tenant))[countKey] += v.value;
      }
    };
    await histogram('pgporter_pool_wait_seconds', 'waitUs', 'waits');
    await histogram('pgporter_transaction_duration_seconds', 'xactUs', 'xactsTimed');
    await histogram('pgporter_query_duration_seconds', 'queryUs', 'queriesTimed');
    return out;
  }
}
