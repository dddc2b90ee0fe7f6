// A per-tenant Prometheus counter fed from a plain number field the hot path bumps: each scrape adds what the field grew by since the last one.
import { Counter, type Registry } from 'prom-client';

export function fieldCounter<K extends string>(
  registry: Registry,
  name: string,
  help: string,
  rows: () => Iterable<[string, { readonly [k in K]: number }]>,
  key: K,
): Counter<'tenant'> {
  const reported = new Map<string, number>();
  return new Counter({
    name,
    help,
    labelNames: ['tenant'],
    registers: [registry],
    collect() {
      for (const [tenant, t] of rows()) {
        const now = t[key];
        const delta = now - (reported.get(tenant) ?? 0);
        if (delta > 0) this.inc({ tenant }, delta);
        reported.set(tenant, now);
      }
    },
  });
}
