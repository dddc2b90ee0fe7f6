// Benchmarks pgbench through a direct connection, PgBouncer and pgporter in one run, alternating, and prints a Markdown table.
// Run with `npm run bench` (environment: BENCH_SECONDS, BENCH_CLIENTS, BENCH_POOL, BENCH_ROUNDS).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { PostgresFixture, USERS } from '../test/fixtures/postgres.js';
import { PgporterProcess } from '../test/fixtures/pgporter.js';
import { freePort, tempDir } from '../test/fixtures/ports.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 20);
const POOL = Number(process.env.BENCH_POOL ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PGBOUNCER = process.env.PGBOUNCER ?? '/usr/sbin/pgbouncer';
const USER = USERS.trust.user;

interface Target {
  name: string;
  port: number;
}

interface Sample {
  tps: number;
  latencyMs: number;
  failed: number;
}

function pgbench(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('pgbench', args, { maxBuffer: 16 << 20, timeout: (SECONDS + 120) * 1000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pgbench ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

function parse(out: string): Sample {
  const tps = /tps = ([\d.]+)/.exec(out);
  const lat = /latency average = ([\d.]+) ms/.exec(out);
  const failed = /number of failed transactions: (\d+)/.exec(out);
  if (!tps || !lat) throw new Error(`cannot read pgbench output:\n${out}`);
  return { tps: Number(tps[1]), latencyMs: Number(lat[1]), failed: failed ? Number(failed[1]) : 0 };
}

/** As root, PgBouncer must run as another user; the postgres user owns the fixture anyway. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function waitPort(port: number, proc: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startPgbouncer(pgPort: number): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = tempDir('pgbouncer');
  const owner = runAs();
  if (owner) chownSync(dir.path, owner.uid, owner.gid);
  const port = await freePort();
  const ini = join(dir.path, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `postgres = host=127.0.0.1 port=${pgPort} dbname=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir =`,
      'auth_type = trust',
      `auth_file = ${join(dir.path, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${POOL}`,
      'max_client_conn = 1000',
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${join(dir.path, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir.path, 'users.txt'), `"${USER}" ""\n`);
  const proc = spawn(PGBOUNCER, [ini], { stdio: ['ignore', 'ignore', 'pipe'], ...(owner ?? {}) });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitPort(port, proc, 'pgbouncer');
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${stderr}`);
  }
  return {
    port,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        process.kill(proc.pid!, 'SIGINT');
        await exited;
      }
      dir.remove();
    },
  };
}

async function main(): Promise<void> {
  const pg = await PostgresFixture.start({ conf: [`max_connections = ${CLIENTS + 3 * POOL + 20}`] });
  const cleanups: (() => Promise<void>)[] = [() => pg.destroy()];
  try {
    const bouncer = await startPgbouncer(pg.port);
    cleanups.unshift(bouncer.stop);
    const porter = await PgporterProcess.start({
      config: {
        log: { level: 'info' }, // the fixture waits for the 'listening' line
        tenants: [{ id: 'bench', upstream: { host: '127.0.0.1', port: pg.port }, auth: { method: 'trust' }, pool: { mode: 'transaction', size: POOL } }],
      },
    });
    cleanups.unshift(() => porter.stop());

    await pgbench(['-i', '-q', '-s', '10', '-h', '127.0.0.1', '-p', String(pg.port), '-U', USER, 'postgres']);
    const targets: Target[] = [
      { name: 'direct', port: pg.port },
      { name: 'PgBouncer', port: bouncer.port },
      { name: 'pgporter', port: porter.port },
    ];
    const workloads = [
      { name: 'select-only', args: ['-S'] },
      { name: 'tpcb-like', args: [] as string[] },
    ];
    const results = new Map<string, Sample[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const w of workloads) {
        // Alternate the order each round so warm-up and drift do not favour one target.
        const order = round % 2 === 0 ? targets : [...targets].reverse();
        for (const target of order) {
          const out = await pgbench(['-n', '-M', 'extended', '-c', String(CLIENTS), '-j', '2', '-T', String(SECONDS), ...w.args, '-h', '127.0.0.1', '-p', String(target.port), '-U', USER, 'postgres']);
          const s = parse(out);
          const key = `${w.name}\0${target.name}`;
          results.set(key, [...(results.get(key) ?? []), s]);
          process.stderr.write(`round ${round + 1} ${w.name} ${target.name}: ${s.tps.toFixed(0)} tps, ${s.latencyMs.toFixed(3)} ms\n`);
        }
      }
    }
    const lines = [
      `pgbench -M extended -c ${CLIENTS} -j 2 -T ${SECONDS}, scale 10, pool size ${POOL} (transaction mode), ${ROUNDS} alternating rounds, mean of rounds`,
      '',
      '| workload | target | tps | avg latency (ms) | failed |',
      '|---|---|---:|---:|---:|',
    ];
    for (const w of workloads) {
      for (const target of targets) {
        const ss = results.get(`${w.name}\0${target.name}`) ?? [];
        const mean = (f: (s: Sample) => number) => ss.reduce((a, s) => a + f(s), 0) / Math.max(1, ss.length);
        lines.push(`| ${w.name} | ${target.name} | ${mean((s) => s.tps).toFixed(0)} | ${mean((s) => s.latencyMs).toFixed(3)} | ${ss.reduce((a, s) => a + s.failed, 0)} |`);
      }
    }
    console.log(lines.join('\n'));
  } finally {
    for (const c of cleanups) await c().catch(() => {});
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
