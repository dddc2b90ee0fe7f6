// `npm run bench` in a tiny mode writes RESULTS.md, results.json and results.svg with every row and target, keeping the notes; structure only, never figures.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { BenchResults } from '../bench/results.js';
import { tempDir } from './fixtures/ports.js';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '../bench/bench.js');
const WORKLOADS = ['simple', 'connect'];
const TARGETS = ['direct', 'PgBouncer', 'pgporter 1w', 'pgporter 2w'];
const POOLERS = ['PgBouncer', 'pgporter 1w', 'pgporter 2w'];
const NOTES = 'hand-written analysis that must survive a run';

const out = tempDir('bench-smoke');
t.teardown(out.remove);
writeFileSync(join(out.path, 'RESULTS.md'), `# old\n\n<!-- notes -->\n${NOTES}\n<!-- end notes -->\n`);

const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  const env = {
    ...process.env,
    BENCH_OUT: out.path,
    BENCH_SECONDS: '1',
    BENCH_ROUNDS: '1',
    BENCH_WARMUP_SECONDS: '0',
    BENCH_ONLY: WORKLOADS.join(','),
    BENCH_SCALE: '1',
    BENCH_IDLE_CLIENTS: '200',
    BENCH_IDLE_SETTLE_MS: '300',
    BENCH_ALLOWLIST_RULES: '2000',
    BENCH_ALLOWLIST_CONNECTIONS: '20',
  };
  execFile(process.execPath, [BENCH], { env, timeout: 200_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
    resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr });
  });
});

t.equal(run.code, 0, `the bench exits 0 (${run.stderr.slice(-2000)})`);

t.test('results.json: a cell for every workload and target, idle clients, allowlist cost and the targets judged', async (t) => {
  const r = JSON.parse(readFileSync(join(out.path, 'results.json'), 'utf8')) as BenchResults;
  t.ok(r.settings.short, 'a tiny run is labelled short');
  t.same(r.settings.workloads, WORKLOADS, 'BENCH_ONLY chose the workloads');
  t.ok(r.machine.cores > 0 && r.machine.pgbouncer.includes('PgBouncer') && r.machine.postgres.includes('PostgreSQL'), 'machine and versions');
  for (const w of WORKLOADS) {
    for (const target of TARGETS) {
      const c = r.cells.find((x) => x.workload === w && x.target === target);
      t.ok(c, `${w} × ${target} present`);
      if (!c) continue;
      t.ok(c.error !== undefined || (typeof c.tps === 'number' && typeof c.p99Ms === 'number'), `${w} × ${target}: figures or an error`);
      if (c.error === undefined) t.equal(c.poolerCpuMicrosPerTx === null, target === 'direct', `${w} × ${target}: pooler CPU only for poolers`);
    }
  }
  t.equal(r.cells.length, WORKLOADS.length * TARGETS.length, 'no other cells');
  t.same(r.idle.map((i) => i.target), POOLERS, 'idle clients for each pooler');
  t.ok(r.idle.every((i) => i.clients === 200 && i.processes >= 1), 'idle: 200 clients over a process tree');
  t.equal(r.allowlist?.rules, 2000);
  t.equal(r.allowlist?.checks.length, 8, 'IPv4/IPv6 × allowed/refused × check/CidrSet');
  t.same(r.allowlist?.connections.map((c) => c.outcome), ['refused', 'allowed'], 'end to end: refused and admitted');
  for (const col of ['pgporter 1w', 'pgporter 2w']) {
    const goals = r.goals.filter((g) => g.target === col).map((g) => g.goal.split(':')[0]);
    t.same(goals, ['connect', 'connect', 'per transaction (simple)', 'memory'], `${col}: every target that applies is judged`);
  }
});

t.test('RESULTS.md: generated whole, short-run label, every row, notes kept', async (t) => {
  const md = readFileSync(join(out.path, 'RESULTS.md'), 'utf8');
  t.notMatch(md, /^# old/m, 'the old text outside the notes is gone');
  t.match(md, /\*\*Short run\*\*/, 'labelled short');
  for (const h of ['## Machine', '## Settings', '## Targets of issue 11', '## Workloads', '## Idle clients', '## Allowlist cost', '## Notes']) t.match(md, h, h);
  for (const title of ['select-only, simple, 50 clients', 'new connection per transaction (-C), 10 clients']) {
    for (const target of TARGETS) t.ok(md.includes(`| ${title} | ${target} |`), `row ${title} × ${target}`);
  }
  t.match(md, `<!-- notes -->\n${NOTES}\n<!-- end notes -->`, 'notes preserved between the markers');
  t.match(run.stdout, '## Workloads', 'the tables are printed too');
});

t.test('results.svg: an SVG naming each workload', async (t) => {
  const svg = readFileSync(join(out.path, 'results.svg'), 'utf8');
  t.match(svg, /^<svg/);
  for (const s of ['select, simple, 50', '-C, 10']) t.ok(svg.includes(s), `chart has ${s}`);
});
