// Draws bench/results.svg from a run: tps and pooler CPU per transaction for each workload and target, and RSS per idle client.
import type { BenchResults } from './results.js';
import { vegaLiteToSvg } from './svg.js';

const TARGET_ORDER = ['direct', 'PgBouncer', 'pgporter 1w', 'pgporter 2w', 'haproxy → direct', 'haproxy → pgporter 1w', 'haproxy → pgporter 2w'];

/** Small multiples, one per workload in run order, each with its own y axis (tps of -C and of select-only differ a hundredfold). */
function perWorkload(values: Array<Record<string, unknown>>, order: string[], field: string, title: string, color: Record<string, unknown>): Record<string, unknown> {
  return {
    title: { text: title, anchor: 'start', fontSize: 13 },
    data: { values },
    facet: { field: 'workload', type: 'nominal', title: null, sort: order, header: { labelFontSize: 11, labelFontWeight: 'bold' } },
    columns: 4,
    spec: {
      width: 200,
      height: 110,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'target', type: 'nominal', sort: TARGET_ORDER, title: null, axis: { labelAngle: -35, labelFontSize: 9, labelLimit: 220 } },
        y: { field, type: 'quantitative', title: null, stack: true, axis: { labelFontSize: 9, format: '~s' } },
        color,
      },
    },
    resolve: { scale: { y: 'independent', x: 'independent' } },
  };
}

export async function renderChart(r: BenchResults): Promise<string> {
  const names = new Map(r.workloads.map((w) => [w.id, w.short]));
  const order = r.workloads.map((w) => w.short);
  const label = (id: string) => names.get(id) ?? id;
  const tps = r.cells.filter((c) => c.tps !== null).map((c) => ({ workload: label(c.workload), target: c.target, tps: c.tps }));
  // CPU stacks the pooler's share and haproxy's, so haproxy → direct shows haproxy's own cost.
  const cpu = r.cells.flatMap((c) => [
    ...(c.poolerCpuMicrosPerTx !== null ? [{ workload: label(c.workload), target: c.target, part: 'pooler', cpu: c.poolerCpuMicrosPerTx }] : []),
    ...(c.haproxyCpuMicrosPerTx !== null ? [{ workload: label(c.workload), target: c.target, part: 'haproxy', cpu: c.haproxyCpuMicrosPerTx }] : []),
  ]);
  const idle = r.idle.map((i) => ({ target: i.target, bytes: i.rssPerClientBytes }));
  const byTarget = { field: 'target', type: 'nominal', sort: TARGET_ORDER, legend: null };
  const byPart = { field: 'part', type: 'nominal', sort: ['pooler', 'haproxy'], scale: { range: ['#4c78a8', '#e45756'] }, legend: { orient: 'top', title: null } };
  const charts: Array<Record<string, unknown>> = [
    perWorkload(tps, order, 'tps', 'Transactions per second (mean of rounds; higher is better)', byTarget),
    perWorkload(cpu, order, 'cpu', "CPU per transaction, µs: the pooler's whole process tree, and haproxy's where it is in front (lower is better)", byPart),
  ];
  if (idle.length) {
    charts.push({
      title: { text: `RSS per idle client, bytes, at ${r.idle[0]!.clients.toLocaleString('en')} clients (limit 4096)`, anchor: 'start', fontSize: 13 },
      data: { values: idle },
      width: 300,
      height: 110,
      layer: [
        { mark: 'bar', encoding: { x: { field: 'target', type: 'nominal', sort: TARGET_ORDER, title: null, axis: { labelAngle: 0 } }, y: { field: 'bytes', type: 'quantitative', title: null }, color: { field: 'target', type: 'nominal', sort: TARGET_ORDER, legend: null } } },
        { data: { values: [{ limit: 4096 }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#c00' }, encoding: { y: { field: 'limit', type: 'quantitative' } } },
      ],
    });
  }
  const s = r.settings;
  return vegaLiteToSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `npm run bench, ${r.date.slice(0, 10)}${s.short ? ' (SHORT RUN: not the default settings)' : ''}`,
      subtitle: `${r.machine.cpu}, ${r.machine.cores} cores; pgbench scale ${s.scale}, pool ${s.pool}, ${s.rounds} round${s.rounds === 1 ? '' : 's'} of ${s.seconds} s, targets alternating`,
      anchor: 'start',
    },
    background: 'white',
    padding: 12,
    vconcat: charts,
    spacing: 24,
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  });
}
