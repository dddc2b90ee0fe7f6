// The driver matrix: real drivers from Debian packages (asyncpg, psycopg 3, psycopg2, pgjdbc, pgx, lib/pq, ruby-pg, PHP pgsql) run the same scenarios against PostgreSQL directly, then through haproxy (PROXY v2) and pgporter (TLS) in transaction and in session mode.
//
// Each program in test/drivers prints one JSON line per scenario; every scenario must pass against PostgreSQL
// directly (the test proves itself), and then through pgporter. A missing driver package fails the driver's test
// (CI installs them: .ci/run). listen_notify is not asked of transaction mode, where the README documents it as
// unsupported. DRIVERS=asyncpg,pgx (comma list) runs only those drivers, for development.
import t from 'tap';
import { DRIVERS, makeBuildDir, runDriver, startDriverEnv, type DriverRun, type Scenario, type TargetName } from './fixtures/driver-env.js';

const UNSUPPORTED: Partial<Record<TargetName, Partial<Record<Scenario, string>>>> = {
  transaction: { listen_notify: 'LISTEN/NOTIFY is documented as unsupported in transaction mode (README "Transaction pooling: what does not work")' },
};

const only = (process.env.DRIVERS ?? '').split(',').filter(Boolean);
const drivers = only.length ? DRIVERS.filter((d) => only.includes(d.name)) : DRIVERS;

const started = Date.now();
const env = await startDriverEnv();
t.teardown(() => env.stop());
const build = makeBuildDir();
t.teardown(() => build.remove());

// Compile Java and Go once, one after another in the background while the interpreted drivers run (2 cores).
const prepared = new Map<string, Promise<string[]>>();
let chain: Promise<unknown> = Promise.resolve();
for (const d of drivers) {
  let p: Promise<string[]>;
  try {
    d.check();
    p = chain.then(() => d.prepare(build));
  } catch (err) {
    p = Promise.reject(err as Error);
  }
  p.catch(() => {}); // reported by the driver's own test
  chain = p.catch(() => {});
  prepared.set(d.name, p);
}

const summary: string[] = [];

for (const d of drivers) {
  await t.test(d.name, async (t) => {
    let cmd: string[];
    try {
      cmd = await prepared.get(d.name)!;
    } catch (err) {
      t.fail(`${d.name}: driver not usable (Debian packages: ${d.packages.join(', ')}): ${(err as Error).message}`);
      return;
    }
    for (const target of env.targets) {
      const skipped = UNSUPPORTED[target.name] ?? {};
      const scenarios = d.scenarios.filter((s) => !(s in skipped));
      const run: DriverRun = await runDriver(cmd, target, scenarios, `${d.name}_${target.name}`);
      let passed = 0;
      const failed: string[] = [];
      for (const s of scenarios) {
        const r = run.results.find((x) => x.scenario === s);
        const where = `${d.name} via ${target.name}: ${s}`;
        if (!r) {
          failed.push(s);
          t.fail(`${where}: no result printed (exit ${run.code}, ${run.ms} ms)\n${run.noise}`);
          continue;
        }
        if (r.ok) passed++;
        else failed.push(s);
        const blame = target.name === 'direct' ? ' [fails against PostgreSQL directly: the scenario or driver setup is wrong, not pgporter]' : '';
        t.ok(r.ok, `${where}: ${r.detail}${r.ok ? '' : blame}`);
      }
      for (const [s, why] of Object.entries(skipped)) {
        if (d.scenarios.includes(s as Scenario)) t.ok(true, `${d.name} via ${target.name}: ${s}`, { skip: why });
      }
      summary.push(`${d.name.padEnd(10)} ${target.name.padEnd(12)} ${passed}/${scenarios.length} passed ${String(run.ms).padStart(6)} ms${failed.length ? `  FAILED: ${failed.join(', ')}` : ''}`);
    }
  });
}

t.test('summary', async (t) => {
  t.comment(`driver matrix in ${Math.round((Date.now() - started) / 1000)} s:\n${summary.join('\n')}`);
  t.pass('summary printed');
});
