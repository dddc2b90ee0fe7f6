// The pgbench workloads of `npm run bench` and the alternating rounds that run each on every target, with the pooler's CPU per transaction.
import { quantile, runPgbench } from './pgbench-run.js';
import { cpuDuring } from './proc-tree.js';
import { USER, type Target } from './targets.js';

/** Which set of targets a workload runs against. */
export type TargetSet = 'plain' | 'haproxy' | 'tls';

export interface Workload {
  /** Key for BENCH_ONLY. */
  id: string;
  title: string;
  /** For the chart's small headers. */
  short: string;
  /** pgbench arguments besides connection, duration and logging. */
  args: string[];
  targets: TargetSet;
  sslmode: 'disable' | 'require';
}

const sel = (mode: string, clients: number) => ['-S', '-M', mode, '-c', String(clients), '-j', '2'];

export const WORKLOADS: readonly Workload[] = [
  { id: 'simple', short: 'select, simple, 50', title: 'select-only, simple, 50 clients', args: sel('simple', 50), targets: 'plain', sslmode: 'disable' },
  { id: 'extended', short: 'select, extended, 50', title: 'select-only, extended, 50 clients', args: sel('extended', 50), targets: 'plain', sslmode: 'disable' },
  { id: 'prepared', short: 'select, prepared, 50', title: 'select-only, prepared, 50 clients', args: sel('prepared', 50), targets: 'plain', sslmode: 'disable' },
  { id: 'tpcb', short: 'tpcb-like, 20', title: 'tpcb-like, 20 clients', args: ['-M', 'simple', '-c', '20', '-j', '2'], targets: 'plain', sslmode: 'disable' },
  { id: 'many', short: 'select, 400 on pool 20', title: 'select-only, 400 clients on pool 20', args: sel('simple', 400), targets: 'plain', sslmode: 'disable' },
  { id: 'connect', short: '-C, 10', title: 'new connection per transaction (-C), 10 clients', args: ['-C', ...sel('simple', 10)], targets: 'plain', sslmode: 'disable' },
  { id: 'proxy', short: '-C, 10, PROXY v2 (haproxy)', title: '-C, 10 clients, PROXY v2 header via haproxy', args: ['-C', ...sel('simple', 10)], targets: 'haproxy', sslmode: 'disable' },
  { id: 'tls', short: '-C, 10, TLS', title: '-C, 10 clients, TLS (sslmode=require)', args: ['-C', ...sel('simple', 10)], targets: 'tls', sslmode: 'require' },
];

/** One workload on one target, all rounds together. */
export interface Cell {
  workload: string;
  target: string;
  rounds: number;
  /** Mean of the rounds that ran; null when every round failed (see error). */
  tps: number | null;
  /** Each round's tps in round order (null: that round failed): their spread says how far to trust the mean. */
  tpsRounds: Array<number | null>;
  p50Ms: number | null;
  p99Ms: number | null;
  transactions: number;
  failed: number;
  /** Pooler process tree CPU per transaction (null: no pooler, e.g. direct). */
  poolerCpuMicrosPerTx: number | null;
  /** haproxy's CPU per transaction, where it is in front. */
  haproxyCpuMicrosPerTx: number | null;
  /** Set when every round failed: the first round's error, reported instead of figures. */
  error?: string;
  /** Rounds that failed while others ran, with the first such error; the figures come from the others. */
  failedRounds?: { count: number; first: string };
}

interface Acc {
  tps: Array<number | null>;
  latencies: number[];
  transactions: number;
  failed: number;
  poolerCpu: number;
  haproxyCpu: number;
  errors: string[];
}

/** `targets` rotated by `round`, so each one goes first, second, ... in turn and drift favours none. */
export function rotate<T>(targets: readonly T[], round: number): T[] {
  const k = round % Math.max(1, targets.length);
  return [...targets.slice(k), ...targets.slice(0, k)];
}

/**
 * Exercises every pooler before round 1, all at once (nothing is measured): pgporter's JIT would otherwise count
 * against it in the first round only, and PgBouncer, compiled ahead of time, has no such start. Connects and simple
 * queries (-C), then the extended protocol.
 */
export async function warmUpTargets(targets: readonly Target[], seconds: number): Promise<void> {
  for (const args of [['-S', '-C', '-c', '4', '-j', '1'], ['-S', '-M', 'extended', '-c', '8', '-j', '1']]) {
    await Promise.all(targets.map((t) => runPgbench([...args, '-h', '127.0.0.1', '-p', String(t.port), '-U', USER, 'postgres'], seconds, { PGSSLMODE: 'disable' })));
  }
}

export interface RoundsOptions {
  rounds: number;
  seconds: number;
  targetsOf(set: TargetSet): Target[];
  progress(line: string): void;
}

/** Runs every workload on every target of its set, round after round, the target order rotating each round. */
export async function runRounds(workloads: readonly Workload[], opts: RoundsOptions): Promise<Cell[]> {
  const acc = new Map<string, Acc>();
  const key = (w: Workload, t: Target) => `${w.id}\0${t.label}`;
  for (let round = 0; round < opts.rounds; round++) {
    for (const w of workloads) {
      for (const t of rotate(opts.targetsOf(w.targets), round)) {
        const roots = [t.poolerPid, t.haproxyPid].filter((p): p is number => p !== undefined);
        const conn = ['-h', '127.0.0.1', '-p', String(t.port), '-U', USER, 'postgres'];
        const { result: r, cpuMicros } = await cpuDuring(roots, () => runPgbench([...w.args, ...conn], opts.seconds, { PGSSLMODE: w.sslmode }));
        let a = acc.get(key(w, t));
        if (!a) acc.set(key(w, t), (a = { tps: [], latencies: [], transactions: 0, failed: 0, poolerCpu: 0, haproxyCpu: 0, errors: [] }));
        if (r.error !== undefined) {
          a.errors.push(r.error);
          a.tps.push(null);
        } else {
          a.tps.push(r.tps);
          for (const l of r.latenciesUs) a.latencies.push(l);
          a.transactions += r.transactions;
          a.failed += r.failed;
          if (t.poolerPid !== undefined) a.poolerCpu += cpuMicros[0]!;
          if (t.haproxyPid !== undefined) a.haproxyCpu += cpuMicros[roots.length - 1]!;
        }
        opts.progress(`round ${round + 1}/${opts.rounds} ${w.id} ${t.label}: ${r.error ? `failed: ${r.error}` : `${r.tps.toFixed(0)} tps`}`);
      }
    }
  }
  const cells: Cell[] = [];
  for (const w of workloads) {
    for (const t of opts.targetsOf(w.targets)) {
      const a = acc.get(key(w, t))!;
      const ran = a.tps.filter((x): x is number => x !== null);
      const ok = ran.length > 0;
      const perTx = (cpu: number, has: boolean) => (ok && has && a.transactions > 0 ? cpu / a.transactions : null);
      cells.push({
        workload: w.id,
        target: t.label,
        rounds: ran.length,
        tps: ok ? ran.reduce((x, y) => x + y, 0) / ran.length : null,
        tpsRounds: a.tps,
        p50Ms: ok && a.latencies.length ? quantile(a.latencies, 0.5) / 1000 : null,
        p99Ms: ok && a.latencies.length ? quantile(a.latencies, 0.99) / 1000 : null,
        transactions: a.transactions,
        failed: a.failed,
        poolerCpuMicrosPerTx: perTx(a.poolerCpu, t.poolerPid !== undefined),
        haproxyCpuMicrosPerTx: perTx(a.haproxyCpu, t.haproxyPid !== undefined),
        ...(!ok ? { error: a.errors[0] ?? 'not run' } : a.errors.length ? { failedRounds: { count: a.errors.length, first: a.errors[0]! } } : {}),
      });
    }
  }
  return cells;
}
