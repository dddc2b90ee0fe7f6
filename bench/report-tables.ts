// Markdown tables for the benchmarks' results: workloads, idle clients, heap growth, allowlist cost and the issue's targets.
import type { AllowlistResult } from './allowlist-cost.js';
import type { ConstructorTotal } from './heap-snapshot.js';
import type { IdleResult } from './idle-measure.js';
import type { Goal } from './results.js';
import type { Cell } from './workloads.js';

const fix = (v: number | null | undefined, digits: number) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const cellText = (s: string) => s.replace(/\|/g, '\\|');

/** One row per workload and target, in the order given. */
export function cellsTable(cells: Cell[], titles: Map<string, string>): string[] {
  const lines = [
    '| workload | target | tps | tps per round | p50 (ms) | p99 (ms) | failed tx | pooler CPU per tx (µs) | haproxy CPU per tx (µs) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of cells) {
    const head = `| ${titles.get(c.workload) ?? c.workload} | ${c.target} |`;
    if (c.error !== undefined) lines.push(`${head} fails: ${cellText(c.error)} | - | - | - | - | - | - |`);
    else lines.push(`${head} ${fix(c.tps, 0)} | ${c.tpsRounds.map((x) => (x === null ? 'failed' : x.toFixed(0))).join(', ')} | ${fix(c.p50Ms, 3)} | ${fix(c.p99Ms, 3)} | ${c.failed} | ${fix(c.poolerCpuMicrosPerTx, 1)} | ${fix(c.haproxyCpuMicrosPerTx, 1)} |`);
  }
  const partial = cells.filter((c) => c.failedRounds);
  if (partial.length) {
    lines.push('', 'Rounds that failed while others ran (figures above come from the others):', '');
    for (const c of partial) lines.push(`- ${titles.get(c.workload) ?? c.workload}, ${c.target}: ${c.failedRounds!.count} round(s): ${c.failedRounds!.first}`);
  }
  return lines;
}

/** The speed issue's own table: per workload, each pgporter column's tps as a share of PgBouncer's and the CPU per transaction of each. */
export function summaryTable(cells: Cell[], titles: Map<string, string>): string[] {
  const lines = [
    '| workload | tps, pgporter 1w / PgBouncer | tps, pgporter 2w / PgBouncer | pooler CPU per tx (µs): PgBouncer | pgporter 1w | pgporter 2w |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  const workloads = [...new Set(cells.map((c) => c.workload))];
  for (const w of workloads) {
    const find = (suffix: string) => cells.find((c) => c.workload === w && (c.target === suffix || c.target.endsWith(`→ ${suffix}`)));
    const bouncer = find('PgBouncer');
    const share = (c: Cell | undefined) =>
      c?.error !== undefined ? 'fails' : bouncer?.error !== undefined ? 'PgBouncer fails' : c?.tps && bouncer?.tps ? `${(c.tps / bouncer.tps).toFixed(2)}` : '-';
    const cpu = (c: Cell | undefined) => (c?.error !== undefined ? 'fails' : fix(c?.poolerCpuMicrosPerTx, 1));
    const [one, two] = [find('pgporter 1w'), find('pgporter 2w')];
    lines.push(`| ${titles.get(w) ?? w} | ${share(one)} | ${share(two)} | ${bouncer ? cpu(bouncer) : '-'} | ${cpu(one)} | ${cpu(two)} |`);
  }
  return lines;
}

export function idleTable(results: IdleResult[]): string[] {
  return [
    '| target | processes | logins/s | RSS before (MiB) | RSS after (MiB) | RSS per idle client (bytes) | CPU per login (µs) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.target} | ${r.processes} | ${r.loginsPerSecond.toFixed(0)} | ${mib(r.rssBeforeBytes)} | ${mib(r.rssAfterBytes)} | ${r.rssPerClientBytes.toFixed(0)} | ${r.cpuMicrosPerLogin.toFixed(1)} |`,
    ),
  ];
}

export function heapTable(rows: ConstructorTotal[], top: number): string[] {
  const total = rows.reduce((a, r) => a + r.selfBytes, 0);
  return [
    `total ${total.toFixed(0)} bytes per client; the ${top} largest:`,
    '',
    '| type:constructor | objects per client | bytes per client |',
    '|---|---:|---:|',
    ...rows.slice(0, top).map((r) => `| ${cellText(r.key)} | ${r.count.toFixed(2)} | ${r.selfBytes.toFixed(0)} |`),
  ];
}

export function allowlistTables(a: AllowlistResult): string[] {
  const lines = [
    `| check (${a.rules.toLocaleString('en')} rules) | family | address | CPU per check (ns) |`,
    '|---|---|---|---:|',
    ...a.checks.map((c) => `| ${c.via} | ${c.family} | ${c.outcome} | ${c.nsPerCheck.toFixed(0)} |`),
  ];
  if (a.connections.length) {
    lines.push(
      '',
      `| pgporter 1w, ${a.rules.toLocaleString('en')} rules, end to end | connections | pooler CPU per connection (µs) |`,
      '|---|---:|---:|',
      ...a.connections.map((c) => `| ${c.outcome === 'refused' ? 'refused (FATAL 28000)' : 'admitted, logged in and closed'} | ${c.connections} | ${c.cpuMicrosPerConnection.toFixed(1)} |`),
    );
  }
  return lines;
}

export function goalsTable(goals: Goal[]): string[] {
  const shown = (g: Goal) => (g.measured === null ? '-' : g.goal.startsWith('memory') ? `${g.measured.toFixed(0)} bytes` : `${g.measured.toFixed(2)}×`);
  const verdict = (g: Goal) => (g.met === null ? 'not measured' : g.met ? 'met' : '**missed**');
  return [
    '| target (issue 11) | pgporter | measured | limit | verdict | note |',
    '|---|---|---:|---:|---|---|',
    ...goals.map(
      (g) =>
        `| ${g.goal} | ${g.target} | ${shown(g)} | ${g.kind === 'max' ? '≤' : '≥'} ${g.goal.startsWith('memory') ? `${g.limit} bytes` : `${g.limit}×`} | ${verdict(g)} | ${cellText(g.note ?? '')} |`,
    ),
  ];
}
