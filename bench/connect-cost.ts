// Pooler CPU per new connection (pgbench -C, select-only, 10 clients, trust, no PROXY header) for pgporter on one worker and PgBouncer, in alternating rounds, optionally with its syscalls per connection.
// Run with `npm run build && node dist/bench/connect-cost.js` (environment: CONNECT_TX transactions per client per round,
// CONNECT_ROUNDS, CONNECT_PGBOUNCER=0 to skip PgBouncer, CONNECT_STRACE=1 to add one `strace -c -f` round per target,
// CONNECT_BASELINE=other/dist/src/cli.js to compare with another build, CONNECT_PROFILE=dir to run pgporter under --cpu-prof, CONNECT_PERF=file for one round under `perf record`,
// CONNECT_NODE_ARGS extra node flags for pgporter, CONNECT_CALLGRIND=1 to count instructions instead of CPU time:
// pgporter alone under `valgrind --tool=callgrind`, counters zeroed before and dumped after each round, so the figure is
// the instructions per connection of the process and its threads, steady from run to run where CPU time is not).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresFixture } from '../test/fixtures/postgres.js';
import { startPgbouncer, startPgporter, USER, type Target } from './targets.js';

const TX = Number(process.env.CONNECT_TX ?? 400);
const ROUNDS = Number(process.env.CONNECT_ROUNDS ?? 5);
const CLIENTS = 10;
const WITH_PGBOUNCER = process.env.CONNECT_PGBOUNCER !== '0';
const STRACE = process.env.CONNECT_STRACE === '1';
/** A directory: pgporter runs with --cpu-prof writing there (the figures then include the profiler's cost). */
const PROFILE = process.env.CONNECT_PROFILE;
/** A file: one more round under `perf record -e cpu-clock -g` (pgporter then runs with --perf-basic-prof to name JIT code). */
const PERF = process.env.CONNECT_PERF;
/** Extra node flags for pgporter (space-separated), e.g. --trace-deopt. */
const NODE_ARGS = (process.env.CONNECT_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** Another build's dist/src/cli.js, run as a third target (`pgporter base`) in the same alternating rounds. */
const BASELINE = process.env.CONNECT_BASELINE;
const CALLGRIND = process.env.CONNECT_CALLGRIND === '1';
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU seconds [user, system] of one process, from /proc/PID/stat. */
function cpuOf(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) / TICK, Number(fields[12]) / TICK]; // utime, stime
}

function pgbench(port: number, tx: number): Promise<number> {
  const args = ['-S', '-M', 'simple', '-C', '-c', String(CLIENTS), '-j', '2', '-t', String(tx), '-h', '127.0.0.1', '-p', String(port), '-U', USER, 'postgres'];
  return new Promise((resolve, reject) => {
    execFile('pgbench', args, { maxBuffer: 16 << 20, env: { ...process.env, PGSSLMODE: 'disable' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pgbench failed: ${stderr || err.message}`));
      else resolve(Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? 0));
    });
  });
}

/** One round: µs of pooler CPU per connection [user, system]. */
async function round(t: Target): Promise<[number, number]> {
  const pid = t.poolerPid!;
  const [u0, s0] = cpuOf(pid);
  const n = await pgbench(t.port, TX);
  const [u1, s1] = cpuOf(pid);
  return [((u1 - u0) / n) * 1e6, ((s1 - s0) / n) * 1e6];
}

/** Syscalls per connection over one round, by name (strace -c attached to the pooler and its threads). */
async function syscalls(t: Target): Promise<string> {
  const st = spawn('strace', ['-c', '-f', '-p', String(t.poolerPid!)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  st.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => setTimeout(r, 500));
  const n = await pgbench(t.port, TX);
  const exited = new Promise((r) => st.once('exit', r));
  st.kill('SIGINT');
  await exited;
  const rows: string[] = [];
  let total = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
    if (!m || m[2] === 'total') continue;
    total += Number(m[1]);
    rows.push(`${m[2]} ${(Number(m[1]) / n).toFixed(2)}`);
  }
  return `${(total / n).toFixed(1)} per connection: ${rows.join(', ')}`;
}

/** Instructions per connection over one round, from callgrind's counters (zeroed before, dumped after). */
async function instructions(t: Target, dir: string): Promise<number> {
  const pid = String(t.poolerPid!);
  execFileSync('callgrind_control', ['-z', pid], { stdio: 'ignore' });
  const n = await pgbench(t.port, TX);
  execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
  const newest = readdirSync(dir)
    .filter((f) => f.startsWith(`cg.${pid}.out.`))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
  const summary = Number(/^summary: (\d+)/m.exec(readFileSync(newest, 'utf8'))?.[1] ?? Number.NaN);
  return summary / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const pg = await PostgresFixture.start({ conf: ['max_connections = 200'] });
  const targets: Target[] = [];
  try {
    await new Promise<void>((resolve, reject) =>
      execFile('pgbench', ['-i', '-q', '-s', '1', '-h', '127.0.0.1', '-p', String(pg.port), '-U', USER, 'postgres'], (err) => (err ? reject(err) : resolve())),
    );
    const cgDir = CALLGRIND ? mkdtempSync(join(tmpdir(), 'connect-callgrind-')) : '';
    if (CALLGRIND) chmodSync(cgDir, 0o777); // PgBouncer runs as postgres
    const wrapper = CALLGRIND ? ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${cgDir}/cg.%p.out`] : undefined;
    const opts = { pgPort: pg.port, pool: 20, maxClients: 1000, ...(wrapper ? { wrapper } : {}) };
    targets.push(await startPgporter({ ...opts, workers: 1, proxyProtocol: 'off', nodeArgs: [...NODE_ARGS, ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : []), ...(PERF ? ['--perf-basic-prof', '--interpreted-frames-native-stack'] : [])] }));
    if (BASELINE) targets.push(await startPgporter({ ...opts, workers: 1, proxyProtocol: 'off', cli: BASELINE, label: 'pgporter base', nodeArgs: NODE_ARGS }));
    // callgrind_control cannot reach PgBouncer (another user, asleep in epoll_wait): instructions are pgporter's alone.
    if (WITH_PGBOUNCER && !CALLGRIND) targets.push(await startPgbouncer(opts));
    // Warm-up: JIT, pool servers (under valgrind V8 takes a few thousand connections to settle).
    for (const t of targets) await pgbench(t.port, CALLGRIND ? 500 : 50);
    if (CALLGRIND) {
      const counts = new Map<string, number[]>(targets.map((t) => [t.label, []]));
      for (let r = 1; r <= ROUNDS; r++) {
        for (const t of targets) {
          const ir = await instructions(t, cgDir);
          counts.get(t.label)!.push(ir);
          process.stderr.write(`round ${r} ${t.label}: ${(ir / 1000).toFixed(1)} k instructions per connection\n`);
        }
      }
      process.stdout.write(`\npgbench -S -C -c ${CLIENTS} -j 2 -t ${TX} (${TX * CLIENTS} connections a round) under callgrind, ${ROUNDS} alternating rounds\n`);
      for (const [label, xs] of counts) {
        process.stdout.write(`${label}: median ${(median(xs) / 1000).toFixed(1)} k instructions per connection (rounds ${xs.map((x) => (x / 1000).toFixed(1)).join(', ')})\n`);
      }
      for (const t of targets) await t.stop();
      targets.length = 0;
      if (process.env.CONNECT_KEEP !== '1') rmSync(cgDir, { recursive: true, force: true });
      else process.stdout.write(`callgrind dumps kept in ${cgDir}\n`);
      return;
    }
    const results = new Map<string, [number, number][]>(targets.map((t) => [t.label, []]));
    for (let r = 1; r <= ROUNDS; r++) {
      for (const t of targets) {
        const [u, s] = await round(t);
        results.get(t.label)!.push([u, s]);
        process.stderr.write(`round ${r} ${t.label}: ${(u + s).toFixed(1)} µs CPU per connection (user ${u.toFixed(1)}, system ${s.toFixed(1)})\n`);
      }
    }
    process.stdout.write(`\npgbench -S -C -c ${CLIENTS} -j 2 -t ${TX} (${TX * CLIENTS} connections a round), ${ROUNDS} alternating rounds; load average ${readFileSync('/proc/loadavg', 'utf8').trim()}\n`);
    for (const [label, xs] of results) {
      const all = xs.map(([u, s]) => u + s);
      const user = median(xs.map(([u]) => u));
      const sys = median(xs.map(([, s]) => s));
      process.stdout.write(`${label}: median ${median(all).toFixed(1)} µs CPU per connection, user ${user.toFixed(1)}, system ${sys.toFixed(1)} (rounds ${all.map((x) => x.toFixed(0)).join(', ')})\n`);
    }
    if (PERF) {
      const t = targets[0]!;
      const rec = spawn('perf', ['record', '-e', 'cpu-clock', '-g', '-o', PERF, '-p', String(t.poolerPid!)], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1000));
      await pgbench(t.port, TX);
      const exited = new Promise((r) => rec.once('exit', r));
      rec.kill('SIGINT');
      await exited;
      process.stdout.write(`perf data of one ${t.label} round in ${PERF}\n`);
    }
    if (STRACE) for (const t of targets) process.stdout.write(`${t.label} syscalls: ${await syscalls(t)}\n`);
  } finally {
    for (const t of targets) await t.stop();
    await pg.destroy();
  }
}

await main();
