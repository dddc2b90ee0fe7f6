// The local driver suspends a real PostgreSQL (every process in state T) and resumes it, alone and through the wake manager.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/config/index.js';
import { createLogger, Metrics } from '../src/observability/index.js';
import { createWakeManager, LocalDriver, LocalDriverError } from '../src/wake/index.js';
import { PostgresFixture } from './fixtures/postgres.js';
import { tempDir, waitFor } from './fixtures/ports.js';

/** Run state letter of a process from /proc (T: stopped by a signal), or 'gone' once it has exited and been reaped. */
function procState(pid: number): string {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 'gone';
  }
  return stat.slice(stat.lastIndexOf(')') + 2)[0]!;
}

/** A backend that was already exiting when the postmaster stopped stays a zombie (Z) or vanishes: it runs no more either. */
const notRunning = (state: string) => state === 'T' || state === 't' || state === 'Z' || state === 'gone';

t.test('suspend stops the postmaster and every child; start resumes them all', async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const driver = new LocalDriver(db.dataDir);
  t.match(driver.describe(), db.dataDir);
  t.equal(await driver.getState(), 'started');

  await driver.suspend();
  await driver.waitFor('suspended', Date.now() + 5000);
  t.equal(await driver.getState(), 'suspended');
  const pids = [db.pid!, ...db.childPids()];
  t.ok(pids.length > 2, `postmaster and children: ${pids.length}`);
  await waitFor(() => pids.every((p) => notRunning(procState(p))), 'every process to be stopped', 5000);
  t.equal(procState(db.pid!), 'T', 'the postmaster is in state T');
  t.pass('every PostgreSQL process is stopped (T), or had already exited');

  await driver.start();
  await driver.waitFor('started', Date.now() + 5000);
  await waitFor(() => pids.every((p) => procState(p) !== 'T'), 'every process to run again', 5000);
  t.equal(db.sql('select 40 + 2'), '42', 'PostgreSQL answers after the resume');
});

t.test('a stopped PostgreSQL reads as stopped and cannot be started by the local driver', async (t) => {
  const dir = tempDir('local-driver');
  t.teardown(() => dir.remove());
  const driver = new LocalDriver(dir.path);
  t.equal(await driver.getState(), 'stopped');
  await t.rejects(driver.start(), LocalDriverError);
  await t.rejects(driver.start(), { message: /is stopped and the local driver cannot start it/ });
  await t.rejects(driver.suspend(), { message: /no PostgreSQL running/ });
});

t.test('the wake manager drives the local driver from tenant config (driver: local)', async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const config = parseConfig({
    tenants: [{ id: 'dev', upstream: { host: db.host, port: db.port }, fly: { driver: 'local', dataDir: db.dataDir, suspendAfterIdle: '500ms' } }],
  });
  const wake = createWakeManager({ config, logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), getTenant: () => config.tenants[0], sweepIntervalMs: 100 });
  t.teardown(() => wake.close());
  const tenant = config.tenants[0]!;
  await wake.ensureAwake(tenant);
  await waitFor(() => db.processState() === 'T', 'the idle local PostgreSQL to be suspended', 10_000);
  let told = false;
  await wake.ensureAwake(tenant, () => (told = true));
  t.ok(told);
  t.not(db.processState(), 'T');
  t.equal(db.sql('select 1'), '1');
});

t.test('config: the fly block is validated per driver', async (t) => {
  t.throws(() => parseConfig({ tenants: [{ id: 'a', upstream: { host: 'x' }, fly: { app: 'x' } }] }), /fly\.machineId: required when driver is "fly"/);
  t.throws(() => parseConfig({ tenants: [{ id: 'a', upstream: { host: 'x' }, fly: { driver: 'local' } }] }), /dataDir: required when driver is "local"/);
  t.throws(() => parseConfig({ tenants: [{ id: 'a', upstream: { host: 'x' }, fly: { app: 'x', machineId: 'y', suspendAfterIdle: '5' } }] }), /expected a duration/);
  t.throws(() => parseConfig({ fly: { bogus: 1 } }), /fly/);
  const cfg = parseConfig({ fly: { token: '${FLY_API_TOKEN}', apiBaseUrl: 'http://_api.internal:4280/' }, tenants: [{ id: 'a', upstream: { host: 'x' }, fly: { app: 'acme-db', machineId: '3d8d413b29d089', suspendAfterIdle: '5m' } }] }, 'inline', { FLY_API_TOKEN: 's3cret' });
  t.equal(cfg.fly.token, 's3cret');
  t.equal(cfg.fly.apiBaseUrl, 'http://_api.internal:4280');
  t.equal(cfg.fly.wakeTimeout, 30_000);
  t.equal(cfg.fly.requestTimeout, 10_000);
  t.same(cfg.fly.retry, { maxAttempts: 4, baseDelay: 200, maxDelay: 5000 });
  t.match(cfg.tenants[0]!.fly, { driver: 'fly', app: 'acme-db', machineId: '3d8d413b29d089', suspendAfterIdle: 300_000 });
  t.equal(parseConfig({}).fly.apiBaseUrl, 'https://api.machines.dev');
});
