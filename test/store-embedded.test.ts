// The embedded store: atomic writes, rules surviving a restart, reload on external change, and torn writes never replacing good rules.
import t from 'tap';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, Metrics } from '../src/observability/index.js';
import { EmbeddedStore, EMBEDDED_FORMAT, createStore, type Store, type TenantRecord } from '../src/store/index.js';
import { parseConfig } from '../src/config/index.js';
import { tempDir, waitFor } from './fixtures/ports.js';

const logger = createLogger('silent');
const tenant = (id: string, allowlist?: string[]): TenantRecord =>
  parseConfig({ tenants: [{ id, upstream: { host: '127.0.0.1' }, ...(allowlist ? { allowlist } : {}) }] }).tenants[0]!;

function open(path: string, seed: TenantRecord[] = [], metrics?: Metrics): Store {
  return createStore(
    { store: { ...parseConfig({}).store, kind: 'embedded', path, pollInterval: 100 }, tenants: seed },
    logger,
    metrics ?? new Metrics({ defaultMetrics: false }),
  );
}

t.test('rules survive a restart and seeds only fill absent ids', async (t) => {
  const dir = tempDir('store');
  t.teardown(() => dir.remove());
  const path = join(dir.path, 'state.json');
  const a = open(path, [tenant('acme', ['10.0.0.0/8'])]);
  await a.start();
  t.same(a.getTenant('acme')?.allowlist, ['10.0.0.0/8'], 'seeded from config');
  await a.putTenant({ ...a.getTenant('acme')!, allowlist: ['203.0.113.7'] });
  await a.putTenant(tenant('beta'));
  await a.close();

  const b = open(path, [tenant('acme', ['10.0.0.0/8']), tenant('gamma')]);
  await b.start();
  t.teardown(() => b.close());
  t.same(b.getTenant('acme')?.allowlist, ['203.0.113.7'], 'the edited list wins over the config seed');
  t.ok(b.getTenant('beta'), 'tenant created through the store is still there');
  t.ok(b.getTenant('gamma'), 'new config tenant is seeded');
  t.ok(b.status().loaded && b.status().healthy);
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  t.equal(doc.format, EMBEDDED_FORMAT);
  t.same(
    readdirSync(dir.path).filter((n) => n !== 'state.json'),
    [],
    'no temp files left behind',
  );
  t.ok(await b.deleteTenant('beta'));
  t.notOk(await b.deleteTenant('beta'), 'deleting twice reports absence');
});

t.test('an external write to the file is picked up and emits change events', async (t) => {
  const dir = tempDir('store');
  t.teardown(() => dir.remove());
  const path = join(dir.path, 'state.json');
  const s = open(path, [tenant('acme', ['10.0.0.0/8'])]);
  await s.start();
  t.teardown(() => s.close());
  const events: string[] = [];
  s.onChange((e) => events.push(`${e.type}:${e.type === 'tenant-deleted' ? e.id : e.tenant.id}`));
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  doc.tenants[0].allowlist = ['192.0.2.0/24'];
  doc.version += 1;
  writeFileSync(path, JSON.stringify(doc));
  await waitFor(() => s.getTenant('acme')?.allowlist?.[0] === '192.0.2.0/24', 'reload after external write', 5000);
  t.same(events, ['tenant-upserted:acme']);
});

t.test('a torn or corrupt file never replaces good rules', async (t) => {
  const dir = tempDir('store');
  t.teardown(() => dir.remove());
  const path = join(dir.path, 'state.json');
  const metrics = new Metrics({ defaultMetrics: false });
  const s = open(path, [tenant('acme', ['10.0.0.0/8'])], metrics);
  await s.start();
  t.teardown(() => s.close());
  const good = readFileSync(path, 'utf8');

  // A write cut off half way, as a non-atomic writer crashing would leave it.
  writeFileSync(path, good.slice(0, Math.floor(good.length / 2)));
  await waitFor(() => !s.status().healthy, 'store to notice the torn file', 5000);
  t.same(s.getTenant('acme')?.allowlist, ['10.0.0.0/8'], 'last good rules kept');
  t.ok(s.status().loaded);
  t.match(await metrics.registry.getSingleMetricAsString('pgporter_store_errors_total'), /op="load"} [1-9]/, 'error counted');

  // Valid JSON with an invalid entry is refused as a whole too.
  const bad = JSON.parse(good);
  bad.tenants[0].allowlist = ['10.0.0.0/8', '300.1.1.1'];
  writeFileSync(path, JSON.stringify(bad));
  (s as EmbeddedStore).reloadNow();
  t.same(s.getTenant('acme')?.allowlist, ['10.0.0.0/8'], 'invalid entry does not get in');

  // A fresh store on the corrupt file starts without crashing, refuses to load it and refuses writes that would overwrite it.
  writeFileSync(path, '{"format":"pgporter-tenants/1","version":3,"tenants":[{"id":"ac');
  const fresh = open(path, [tenant('acme', ['10.0.0.0/8'])]);
  await fresh.start();
  t.teardown(() => fresh.close());
  t.equal(fresh.status().loaded, false, 'fresh store does not claim to have loaded rules');
  t.equal(fresh.status().healthy, false);
  await t.rejects(fresh.putTenant(tenant('beta')), { code: 'STORE_UNAVAILABLE' });
  t.match(readFileSync(path, 'utf8'), /"id":"ac$/, 'corrupt file left for a person to repair');

  // Repairing the file brings both stores back.
  writeFileSync(path, good);
  await waitFor(() => fresh.status().loaded && s.status().healthy, 'stores to load the repaired file', 5000);
  t.same(fresh.getTenant('acme')?.allowlist, ['10.0.0.0/8']);
});

t.test('a stray JSON file without the format marker is not read as "no tenants"', async (t) => {
  const dir = tempDir('store');
  t.teardown(() => dir.remove());
  const path = join(dir.path, 'state.json');
  writeFileSync(path, '{}');
  const s = new EmbeddedStore({ path, pollIntervalMs: 1000, seed: [], logger });
  await s.start();
  t.teardown(() => s.close());
  t.equal(s.status().loaded, false);
});
