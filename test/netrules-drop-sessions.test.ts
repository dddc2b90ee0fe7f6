// dropDisallowedSessions: an edit that removes an address ends the sessions already open from it, and only those.
import t from 'tap';
import { createLogger, Metrics } from '../src/observability/index.js';
import { MemoryStore, type TenantRecord } from '../src/store/index.js';
import { createAccessControl } from '../src/netrules/index.js';
import { parseConfig } from '../src/config/index.js';
import type { ClientError } from '../src/errors.js';

const logger = createLogger('silent');
const tenant = (id: string, allowlist: string[], drop: boolean): TenantRecord =>
  parseConfig({ tenants: [{ id, upstream: { host: '127.0.0.1' }, allowlist, dropDisallowedSessions: drop }] }).tenants[0]!;

class FakeSession {
  ended: ClientError | undefined;
  constructor(
    readonly tenantId: string,
    readonly clientIp: string,
  ) {}
  end(err: ClientError): void {
    this.ended = err;
  }
}

function setup(drop: boolean) {
  const sessions = [
    new FakeSession('acme', '203.0.113.7'),
    new FakeSession('acme', '198.51.100.9'),
    new FakeSession('acme', '::ffff:198.51.100.10'),
    new FakeSession('other', '198.51.100.9'),
  ];
  const store = new MemoryStore([tenant('acme', ['203.0.113.0/24', '198.51.100.0/24'], drop), tenant('other', ['198.51.100.0/24'], true)]);
  const metrics = new Metrics({ defaultMetrics: false });
  const ac = createAccessControl({
    store,
    defaultPolicy: 'allow',
    metrics,
    logger,
    sessions: { sessionsOf: (id) => sessions.filter((s) => s.tenantId === id) },
  });
  return { sessions, store, metrics, ac };
}

t.test('sessions from a removed address are ended with the allowlist error', async (t) => {
  const { sessions, store, metrics } = setup(true);
  await store.putTenant({ ...store.getTenant('acme')!, allowlist: ['203.0.113.0/24'] });
  t.equal(sessions[0]!.ended, undefined, 'still-allowed session left open');
  t.equal(sessions[1]!.ended?.sqlstate, '28000');
  t.equal(sessions[1]!.ended?.message, 'no allowlist entry for host "198.51.100.9", tenant "acme"');
  t.equal(sessions[2]!.ended?.message, 'no allowlist entry for host "198.51.100.10", tenant "acme"');
  t.equal(sessions[3]!.ended, undefined, "another tenant's sessions untouched");
  t.match(await metrics.registry.getSingleMetricAsString('pgporter_allowlist_sessions_dropped_total'), /tenant="acme"} 2/);
});

t.test('without the flag, open sessions stay open', async (t) => {
  const { sessions, store } = setup(false);
  await store.putTenant({ ...store.getTenant('acme')!, allowlist: ['203.0.113.0/24'] });
  t.same(
    sessions.map((s) => s.ended),
    [undefined, undefined, undefined, undefined],
  );
});

t.test('after close, edits no longer end sessions', async (t) => {
  const { sessions, store, ac } = setup(true);
  ac.close();
  await store.putTenant({ ...store.getTenant('acme')!, allowlist: [] });
  t.equal(sessions[0]!.ended, undefined);
});
