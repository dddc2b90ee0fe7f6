// Issue 11's targets judged against a run: each pgporter column's ratio to PgBouncer (or bytes per idle client) and met or missed.
import type { IdleResult } from './idle-measure.js';
import type { Goal } from './results.js';
import type { Cell } from './workloads.js';

export const PGPORTER_COLUMNS = ['pgporter 1w', 'pgporter 2w'] as const;
/** Workloads held to the per-transaction CPU target (-C has a target of its own). */
const PER_TX = ['simple', 'extended', 'prepared', 'tpcb', 'many'];
const IDLE_LIMIT_BYTES = 4096;
const IDLE_AT = 10_000;

function judge(measured: number | null, limit: number, kind: 'max' | 'min'): boolean | null {
  if (measured === null || !Number.isFinite(measured)) return null;
  return kind === 'max' ? measured <= limit : measured >= limit;
}

/** pgporter / PgBouncer for `pick`, with why not when either side has no figure. */
function ratio(cells: Cell[], workload: string, target: string, pick: (c: Cell) => number | null): { value: number | null; note?: string } {
  const ours = cells.find((c) => c.workload === workload && c.target === target);
  const theirs = cells.find((c) => c.workload === workload && c.target === 'PgBouncer');
  if (!ours || !theirs) return { value: null, note: 'not run' };
  if (theirs.error !== undefined) return { value: null, note: `PgBouncer fails: ${theirs.error}` };
  if (ours.error !== undefined) return { value: null, note: `${target} fails: ${ours.error}` };
  const a = pick(ours);
  const b = pick(theirs);
  if (a === null || b === null || b === 0) return { value: null, note: 'no figure' };
  const partial = [ours, theirs].filter((c) => c.failedRounds).map((c) => `${c.target}: ${c.failedRounds!.count} round(s) failed`);
  return { value: a / b, ...(partial.length ? { note: partial.join('; ') } : {}) };
}

export function judgeGoals(cells: Cell[], idle: IdleResult[]): Goal[] {
  const goals: Goal[] = [];
  const add = (goal: string, target: string, r: { value: number | null; note?: string }, limit: number, kind: 'max' | 'min') =>
    goals.push({ goal, target, measured: r.value, limit, kind, met: judge(r.value, limit, kind), ...(r.note ? { note: r.note } : {}) });
  const ran = new Set(cells.map((c) => c.workload));
  for (const target of PGPORTER_COLUMNS) {
    if (ran.has('connect')) {
      add('connect: pooler CPU per -C transaction ≤ 1.5× PgBouncer', target, ratio(cells, 'connect', target, (c) => c.poolerCpuMicrosPerTx), 1.5, 'max');
      add('connect: connect rate (-C tps) ≥ 0.9× PgBouncer', target, ratio(cells, 'connect', target, (c) => c.tps), 0.9, 'min');
    }
    for (const w of PER_TX) {
      if (ran.has(w)) add(`per transaction (${w}): pooler CPU ≤ 1.15× PgBouncer`, target, ratio(cells, w, target, (c) => c.poolerCpuMicrosPerTx), 1.15, 'max');
    }
    const i = idle.find((r) => r.target === target);
    if (i) {
      const note = i.clients === IDLE_AT ? undefined : `measured at ${i.clients} clients, not ${IDLE_AT}`;
      add(`memory: ≤ 4 KiB RSS per idle client at ${IDLE_AT.toLocaleString('en')}`, target, { value: i.rssPerClientBytes, note }, IDLE_LIMIT_BYTES, 'max');
    }
  }
  return goals;
}
