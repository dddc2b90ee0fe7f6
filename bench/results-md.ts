// Writes bench/RESULTS.md whole from a run, keeping the hand-written analysis between the notes markers of the previous file.
import { existsSync, readFileSync } from 'node:fs';
import { allowlistTables, cellsTable, goalsTable, idleTable, summaryTable } from './report-tables.js';
import type { BenchResults } from './results.js';

export const NOTES_START = '<!-- notes -->';
export const NOTES_END = '<!-- end notes -->';
const NO_NOTES = '_No analysis yet: for each missed target, what was tried, what it gained and where the time goes (profile excerpts)._';

/** The text between the markers in `file`, or a placeholder when there is none. */
export function previousNotes(file: string): string {
  if (!existsSync(file)) return NO_NOTES;
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(NOTES_START);
  const b = text.indexOf(NOTES_END);
  return a >= 0 && b > a ? text.slice(a + NOTES_START.length, b).trim() : NO_NOTES;
}

/** Settings, targets, and every table: what the bench prints and the body of RESULTS.md. */
export function reportSections(r: BenchResults): string[] {
  const s = r.settings;
  const titles = new Map(r.workloads.map((w) => [w.id, w.title]));
  const lines = [
    '## Targets of issue 11',
    '',
    ...goalsTable(r.goals),
    '',
    '## Workloads',
    '',
    `pgbench scale ${s.scale}, -j 2, ${s.rounds} round(s) of ${s.seconds} s per workload and target; tps is the mean of rounds, p50/p99 come from`,
    "pgbench's per-transaction logs (-l) of all rounds, pooler CPU is utime+stime of the pooler's process tree over all rounds divided by",
    "the transactions processed. That CPU includes the clients' logins at the start of each run (400 of them in the 400-client",
    "workload), as a pooler pays them too. A target that fails shows the error instead of figures.",
    '',
    ...summaryTable(r.cells, titles),
    '',
    ...cellsTable(r.cells, titles),
  ];
  if (r.idle.length) {
    lines.push(
      '',
      '## Idle clients',
      '',
      `${r.idle[0]!.clients.toLocaleString('en')} clients log in (raw StartupMessage, trust, loopback, 200 at a time) and sit idle; RSS and CPU summed over the`,
      "pooler's process tree, after warm-up clients have come and gone.",
      '',
      ...idleTable(r.idle),
    );
  }
  if (r.allowlist) {
    lines.push(
      '',
      '## Allowlist cost',
      '',
      'CPU time of the check in one process (the rules are /25 IPv4 and /48 IPv6 ranges that do not merge); end to end, the tenant',
      'holds the same rules and clients connect from loopback (refused: loopback not listed; admitted: 127.0.0.0/8 added).',
      '',
      ...allowlistTables(r.allowlist),
    );
  }
  return lines;
}

function settingsLines(r: BenchResults): string[] {
  const s = r.settings;
  const m = r.machine;
  return [
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB} GiB; kernel ${m.kernel}`,
    `- Node ${m.node}; ${m.postgres}; ${m.pgbench}; ${m.pgbouncer}; ${m.haproxy}`,
    `- Load average (1 min): ${r.load.start.toFixed(2)} when the run began, ${r.load.end.toFixed(2)} when it ended (the bench itself keeps`,
    '  about two processes busy; more means other work shared the cores).',
    '',
    '## Settings',
    '',
    `- pgbench scale ${s.scale}, ${s.rounds} round(s) of ${s.seconds} s; in each round every workload runs on every target, the target order`,
    '  rotated by one each round. Workloads: ' + s.workloads.join(', ') + '.',
    `- Before round 1, every pooler gets ${s.warmupSeconds} s of -C and ${s.warmupSeconds} s of extended-protocol select-only, unmeasured (pgporter's JIT).`,
    `- Pool ${s.pool} server connections, transaction mode, trust auth, loopback. PgBouncer: Debian's package, same pool size and client`,
    '  limit, log_connections, log_disconnections and log_stats off. pgporter: log level warn, no PROXY header (except behind haproxy,',
    '  `send-proxy-v2`), config `workers: 1` and `workers: 2` (columns `pgporter 1w`, `pgporter 2w`).',
    '- TLS workload: sslmode=require on PgBouncer (client_tls_sslmode=allow) and pgporter (tls.certFile/keyFile), one throwaway P-256',
    '  certificate; towards PostgreSQL both stay plain.',
    "- PROXY workload: haproxy `send-proxy-v2` in front of pgporter (proxyProtocol required); PgBouncer 1.18 cannot read the header, so",
    "  haproxy in front of PostgreSQL (plain relay) stands for haproxy's own cost.",
    `- Idle clients: ${s.idleClients.toLocaleString('en')}. Allowlist: ${s.allowlistRules.toLocaleString('en')} rules, ${s.allowlistConnections} connections per end-to-end case.`,
    `- Whole run: ${Math.round(r.wallSeconds)} s.`,
  ];
}

export function resultsMarkdown(r: BenchResults, notes: string): string {
  const head = [
    '# Benchmark results',
    '',
    '<!-- Written whole by `npm run bench` (bench/bench.ts); only the notes between the markers below are kept from one run to the next. -->',
    '',
    `Run of ${r.date}.`,
  ];
  if (r.settings.short) {
    head.push(
      '',
      '> **Short run**: these figures come from a shortened run (settings below differ from the defaults), on a machine shared',
      '> with other work. They show the shape of the report, not the figures to quote; `npm run bench` with no settings gives those.',
    );
  }
  return [...head, '', ...settingsLines(r), '', ...reportSections(r), '', '## Notes', '', NOTES_START, notes, NOTES_END, ''].join('\n');
}
