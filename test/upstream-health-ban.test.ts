// A routed server that failed its probe is asked again when its ban runs out, not only at the next health.interval: with a 30 s interval, a server back after a hiccup is seen within about banMin.
import { createServer, connect, type Socket } from 'node:net';
import t from 'tap';
import { TenantHealth, tenantUpstreams } from '../src/upstream/index.js';
import { UpstreamAuth } from '../src/auth/index.js';
import { createLogger } from '../src/observability/index.js';
import { parseConfig } from '../src/config/index.js';
import { PostgresFixture } from './fixtures/postgres.js';
import { waitFor } from './fixtures/ports.js';

t.test('a server down at the first probe is probed again when its ban ends, long before the next interval', async (t) => {
  const pg = await PostgresFixture.start();
  t.teardown(() => pg.destroy());
  // A relay that first hangs up on every connection (the server "down"), then forwards to PostgreSQL.
  let up = false;
  const sockets = new Set<Socket>();
  const relay = createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    if (!up) return void c.destroy();
    const s = connect(pg.port, '127.0.0.1');
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    c.pipe(s).pipe(c);
    c.on('error', () => s.destroy());
    s.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    relay.close();
  });
  const port = (relay.address() as { port: number }).port;

  const cfg = parseConfig({
    health: { interval: '30s', timeout: '1s', banMin: '300ms', banMax: '2s' },
    tenants: [{ id: 'h', upstreams: [{ name: 'one', host: '127.0.0.1', port }] }],
  });
  let changes = 0;
  const health = new TenantHealth({
    tenantId: 'h',
    specs: tenantUpstreams(cfg.tenants[0]!),
    settings: () => cfg.health,
    login: () => ({ user: 'postgres', database: 'postgres', auth: () => new UpstreamAuth('postgres', { kind: 'none' }) }),
    logger: createLogger('silent'),
    changed: () => changes++,
  });
  t.teardown(() => health.stop());

  await waitFor(() => health.role('one') === 'down', 'the first probe to fail', 5000);
  const downAt = Date.now();
  t.ok(health.isBanned('one'), 'banned after the failed probe');
  up = true;
  // Within 10 s (the next interval would come at 30 s): a timeout here is the failure.
  await waitFor(() => health.role('one') === 'primary', 'the server to be seen again before the next interval', 10_000);
  t.pass(`seen again after ${Date.now() - downAt} ms (ban 300 ms, doubling up to 2 s)`);
  t.ok(changes >= 2, 'routing was told of both changes');
});
