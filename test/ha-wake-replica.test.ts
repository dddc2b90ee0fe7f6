// Replicas on machines that sleep: a suspended replica is not woken to be probed, reads go to an awake replica, the sleeping one is woken (through the fake Machines API) only when a read needs it, and suspended again once idle.
import t from 'tap';
import pg from 'pg';
import { LocalPostgres } from '../src/demo/local-postgres.js';
import { FakeFly } from './fixtures/fake-fly.js';
import { PgporterProcess } from './fixtures/pgporter.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { waitFor } from './fixtures/ports.js';
import { ReplicaSet } from './fixtures/replication.js';

const set = await ReplicaSet.start();
t.teardown(() => set.stop());
// A second replica, the one whose machine sleeps.
const sleeper = await LocalPostgres.replicaOf(set.primary.pg);
const sleeperMachine = PostgresFixture.of(sleeper);
// The fixture's destroy resumes a SIGSTOPped server first (it would ignore the shutdown signal, and hold the primary's).
t.teardown(() => sleeperMachine.destroy());
await waitFor(() => set.primary.sql(`SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'`) === '2', 'both replicas streaming', 20_000);

const fake = await FakeFly.start({ transitionMs: 100 });
t.teardown(() => fake.close());
const MACHINE = 'e5e5e5e5';
await fake.addMachine({ app: 'ha-db', id: MACHINE, pg: sleeperMachine, state: 'suspended' });
// A machine record only (the primary's processes keep running): what matters is that pgporter must start it to learn its role.
const SOLO = 'f6f6f6f6';
await fake.addMachine({ app: 'solo-db', id: SOLO, state: 'suspended' });


const porter = await PgporterProcess.start({
  config: {
    log: { level: 'info' },
    upstream: { connectTimeout: '2s' },
    health: { interval: '300ms', timeout: '1s', banMin: '500ms', banMax: '2s' },
    fly: { apiBaseUrl: fake.url, token: '${FLY_API_TOKEN}', wakeTimeout: '20s', retry: { maxAttempts: 3, baseDelay: '50ms', maxDelay: '200ms' } },
    tenants: [
      {
        id: 'ha',
        upstreams: [
          { name: 'one', host: '127.0.0.1', port: set.primary.port },
          { name: 'two', host: '127.0.0.1', port: set.replica.port },
          { name: 'three', host: '127.0.0.1', port: sleeper.port, role: 'replica', fly: { app: 'ha-db', machineId: MACHINE, suspendAfterIdle: '2s' } },
        ],
        routing: { probeUser: 'postgres' },
        auth: { method: 'trust' },
        pool: { mode: 'transaction', size: 5 },
      },
      {
        id: 'solo',
        upstreams: [{ name: 'main', host: '127.0.0.1', port: set.primary.port, fly: { app: 'solo-db', machineId: SOLO } }],
        routing: { probeUser: 'postgres' },
        auth: { method: 'trust' },
      },
      {
        // Passwords looked up with authQuery on the one server listed: the replica whose machine sleeps.
        id: 'aq',
        upstreams: [{ name: 'r', host: '127.0.0.1', port: sleeper.port, role: 'replica', fly: { app: 'ha-db', machineId: MACHINE } }],
        auth: { method: 'scram-sha-256', authQuery: { user: 'postgres' } },
      },
    ],
  },
  env: { FLY_API_TOKEN: fake.token ?? '' },
});
t.teardown(() => porter.stop());

interface Upstream {
  name: string;
  role: string;
  asleep: boolean;
  bannedUntil?: number;
  strikes: number;
}
const upstreams = async (): Promise<Record<string, Upstream>> => {
  const res = await fetch(`http://127.0.0.1:${porter.adminPort}/v1/upstreams?tenant=ha`, { headers: { authorization: 'Bearer test-token-0123456789' } });
  const body = (await res.json()) as { upstreams: Upstream[] };
  return Object.fromEntries(body.upstreams.map((u) => [u.name, u]));
};
const starts = () => fake.calls.filter((c) => c.machine === MACHINE && c.action === 'start').length;
/** One read-only client: where its query ran, and the notices it got. */
const read = async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: porter.port, user: `${USERS.trust.user}.ha`, database: 'postgres-ro' });
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try {
    const r = await c.query('SELECT inet_server_port() AS port, pg_is_in_recovery() AS rec');
    return { port: r.rows[0].port as number, recovery: r.rows[0].rec as boolean, notices };
  } finally {
    await c.end();
  }
};

t.test('a suspended replica is not woken to be probed', async (t) => {
  await waitFor(async () => {
    const u = await upstreams();
    return u.one?.role === 'primary' && u.two?.role === 'standby' ? true : undefined;
  }, 'the awake servers probed', 15_000);
  // Many probe intervals pass.
  await new Promise((r) => setTimeout(r, 2000));
  const u = await upstreams();
  t.equal(u.three!.asleep, true, 'the sleeping replica is reported asleep');
  t.equal(u.three!.role, 'standby', 'its role is its hint until it wakes (never probed)');
  t.equal(starts(), 0, 'no start call');
  t.equal(fake.state(MACHINE), 'suspended', 'the machine still sleeps');
  t.ok(fake.calls.some((c) => c.machine === MACHINE && c.action === 'get'), 'its state was read (Get Machine never wakes it)');
  t.match(await porter.metrics(), /pgporter_upstream_asleep\{tenant="ha",upstream="three"\} 1/, 'the metric says so');
});

t.test('reads go to the awake replica while one is left', async (t) => {
  const ports = new Set<number>();
  for (let i = 0; i < 8; i++) ports.add((await read()).port);
  t.same([...ports], [set.replica.port], 'every read ran on the awake replica');
  t.equal(starts(), 0, 'the sleeping replica was not woken');
});

t.test('with no awake replica left, a read wakes the sleeping one', async (t) => {
  await set.replica.stop();
  await waitFor(async () => ((await upstreams()).two?.role === 'down' ? true : undefined), 'the awake replica seen down', 10_000);
  const r = await read();
  t.equal(r.port, sleeper.port, 'the read ran on the woken replica');
  t.equal(r.recovery, true, 'a replica (in recovery)');
  t.ok(r.notices.some((n) => /waking up the database/.test(n)), `the client was told (${r.notices.join('; ')})`);
  t.equal(starts(), 1, 'one start call');
  t.equal(fake.state(MACHINE), 'started');
  const u = await waitFor(async () => {
    const all = await upstreams();
    return all.three?.asleep === false ? all : undefined;
  }, 'reported awake', 5000);
  t.equal(u.three!.role, 'standby', 'probed once awake');
});

t.test('idle again: suspended, its probe stops without a ban, and writes never wake it', async (t) => {
  await waitFor(() => fake.state(MACHINE) === 'suspended', 'idle suspend of the replica machine', 15_000, 100);
  // Probes would fail against the stopped processes if they still ran.
  await new Promise((r) => setTimeout(r, 1500));
  const u = (await upstreams()).three!;
  t.equal(u.asleep, true, 'asleep again');
  t.equal(u.role, 'standby', 'still known as a replica, not down');
  t.equal(u.strikes, 0, 'never banned');
  const w = new pg.Client({ host: '127.0.0.1', port: porter.port, user: `${USERS.trust.user}.ha`, database: 'postgres' });
  await w.connect();
  const r = await w.query('SELECT inet_server_port() AS port');
  await w.end();
  t.equal(r.rows[0].port, set.primary.port, 'a read-write client lands on the primary');
  t.equal(starts(), 1, 'and the replica was not woken for it');
});

t.test('a sleeping server with no role known and no hint is woken when a client waits for a writer', async (t) => {
  t.equal(fake.state(SOLO), 'suspended', 'asleep before the first client');
  const c = new pg.Client({ host: '127.0.0.1', port: porter.port, user: `${USERS.trust.user}.solo`, database: 'postgres' });
  await c.connect();
  const r = await c.query('SELECT pg_is_in_recovery() AS rec');
  await c.end();
  t.equal(r.rows[0].rec, false, 'served by the writer once its role was learned');
  t.equal(fake.calls.filter((x) => x.machine === SOLO && x.action === 'start').length, 1, 'its machine was started once');
});

t.test('an authQuery to a server on a sleeping machine wakes that machine first', async (t) => {
  await waitFor(() => fake.state(MACHINE) === 'suspended', 'the replica machine asleep', 15_000, 100);
  const before = starts();
  // Without the wake, the query would hang on the stopped server until authQuery's timeout and the login would fail.
  const c = new pg.Client({ host: '127.0.0.1', port: porter.port, user: `${USERS.scram.user}.aq`, password: USERS.scram.password, database: 'postgres-ro' });
  await c.connect();
  t.equal(starts(), before + 1, 'the machine was started for the login');
  t.equal((await c.query('SELECT pg_is_in_recovery() AS r')).rows[0].r, true, 'and the client is served by that replica');
  await c.end();
});
