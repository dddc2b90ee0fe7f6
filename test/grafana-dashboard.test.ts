// deploy/grafana/pgporter.json is a well-formed Grafana dashboard that charts every metric family a running pgporter exports.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgporterProcess } from './fixtures/pgporter.js';
import { FakeFly } from './fixtures/fake-fly.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; refId: string }>;
}
interface Dashboard {
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown }> };
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/pgporter.json'), 'utf8')) as Dashboard;
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));

/** Node's and the process's default metrics (prom-client, with pgporter's prefix) are charted only where a panel names them. */
const DEFAULT_METRICS = /^pgporter_(process|nodejs)_/;

t.test('the dashboard has unique panel ids, non-overlapping positions, a datasource and a tenant variable', async (t) => {
  t.ok(dashboard.schemaVersion >= 36, 'schemaVersion');
  const ids = dashboard.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const cells = new Set<string>();
  for (const p of dashboard.panels) {
    t.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the 24-column grid`);
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        const cell = `${x},${y}`;
        if (cells.has(cell)) t.fail(`${p.title} overlaps another panel at ${cell}`);
        cells.add(cell);
      }
    if (p.type !== 'row') t.ok((p.targets ?? []).length > 0, `${p.title} has a query`);
  }
  const vars = dashboard.templating.list.map((v) => `${v.name}:${v.type}`);
  t.ok(vars.includes('DS_PROMETHEUS:datasource'), 'datasource variable');
  t.ok(vars.includes('tenant:query'), 'tenant variable');
});

t.test('every metric family pgporter exports appears in a panel query', async (t) => {
  // A fly tenant, so the wake and suspend metrics are registered too; nothing connects, so neither PostgreSQL nor the machine is needed.
  const fake = await FakeFly.start({ rateLimit: false });
  t.teardown(() => fake.close());
  await fake.addMachine({ app: 'acme-db', id: 'dash0001', state: 'started' });
  const porter = await PgporterProcess.start({
    config: {
      log: { level: 'info' },
      fly: { apiBaseUrl: fake.url, token: '${FLY_API_TOKEN}' },
      tenants: [
        { id: 'demo', upstream: { host: '127.0.0.1', port: 1 }, auth: { method: 'trust' }, allowlist: ['127.0.0.0/8'] },
        { id: 'acme', upstream: { host: '127.0.0.1', port: 1 }, auth: { method: 'trust' }, fly: { app: 'acme-db', machineId: 'dash0001' } },
      ],
    },
    env: { FLY_API_TOKEN: fake.token ?? '' },
  });
  t.teardown(() => porter.stop());
  const families = [...(await porter.metrics()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
  const pgporter = families.filter((f) => !DEFAULT_METRICS.test(f));
  t.ok(pgporter.length >= 35, `pgporter exports its own families (${pgporter.length})`);
  for (const family of pgporter) {
    const charted = exprs.some((e) => new RegExp(`\\b${family}(_bucket|_sum|_count)?\\b`).test(e));
    t.ok(charted, `${family} is charted`);
  }
  // And nothing on the dashboard names a metric pgporter does not export.
  const named = new Set(exprs.flatMap((e) => [...e.matchAll(/\bpgporter_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))));
  for (const name of named) t.ok(families.includes(name), `${name} exists`);
});
