// Compares pgporter with 1 and 2 worker processes (alternating rounds): pgbench tps and the pooler's CPU per transaction summed over its process tree (supervisor and workers).
// Run with `npm run build && node dist/bench/workers-compare.js` (environment: BENCH_SECONDS, BENCH_ROUNDS, BENCH_POOL, BENCH_WORKERS).
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { PostgresFixture, USERS } from '../test/fixtures/postgres.js';
import { PgporterProcess } from '../test/fixtures/pgporter.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const POOL = Number(process.env.BENCH_POOL ?? 20);
const WORKERS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const USER = USERS.trust.user;
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const WORKLOADS = [
  { name: 'select-only, 50 clients', args: ['-S', '-c', '50', '-j', '2'] },
  { name: 'new connection per transaction (-C), 10 clients', args: ['-S', '-C', '-c', '10', '-j', '2'] },
];

function pgbench(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('pgbench', args, { maxBuffer: 16 << 20, timeout: (SECONDS + 120) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pgbench ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** CPU seconds (user + system) of a process itself and of it with its children, from /proc. */
function treeCpu(pid: number): { all: number; own: number } {
  const pids = [pid];
  try {
    pids.push(
      ...execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
        .split('\n')
        .map((l) => Number(l.trim()))
        .filter((n) => n > 0),
    );
  } catch {
    // no children
  }
  let ticks = 0;
  let own = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const t = Number(fields[11]) + Number(fields[12]); // utime, stime
      ticks += t;
      if (p === pid) own = t;
    } catch {
      // exited
    }
  }
  return { all: ticks / TICK, own: own / TICK };
}

interface Row {
  workload: string;
  workers: number;
  tps: number[];
  cpuPerTx: number[];
  cpuShare: number[];
  supervisorPerTx: number[];
}

async function main(): Promise<void> {
  const pg = await PostgresFixture.start({ conf: ['max_connections = 200'] });
  try {
    await pgbench(['-i', '-q', '-s', '10', '-h', '127.0.0.1', '-p', String(pg.port), '-U', USER, 'postgres']);
    const rows = new Map<string, Row>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const workers of WORKERS) {
        const porter = await PgporterProcess.start({
          config: {
            workers,
            log: { level: 'info' }, // the fixture waits for the 'listening' line; warn is set by a reload below
            tenants: [{ id: 'bench', upstream: { host: '127.0.0.1', port: pg.port }, auth: { method: 'trust' }, pool: { mode: 'transaction', size: POOL } }],
          },
        });
        try {
          const cfg = parse(readFileSync(porter.configFile, 'utf8')) as Record<string, unknown>;
          writeFileSync(porter.configFile, stringify({ ...cfg, log: { level: 'warn' } }));
          process.kill(porter.pid!, 'SIGHUP');
          await new Promise((r) => setTimeout(r, 500));
          for (const w of WORKLOADS) {
            const cpu0 = treeCpu(porter.pid!);
            const t0 = performance.now();
            const out = await pgbench([...w.args, '-T', String(SECONDS), '-h', '127.0.0.1', '-p', String(porter.port), '-U', USER, 'postgres']);
            const wall = (performance.now() - t0) / 1000;
            const cpu1 = treeCpu(porter.pid!);
            const cpu = cpu1.all - cpu0.all;
            const supervisor = workers > 1 ? cpu1.own - cpu0.own : 0;
            const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? 0);
            const tx = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? 0);
            const key = `${w.name}|${workers}`;
            const row = rows.get(key) ?? { workload: w.name, workers, tps: [], cpuPerTx: [], cpuShare: [], supervisorPerTx: [] };
            row.tps.push(tps);
            row.cpuPerTx.push(tx > 0 ? (cpu / tx) * 1e6 : 0);
            row.cpuShare.push(cpu / wall);
            row.supervisorPerTx.push(tx > 0 ? (supervisor / tx) * 1e6 : 0);
            rows.set(key, row);
            const opened = /pgporter_pool_server_connect_seconds_count\{tenant="bench"\} (\d+)/.exec(await porter.metrics())?.[1];
            process.stderr.write(`round ${round} workers ${workers} ${w.name}: ${tps.toFixed(0)} tps, ${((cpu / tx) * 1e6).toFixed(1)} µs CPU/tx (supervisor ${((supervisor / tx) * 1e6).toFixed(1)}), ${(cpu / wall).toFixed(2)} cores, ${opened} server logins so far\n`);
          }
        } finally {
          await porter.stop();
        }
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim();
    process.stdout.write(`\npgbench -T ${SECONDS}, scale 10, pool ${POOL} (transaction mode), ${ROUNDS} alternating rounds, mean; load average at the end: ${load}\n\n`);
    process.stdout.write('| workload | workers | tps | pooler CPU per transaction (µs, all processes) | of which the supervisor (µs) | pooler cores busy |\n|---|---:|---:|---:|---:|---:|\n');
    for (const r of rows.values()) {
      process.stdout.write(`| ${r.workload} | ${r.workers} | ${mean(r.tps).toFixed(0)} | ${mean(r.cpuPerTx).toFixed(1)} | ${mean(r.supervisorPerTx).toFixed(1)} | ${mean(r.cpuShare).toFixed(2)} |\n`);
    }
  } finally {
    await pg.destroy();
  }
}

await main();
