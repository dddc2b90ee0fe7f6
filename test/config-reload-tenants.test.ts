// What a reload does to the file's tenants in the store (added, changed, dropped, edited through the API), and that a failed store write leaves every other setting as it was.
import t from 'tap';
import { Writable } from 'node:stream';
import { parseConfig, type Config } from '../src/config/index.js';
import { createLogger, Metrics } from '../src/observability/index.js';
import { MemoryStore, type Store } from '../src/store/index.js';
import { LiveSettings, Reloader } from '../src/reload.js';

const tenant = (id: string, size = 10) => ({ id, upstream: { host: '127.0.0.1' }, pool: { size } });
const config = (tenants: unknown[], level = 'info'): Config => parseConfig({ log: { level }, tenants }, 'test', {});

function setup(first: Config, store: Store = new MemoryStore(first.tenants)) {
  let next = first;
  const logger = createLogger(first.log.level, new Writable({ write: (_c, _e, cb) => cb() }));
  const live = new LiveSettings(first);
  const reloader = new Reloader({ live, read: () => next, store, logger, metrics: new Metrics({ defaultMetrics: false }) });
  return { live, store, logger, reloader, file: (c: Config) => (next = c) };
}

t.test('the file decides for the tenants it changed; API edits of the others survive', async (t) => {
  const s = setup(config([tenant('acme'), tenant('globex')]));
  // Through the API: globex edited, initech created.
  await s.store.putTenant({ ...s.store.getTenant('globex')!, requireTls: true });
  await s.store.putTenant(config([tenant('initech', 3)]).tenants[0]!);

  s.file(config([tenant('acme', 4), tenant('globex'), tenant('initech', 7), tenant('hooli')]));
  const out = await s.reloader.reload('test');
  t.match(out, { result: 'ok', tenants: { created: ['hooli'], updated: ['acme'], kept: ['initech'], dropped: [] } });
  t.equal(s.store.getTenant('acme')?.pool.size, 4, 'changed in the file: written');
  t.equal(s.store.getTenant('globex')?.requireTls, true, 'unchanged in the file: the API edit stays');
  t.equal(s.store.getTenant('initech')?.pool.size, 3, 'new in the file but already stored: the stored record stays');
  t.ok(s.store.getTenant('hooli'), 'new in the file: created');

  s.file(config([tenant('acme', 4)]));
  const out2 = await s.reloader.reload('test');
  t.match(out2, { result: 'ok', tenants: { dropped: ['globex', 'initech', 'hooli'] } });
  t.ok(s.store.getTenant('globex'), 'gone from the file: kept in the store');
});

t.test('a store write that fails changes no other setting, and the next reload writes again', async (t) => {
  const first = config([tenant('acme')]);
  const mem = new MemoryStore(first.tenants);
  let down = true;
  const flaky: Store = Object.assign(Object.create(mem) as Store, {
    putTenant: async (r: Parameters<Store['putTenant']>[0]) => {
      if (down) throw Object.assign(new Error('redis is unreachable'), { code: 'STORE_UNAVAILABLE' });
      return mem.putTenant(r);
    },
  });
  const s = setup(first, flaky);
  s.file(config([tenant('acme', 2)], 'debug'));
  const out = await s.reloader.reload('test');
  t.match(out, { result: 'error', message: /writing tenants to the store failed: redis is unreachable/ });
  t.equal(s.live.config, first, 'the running config stays');
  t.equal(s.logger.level, 'info');
  down = false;
  t.match(await s.reloader.reload('test'), { result: 'ok', changed: ['log.level', 'tenants[0].pool.size'], tenants: { updated: ['acme'] } });
  t.equal(s.logger.level, 'debug');
  t.equal(mem.getTenant('acme')?.pool.size, 2);
});

t.test('without a config file a reload is refused', async (t) => {
  const first = config([]);
  const r = new Reloader({ live: new LiveSettings(first), store: new MemoryStore(), logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) });
  t.match(await r.reload('test'), { result: 'refused', message: /started without a config file/ });
});
