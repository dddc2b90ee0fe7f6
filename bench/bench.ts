// `npm run bench`: every workload on direct, PgBouncer and pgporter (1 and 2 workers), idle clients and allowlist cost; writes RESULTS.md, results.json and results.svg.
// Environment (defaults in brackets; any other value labels the run short): BENCH_SECONDS [8], BENCH_ROUNDS [3], BENCH_WARMUP_SECONDS [2],
// BENCH_ONLY [all: simple,extended,prepared,tpcb,many,connect,proxy,tls], BENCH_SCALE [10], BENCH_POOL [20],
// BENCH_IDLE_CLIENTS [10000; 0 skips], BENCH_IDLE_SETTLE_MS [6000], BENCH_ALLOWLIST_RULES [10000; 0 skips],
// BENCH_ALLOWLIST_CONNECTIONS [2000], BENCH_OUT [bench/ of this checkout: where the three files go].
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCert } from '../test/fixtures/certs.js';
import { PostgresFixture, pgBinDir } from '../test/fixtures/postgres.js';
import { allowlistCost } from './allowlist-cost.js';
import { renderChart } from './chart.js';
import { IDLE_DEFAULTS, measureIdle, warmUp, type IdleResult } from './idle-measure.js';
import { sleep } from '../test/fixtures/ports.js';
import { describeMachine } from './machine.js';
import { abortPgbench, initPgbench } from './pgbench-run.js';
import { judgeGoals } from './goals.js';
import type { BenchResults, Settings } from './results.js';
import { previousNotes, reportSections, resultsMarkdown } from './results-md.js';
import { directTarget, startHaproxy, startPgbouncer, startPgporter, USER, type PoolerOptions, type Target } from './targets.js';
import { runRounds, warmUpTargets, WORKLOADS, type TargetSet } from './workloads.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULTS = { seconds: 8, rounds: 3, warmupSeconds: 2, scale: 10, pool: 20, idleClients: 10_000, idleSettleMs: 6000, allowlistRules: 10_000, allowlistConnections: 2000 };

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, not ${JSON.stringify(raw)}`);
  return n;
}

function readSettings(): Settings & { idleSettleMs: number; out: string } {
  const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const known = WORKLOADS.map((w) => w.id);
  const unknown = only.filter((id) => !known.includes(id));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown workload ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const s = {
    seconds: numberEnv('BENCH_SECONDS', DEFAULTS.seconds),
    rounds: numberEnv('BENCH_ROUNDS', DEFAULTS.rounds),
    warmupSeconds: numberEnv('BENCH_WARMUP_SECONDS', DEFAULTS.warmupSeconds),
    scale: numberEnv('BENCH_SCALE', DEFAULTS.scale),
    pool: numberEnv('BENCH_POOL', DEFAULTS.pool),
    workloads: only.length ? known.filter((id) => only.includes(id)) : known,
    idleClients: numberEnv('BENCH_IDLE_CLIENTS', DEFAULTS.idleClients),
    idleSettleMs: numberEnv('BENCH_IDLE_SETTLE_MS', DEFAULTS.idleSettleMs),
    allowlistRules: numberEnv('BENCH_ALLOWLIST_RULES', DEFAULTS.allowlistRules),
    allowlistConnections: numberEnv('BENCH_ALLOWLIST_CONNECTIONS', DEFAULTS.allowlistConnections),
    out: process.env.BENCH_OUT || join(ROOT, 'bench'),
  };
  const short = only.length > 0 || (Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>).some((k) => s[k] !== DEFAULTS[k]);
  return { ...s, short };
}

const progress = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(): Promise<void> {
  const t0 = performance.now();
  const loadStart = loadavg()[0]!;
  // A fresh shell after .ci/run's installs has neither Debian's sbin (pgbouncer, haproxy) nor PostgreSQL's bin on PATH.
  process.env.PATH = [process.env.PATH, '/usr/sbin', pgBinDir()].filter(Boolean).join(delimiter);
  const settings = readSettings();
  // Each idle client is a socket here too; fail now rather than with EMFILE after ten minutes of workloads.
  const fds = Number(execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(fds) && fds < settings.idleClients + 1000) {
    throw new Error(`${settings.idleClients} idle clients need more descriptors than ulimit -n (${fds}): use npm run bench, which raises it`);
  }
  const workloads = WORKLOADS.filter((w) => settings.workloads.includes(w.id));
  const sets = new Set(workloads.map((w) => w.targets));
  const maxClients = Math.max(1000, settings.idleClients + IDLE_DEFAULTS.warmup + 100);
  const cert = makeCert();
  /** Stopped in reverse order of starting: haproxy before what it fronts, everything before PostgreSQL. */
  const cleanups: Array<() => Promise<void>> = [async () => cert.remove()];
  const stopUntil = async (keep: number) => {
    for (const c of cleanups.splice(0, cleanups.length - keep)) await c().catch((err) => progress(`cleanup: ${String(err)}`));
  };
  // Interrupted (Ctrl-C, kill) or with its output closed (| head): pgbench stops at once, the phase under way ends, no
  // other starts, and the finally below stops every process the bench started.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  let interrupted: string | undefined;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      interrupted = signal;
      progress(`${signal}: stopping what the bench started`);
      abortPgbench();
    });
  }
  const phase = () => {
    if (interrupted) throw new Error(`interrupted by ${interrupted}`);
  };
  const idle: IdleResult[] = [];
  let allowlist: BenchResults['allowlist'] = null;
  let cells: BenchResults['cells'] = [];
  try {
    // 400 direct clients plus every pooler's pool (six poolers at most at once) and some slack.
    const pg = await PostgresFixture.start({ ssl: cert, conf: [`max_connections = ${400 + 8 * settings.pool + 20}`] });
    cleanups.unshift(() => pg.destroy());
    const base = cleanups.length;
    const started = async (t: Promise<Target>) => {
      const target = await t;
      cleanups.unshift(() => target.stop());
      phase();
      return target;
    };
    const pooler: PoolerOptions = { pgPort: pg.port, pool: settings.pool, maxClients, tls: cert };
    if (workloads.length) {
      progress(`pgbench -i -s ${settings.scale}`);
      await initPgbench(['-h', '127.0.0.1', '-p', String(pg.port), '-U', USER, 'postgres'], settings.scale);
      const plain = [
        directTarget(pg.port),
        await started(startPgbouncer(pooler)),
        await started(startPgporter({ ...pooler, workers: 1, proxyProtocol: 'off' })),
        await started(startPgporter({ ...pooler, workers: 2, proxyProtocol: 'off' })),
      ];
      const behindHaproxy: Target[] = [];
      if (sets.has('haproxy')) {
        behindHaproxy.push(await started(startHaproxy(plain[0]!, 'none')));
        for (const workers of [1, 2]) {
          const porter = await started(startPgporter({ ...pooler, workers, proxyProtocol: 'required' }));
          behindHaproxy.push(await started(startHaproxy(porter, 'v2')));
        }
      }
      // Over TLS the poolers are compared; PostgreSQL's own TLS handshake on top of its fork per connection would only pad the run.
      const targetsOf = (set: TargetSet) => (set === 'haproxy' ? behindHaproxy : set === 'tls' ? plain.slice(1) : plain);
      if (settings.warmupSeconds > 0) {
        progress(`warm-up: ${settings.warmupSeconds} s`);
        await warmUpTargets([...plain.slice(1), ...behindHaproxy.slice(1)], settings.warmupSeconds);
      }
      cells = await runRounds(workloads, { rounds: settings.rounds, seconds: settings.seconds, targetsOf, progress });
    }
    // The workload targets go before idle clients are counted, so they take no CPU or memory from the measurement.
    await stopUntil(base);
    phase();
    if (settings.idleClients > 0) {
      const opts = { ...IDLE_DEFAULTS, clients: settings.idleClients, warmupSettleMs: settings.idleSettleMs, settleMs: Math.min(IDLE_DEFAULTS.settleMs, settings.idleSettleMs) };
      const poolers = [
        await started(startPgbouncer(pooler)),
        await started(startPgporter({ ...pooler, workers: 1, proxyProtocol: 'off' })),
        await started(startPgporter({ ...pooler, workers: 2, proxyProtocol: 'off' })),
      ];
      // All warm up first and settle once; an idle pooler costs the one being measured nothing.
      for (const p of poolers) await warmUp(p, opts);
      await sleep(opts.warmupSettleMs);
      for (const p of poolers) {
        phase();
        progress(`idle clients: ${p.label}, ${opts.clients}`);
        idle.push(await measureIdle(p, opts));
      }
      await stopUntil(base);
    }
    phase();
    if (settings.allowlistRules > 0) {
      progress(`allowlist: ${settings.allowlistRules} rules`);
      allowlist = await allowlistCost({ ...pooler, tls: undefined }, settings.allowlistRules, settings.allowlistConnections);
    }
  } finally {
    await stopUntil(0);
  }

  const { out, idleSettleMs, ...settingsOut } = settings;
  const results: BenchResults = {
    date: new Date().toISOString(),
    wallSeconds: (performance.now() - t0) / 1000,
    settings: settingsOut,
    machine: describeMachine(),
    load: { start: loadStart, end: loadavg()[0]! },
    workloads: workloads.map((w) => ({ id: w.id, title: w.title, short: w.short })),
    cells,
    idle,
    allowlist,
    goals: judgeGoals(cells, idle),
  };
  mkdirSync(out, { recursive: true });
  const md = join(out, 'RESULTS.md');
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(out, 'results.svg'), await renderChart(results));
  writeFileSync(md, resultsMarkdown(results, previousNotes(md)));
  console.log(reportSections(results).join('\n'));
  progress(`wrote ${md}, results.json and results.svg in ${Math.round(results.wallSeconds)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
