// Runs pgbench once with per-transaction logs (-l) and reads back tps, transactions, failures and a sample of latencies.
import { execFile, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/fixtures/ports.js';

/** Latencies kept per run; beyond this the log is read with a stride, so a fast run costs no more memory than a slow one. */
const MAX_SAMPLES = 100_000;

export interface PgbenchOutcome {
  /** Set when pgbench failed or a client aborted: the first error line, reported instead of a number. */
  error?: string;
  tps: number;
  transactions: number;
  failed: number;
  /** Per-transaction latencies in microseconds (a sample when the run was large). */
  latenciesUs: number[];
}

/** pgbench processes running now and their log directories, for abortPgbench(), after which none starts. */
const running = new Map<ChildProcess, () => void>();
let aborted = false;

function exec(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, removeLogs = () => {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('pgbench', args, { timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, PGCONNECT_TIMEOUT: '30', ...env } }, (err, stdout, stderr) => {
      running.delete(child);
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    running.set(child, removeLogs);
  });
}

/** Kills every pgbench still running and removes its logs: the bench was interrupted. */
export function abortPgbench(): void {
  aborted = true;
  for (const [child, removeLogs] of running) {
    child.kill('SIGKILL');
    removeLogs();
  }
  running.clear();
}

/** `pgbench -i` at `scale`; throws on failure. */
export async function initPgbench(conn: string[], scale: number): Promise<void> {
  // Server-side generation (G) instead of client-side (g): the same tables, several times faster to make.
  const r = await exec(['-i', '-q', '-I', 'dtGvp', '-s', String(scale), ...conn], { PGSSLMODE: 'disable' }, 600_000);
  if (r.code !== 0) throw new Error(`pgbench -i failed: ${r.stderr}`);
}

/** The `time` column (µs) of every `stride`-th line of pgbench's per-transaction logs; failed transactions say "failed" there and are skipped. */
function readLatencies(dir: string): number[] {
  const files = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'));
  const lines = files.reduce((n, text) => n + (text.match(/\n/g)?.length ?? 0), 0);
  const stride = Math.max(1, Math.ceil(lines / MAX_SAMPLES));
  const out: number[] = [];
  let i = 0;
  for (const text of files) {
    for (const line of text.split('\n')) {
      if (!line || i++ % stride !== 0) continue;
      const us = Number(line.split(' ')[2]);
      if (Number.isFinite(us)) out.push(us);
    }
  }
  return out;
}

/** One pgbench run of `seconds`, with `args` (workload and connection) and `env` (PGSSLMODE). Never throws. */
export async function runPgbench(args: string[], seconds: number, env: NodeJS.ProcessEnv): Promise<PgbenchOutcome> {
  if (aborted) return { error: 'interrupted', tps: 0, transactions: 0, failed: 0, latenciesUs: [] };
  const dir = tempDir('bench-pgbench-log');
  try {
    const r = await exec(['-n', '-T', String(seconds), '-l', `--log-prefix=${join(dir.path, 'tx')}`, ...args], env, (seconds + 120) * 1000, dir.remove);
    const out = r.stdout;
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? Number.NaN);
    const tps = num(/^tps = ([\d.]+)/m);
    const transactions = num(/number of transactions actually processed: (\d+)/);
    const failed = num(/number of failed transactions: (\d+)/);
    const aborted = /^pgbench: error: .*$/m.exec(r.stderr)?.[0] ?? (r.code !== 0 ? r.stderr.trim().split('\n').at(-1) || `exit code ${r.code}` : undefined);
    if (aborted === undefined && transactions === 0) {
      // pgbench's -T clock runs while it connects its clients one by one; slow backend starts can use it all up.
      return { error: `no transaction completed in ${seconds} s (connecting the clients took that long)`, tps: 0, transactions: 0, failed: 0, latenciesUs: [] };
    }
    if (aborted !== undefined || !Number.isFinite(tps)) {
      return { error: (aborted ?? `no tps in the output: ${(r.stderr + r.stdout).trim().split('\n').slice(-3).join(' / ')}`).replace(/^pgbench: error: /, '').slice(0, 200), tps: 0, transactions: 0, failed: 0, latenciesUs: [] };
    }
    return { tps, transactions, failed: Number.isFinite(failed) ? failed : 0, latenciesUs: readLatencies(dir.path) };
  } finally {
    dir.remove();
  }
}

/** The q-quantile (0..1) of `xs` (sorted in place). */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
}
