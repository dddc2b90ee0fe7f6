// Compares pgporter with 1 and 2 worker processes, and 2 workers under either scheduling (alternating rounds): pgbench tps, the pooler's CPU per transaction per process (supervisor, each worker), and how new connections split between the workers.
// Run with `npm run build && node dist/bench/workers-compare.js` (environment: BENCH_SECONDS, BENCH_ROUNDS, BENCH_POOL,
// BENCH_VARIANTS such as `1,2:kernel,2:round-robin`, BENCH_WORKLOADS a comma list of `select` and `connect`).
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { PostgresFixture, USERS } from '../test/fixtures/postgres.js';
import { PgporterProcess } from '../test/fixtures/pgporter.js';
import { childPids } from '../test/fixtures/workers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const POOL = Number(process.env.BENCH_POOL ?? 20);
const VARIANTS = (process.env.BENCH_VARIANTS ?? '1,2:kernel,2:round-robin').split(',').map((v) => {
  const [n, scheduling = 'kernel'] = v.split(':');
  return { workers: Number(n), scheduling, label: Number(n) > 1 ? `${n}, ${scheduling}` : String(n) };
});
const USER = USERS.trust.user;
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const ALL_WORKLOADS = [
  { key: 'select', name: 'select-only, 50 clients', args: ['-S', '-c', '50', '-j', '2'] },
  { key: 'connect', name: 'new connection per transaction (-C), 10 clients', args: ['-S', '-C', '-c', '10', '-j', '2'] },
];
const wanted = (process.env.BENCH_WORKLOADS ?? 'select,connect').split(',');
const WORKLOADS = ALL_WORKLOADS.filter((w) => wanted.includes(w.key));

function pgbench(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('pgbench', args, { maxBuffer: 16 << 20, timeout: (SECONDS + 120) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pgbench ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** CPU seconds (user + system) of one process, from /proc/PID/stat; 0 once it has exited. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
  } catch {
    return 0;
  }
}

/** The supervisor (or single process) first, then its workers in PID order. */
function processes(pid: number): number[] {
  return [pid, ...childPids(pid).sort((a, b) => a - b)];
}

interface Row {
  workload: string;
  variant: string;
  tps: number[];
  cpuPerTx: number[];
  /** Per process (supervisor first for 2 workers), µs per transaction. */
  perProcess: number[][];
  cpuShare: number[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Logins per worker during a short run at log level info (the `accepted` lines carry the worker's number). */
async function split(porter: PgporterProcess, args: string[], workers: number): Promise<number[]> {
  const from = porter.logs.length;
  await pgbench([...args, '-T', '3', '-h', '127.0.0.1', '-p', String(porter.port), '-U', USER, 'postgres']);
  await new Promise((r) => setTimeout(r, 300));
  const n = new Array<number>(workers).fill(0);
  for (const l of porter.logs.slice(from)) if (l.event === 'accepted' && typeof l.worker === 'number') n[l.worker]!++;
  return n;
}

async function main(): Promise<void> {
  const pg = await PostgresFixture.start({ conf: ['max_connections = 200'] });
  const splits: string[] = [];
  try {
    await pgbench(['-i', '-q', '-s', '10', '-h', '127.0.0.1', '-p', String(pg.port), '-U', USER, 'postgres']);
    const rows = new Map<string, Row>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of VARIANTS) {
        const porter = await PgporterProcess.start({
          config: {
            workers: v.workers,
            workerScheduling: v.scheduling,
            log: { level: 'info' }, // the fixture waits for the 'listening' line; warn is set by a reload below
            tenants: [{ id: 'bench', upstream: { host: '127.0.0.1', port: pg.port }, auth: { method: 'trust' }, pool: { mode: 'transaction', size: POOL } }],
          },
        });
        try {
          if (v.workers > 1) {
            for (const w of WORKLOADS) splits.push(`round ${round}, ${v.label}, ${w.name}: logins per worker ${(await split(porter, w.args, v.workers)).join(' / ')}`);
            process.stderr.write(`${splits.slice(-WORKLOADS.length).join('\n')}\n`);
          }
          const cfg = parse(readFileSync(porter.configFile, 'utf8')) as Record<string, unknown>;
          writeFileSync(porter.configFile, stringify({ ...cfg, log: { level: 'warn' } }));
          process.kill(porter.pid!, 'SIGHUP');
          await new Promise((r) => setTimeout(r, 500));
          for (const w of WORKLOADS) {
            const pids = processes(porter.pid!);
            const cpu0 = pids.map(cpuOf);
            const t0 = performance.now();
            const out = await pgbench([...w.args, '-T', String(SECONDS), '-h', '127.0.0.1', '-p', String(porter.port), '-U', USER, 'postgres']);
            const wall = (performance.now() - t0) / 1000;
            const used = pids.map((p, i) => cpuOf(p) - cpu0[i]!);
            const cpu = used.reduce((a, b) => a + b, 0);
            const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? 0);
            const tx = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
            const key = `${w.name}|${v.label}`;
            const row = rows.get(key) ?? { workload: w.name, variant: v.label, tps: [], cpuPerTx: [], perProcess: [], cpuShare: [] };
            row.tps.push(tps);
            row.cpuPerTx.push(tx > 0 ? (cpu / tx) * 1e6 : 0);
            row.perProcess.push(used.map((u) => (tx > 0 ? (u / tx) * 1e6 : 0)));
            row.cpuShare.push(cpu / wall);
            rows.set(key, row);
            const opened = /pgporter_pool_server_connect_seconds_count\{tenant="bench"\} (\d+)/.exec(await porter.metrics())?.[1];
            const parts = used.map((u) => ((u / tx) * 1e6).toFixed(1)).join(' / ');
            process.stderr.write(`round ${round} workers ${v.label} ${w.name}: ${tps.toFixed(0)} tps, ${((cpu / tx) * 1e6).toFixed(1)} µs CPU/tx (per process ${parts}), ${(cpu / wall).toFixed(2)} cores, ${opened} server logins so far\n`);
          }
        } finally {
          await porter.stop();
        }
      }
    }
    const load = readFileSync('/proc/loadavg', 'utf8').trim();
    process.stdout.write(`\npgbench -T ${SECONDS}, scale 10, pool ${POOL} (transaction mode), ${ROUNDS} alternating rounds, mean; load average at the end: ${load}\n\n`);
    process.stdout.write('| workload | workers | tps | pooler CPU per transaction (µs, all processes) | supervisor (µs) | each worker (µs) | pooler cores busy |\n|---|---|---:|---:|---:|---:|---:|\n');
    for (const r of rows.values()) {
      const n = r.perProcess[0]?.length ?? 1;
      const per = Array.from({ length: n }, (_, i) => mean(r.perProcess.map((p) => p[i] ?? 0)));
      const supervisor = n > 1 ? per[0]!.toFixed(1) : '–';
      const workers = n > 1 ? per.slice(1).map((x) => x.toFixed(1)).join(' / ') : per[0]!.toFixed(1);
      process.stdout.write(`| ${r.workload} | ${r.variant} | ${mean(r.tps).toFixed(0)} | ${mean(r.cpuPerTx).toFixed(1)} | ${supervisor} | ${workers} | ${mean(r.cpuShare).toFixed(2)} |\n`);
    }
    if (splits.length) process.stdout.write(`\nLogins per worker in a 3 s run at log level info (the \`accepted\` lines):\n\n${splits.map((s) => `- ${s}`).join('\n')}\n`);
  } finally {
    await pg.destroy();
  }
}

await main();
