// Measures what pgporter adds to a wake: client connect to first row through pgporter, minus the machine's own resume time from the fake Machines API's transition log.
import pg from 'pg';
import { PostgresFixture, USERS } from '../test/fixtures/postgres.js';
import { PgporterProcess } from '../test/fixtures/pgporter.js';
import { FakeFly } from '../test/fixtures/fake-fly.js';
import { sleep } from '../test/fixtures/ports.js';

const ROUNDS = Number(process.env.ROUNDS ?? 15);
const MACHINE = 'bench0001';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function firstRow(port: number): Promise<number> {
  const t0 = performance.now();
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'app.acme', password: USERS.scram.password, database: 'postgres' });
  await c.connect();
  await c.query('SELECT 1');
  const ms = performance.now() - t0;
  await c.end();
  return ms;
}

async function main(): Promise<void> {
  const fake = await FakeFly.start({ transitionMs: 0, rateLimit: false });
  const db = await PostgresFixture.start();
  await fake.addMachine({ app: 'acme-db', id: MACHINE, pg: db, state: 'started' });
  const porter = await PgporterProcess.start({
    config: {
      proxyProtocol: { mode: 'off' },
      log: { level: 'info' },
      fly: { apiBaseUrl: fake.url, token: '${FLY_API_TOKEN}' },
      tenants: [{ id: 'acme', upstream: { host: '127.0.0.1', port: db.port }, auth: { users: [{ name: 'app', password: USERS.scram.password }] }, fly: { app: 'acme-db', machineId: MACHINE, suspendAfterIdle: '1s' } }],
    },
    env: { FLY_API_TOKEN: fake.token ?? '' },
  });
  try {
    const warm: number[] = [];
    const woke: number[] = [];
    const resume: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      warm.push(await firstRow(porter.port));
      // pgporter suspends the idle machine itself (suspendAfterIdle), closing its server connections first.
      while (fake.state(MACHINE) !== 'suspended') await sleep(20);
      const mark = fake.transitions.length;
      woke.push(await firstRow(porter.port));
      const tr = fake.transitions.slice(mark).filter((x) => x.machine === MACHINE);
      const starting = tr.find((x) => x.to === 'starting');
      const started = tr.find((x) => x.to === 'started');
      resume.push(starting && started ? started.at - starting.at : 0);
      await sleep(50);
    }
    const overhead = woke.map((w, i) => w - resume[i]!);
    const row = (name: string, xs: number[]) => `| ${name} | ${quantile(xs, 0.5).toFixed(1)} | ${quantile(xs, 0.9).toFixed(1)} |`;
    console.log(`wake overhead, ${ROUNDS} rounds (fake Machines API with SIGSTOP/SIGCONT of a real PostgreSQL; ms)\n`);
    console.log('| measure | median ms | p90 ms |\n|---|---|---|');
    console.log(row('connect to first row, machine already started', warm));
    console.log(row('connect to first row, machine suspended', woke));
    console.log(row("machine's own resume (fake's transition log)", resume));
    console.log(row('pgporter wake overhead (suspended total - resume)', overhead));
  } finally {
    await porter.stop();
    await db.destroy();
    await fake.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
