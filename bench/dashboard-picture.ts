// Draws deploy/grafana/dashboard.svg: scrapes a real pgporter with Debian's prometheus during a workload, then charts every dashboard panel's own PromQL.
// Run with `npm run bench:dashboard` (needs `apt-get install -y prometheus`; environment: BENCH_SECONDS, PROMETHEUS).
import { spawn, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import postgres from 'postgres';
import { PostgresFixture, USERS } from '../test/fixtures/postgres.js';
import { PgporterProcess } from '../test/fixtures/pgporter.js';
import { FakeFly } from '../test/fixtures/fake-fly.js';
import { pgbench } from '../test/fixtures/pool-env.js';
import { freePort, sleep, stopProcess, tempDir, waitFor } from '../test/fixtures/ports.js';
import { vegaLiteToSvg } from './svg.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DASHBOARD = join(ROOT, 'deploy/grafana/pgporter.json');
const PICTURE = join(ROOT, 'deploy/grafana/dashboard.svg');
/** Length of the workload; half select-only, half tpcb-like. */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 70);
const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus';
/** Prometheus scrapes every second, so Grafana's $__rate_interval (four scrapes at least) is taken as 5s. */
const RATE_INTERVAL = '5s';
const ADMIN_TOKEN = 'test-token-0123456789';

interface Target {
  expr: string;
  legendFormat?: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Row {
  title: string;
  panels: Panel[];
}
interface Point {
  t: number;
  v: number;
  series: string;
}

/** The dashboard's rows, each with the panels that follow it (rows are flat in the JSON, as Grafana writes them when expanded). */
function readRows(): Row[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const rows: Row[] = [];
  for (const p of dash.panels) {
    if (p.type === 'row') rows.push({ title: p.title, panels: [] });
    else (rows.at(-1) ?? (rows[0] = { title: '', panels: [] })).panels.push(p);
  }
  return rows;
}

/** Grafana's variables as this run has them: every tenant, a fixed rate interval. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', RATE_INTERVAL).replaceAll('${tenant}', '.*').replaceAll('$tenant', '.*');
}

function legend(format: string | undefined, metric: Record<string, string>, expr: string): string {
  if (!format) return Object.entries(metric).map(([k, v]) => `${k}=${v}`).join(',') || expr.slice(0, 30);
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => metric[k] ?? '');
}

/** Scales a panel's values to what its axis shows: seconds as ms, bytes as MiB, ratios as percent. */
function scaleFor(unit: string | undefined): { factor: number; title: string } {
  switch (unit) {
    case 's':
      return { factor: 1000, title: 'ms' };
    case 'bytes':
      return { factor: 1 / 1048576, title: 'MiB' };
    case 'Bps':
      return { factor: 1 / 1024, title: 'KiB/s' };
    case 'percentunit':
      return { factor: 100, title: '%' };
    case 'ops':
      return { factor: 1, title: '/s' };
    default:
      return { factor: 1, title: '' };
  }
}

async function queryRange(base: string, expr: string, start: number, end: number): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>> {
  const q = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: '1' });
  const res = await fetch(`${base}/api/v1/query_range?${q}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
  if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
  return body.data!.result;
}

/** Each small chart keeps its own axes and legend, as Grafana's panels do. */
const INDEPENDENT = { scale: { color: 'independent', x: 'independent', y: 'independent' }, legend: { color: 'independent' } };

function chart(panel: Panel, points: Point[]): Record<string, unknown> {
  const { title } = scaleFor(panel.fieldConfig?.defaults?.unit);
  const base = { width: 210, height: 80, title: { text: panel.title, fontSize: 11, anchor: 'start' } };
  if (points.length === 0) {
    return {
      ...base,
      data: { values: [{ note: 'no samples in this run' }] },
      mark: { type: 'text', color: '#888', fontSize: 11 },
      encoding: { text: { field: 'note' } },
    };
  }
  return {
    ...base,
    data: { values: points },
    mark: { type: 'line', strokeWidth: 1.2, interpolate: 'step-after' },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds into the run', axis: { titleFontSize: 9, labelFontSize: 8, tickCount: 6 } },
      // A series that stays at 0 would give an empty domain (and NaN ticks); 0..1 then.
      y: { field: 'v', type: 'quantitative', title, scale: points.some((p) => p.v !== 0) ? { zero: true } : { domain: [0, 1] }, axis: { titleFontSize: 9, labelFontSize: 8, tickCount: 4, format: '~s' } },
      color: { field: 'series', type: 'nominal', legend: { orient: 'bottom', title: null, labelFontSize: 8, labelLimit: 120, columns: 2, symbolSize: 30 } },
    },
  };
}

async function renderPicture(rows: Row[], base: string, start: number, end: number): Promise<number> {
  let empty = 0;
  const vrows: Record<string, unknown>[] = [];
  for (const row of rows) {
    const charts: Record<string, unknown>[] = [];
    for (const panel of row.panels) {
      const { factor } = scaleFor(panel.fieldConfig?.defaults?.unit);
      const points: Point[] = [];
      for (const target of panel.targets ?? []) {
        for (const s of await queryRange(base, substitute(target.expr), start, end)) {
          const series = legend(target.legendFormat, s.metric, target.expr);
          for (const [ts, v] of s.values) {
            const n = Number(v);
            if (Number.isFinite(n)) points.push({ t: Math.round(ts - start), v: n * factor, series });
          }
        }
      }
      if (points.length === 0) empty++;
      charts.push(chart(panel, points));
    }
    vrows.push({ title: { text: row.title, fontSize: 14, anchor: 'start' }, concat: charts, columns: 4, resolve: INDEPENDENT });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'pgporter dashboard (deploy/grafana/pgporter.json), drawn from a real run', subtitle: `Prometheus scraping every 1s during ${SECONDS}s of pgbench, refused and failed logins, wakes; tenants: all`, anchor: 'start' },
    background: 'white',
    padding: 12,
    vconcat: vrows,
    spacing: 18,
    resolve: INDEPENDENT,
    config: { view: { stroke: '#ddd' }, concat: { spacing: 16 }, font: 'sans-serif' },
  };
  writeFileSync(PICTURE, await vegaLiteToSvg(spec));
  return empty;
}

/** Connects, optionally runs SELECT 1, ends; errors (refusals, failed logins) are what some loops want, so they are swallowed. */
async function login(port: number, user: string, password: string | undefined, query = true, from?: string): Promise<void> {
  // With `from`, the client announces that address in a PROXY v1 header, as Fly's proxy would (loopback is a trusted proxy).
  // pg connects the socket itself; this listener, added first, writes the header before pg's StartupMessage.
  let stream: Socket | undefined;
  if (from) {
    stream = new Socket();
    stream.once('connect', () => stream!.write(`PROXY TCP4 ${from} 127.0.0.1 40000 ${port}\r\n`));
  }
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres', connectionTimeoutMillis: 10_000, ...(stream ? { stream: () => stream! } : {}) });
  c.on('error', () => {});
  try {
    await c.connect();
    if (query) await c.query('SELECT 1');
  } catch {
    // expected for the refusal loops
  } finally {
    await c.end().catch(() => {});
  }
}

/** Starts pg_sleep through porsager/postgres and cancels it after 200 ms (a CancelRequest through pgporter). */
async function cancelOne(port: number, user: string): Promise<void> {
  const sql = postgres({ host: '127.0.0.1', port, user, database: 'postgres', max: 1, onnotice: () => {} });
  try {
    const q = sql`SELECT pg_sleep(3)`;
    setTimeout(() => q.cancel(), 200);
    await q.catch(() => {});
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Opens a session on the `edit` tenant, then takes loopback off its allowlist (the session is dropped) and puts it back. */
async function dropOne(port: number, adminPort: number): Promise<void> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: `${USERS.trust.user}.edit`, database: 'postgres' });
  c.on('error', () => {});
  const put = (entries: string[]) =>
    fetch(`http://127.0.0.1:${adminPort}/v1/tenants/edit/allowlist`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ entries }),
    }).then((r) => r.text());
  try {
    await c.connect();
    await c.query('SELECT 1');
    await put(['203.0.113.0/24']);
    await sleep(300);
    await put(['127.0.0.0/8']);
  } catch {
    // the drop itself ends the client with an error
  } finally {
    await c.end().catch(() => {});
  }
}

/** Runs `fn` every `everyMs` until `until()` is true. */
async function every(everyMs: number, until: () => boolean, fn: () => Promise<void>): Promise<void> {
  while (!until()) {
    await fn();
    await sleep(everyMs);
  }
}

async function startPrometheus(metricsPort: number, dir: string): Promise<{ proc: ChildProcess; base: string }> {
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: pgporter',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${metricsPort}']`,
      '',
    ].join('\n'),
  );
  let stderr = '';
  const proc = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const spawned = new Promise<void>((resolve, reject) => {
    proc.once('spawn', resolve);
    proc.once('error', (err) => reject(new Error(`cannot run ${PROMETHEUS} (apt-get install -y prometheus): ${err.message}`)));
  });
  await spawned;
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}: ${stderr}`);
        const res = await fetch(`${base}/api/v1/query?query=up`).catch(() => undefined);
        if (!res?.ok) return false;
        const body = (await res.json()) as { data: { result: Array<{ value: [number, string] }> } };
        return body.data.result[0]?.value[1] === '1';
      },
      'prometheus to scrape pgporter',
      30_000,
      250,
    );
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return { proc, base };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const rows = readRows();
  const dir = tempDir('pgporter-dashboard');
  const cleanups: Array<() => Promise<void>> = [async () => dir.remove()];
  try {
    // db serves the pooled tenants; wakeDb belongs to the fake machine, which SIGSTOPs it when suspended.
    const db = await PostgresFixture.start();
    cleanups.unshift(() => db.destroy());
    const wakeDb = await PostgresFixture.start();
    cleanups.unshift(() => wakeDb.destroy());
    const fake = await FakeFly.start({ transitionMs: 200, rateLimit: false });
    cleanups.unshift(() => fake.close());
    await fake.addMachine({ app: 'acme-db', id: 'bench0001', pg: wakeDb, state: 'started' });
    const upstream = { host: '127.0.0.1', port: db.port };
    const porter = await PgporterProcess.start({
      config: {
        proxyProtocol: { mode: 'optional' },
        log: { level: 'info' },
        netrules: { defaultPolicy: 'allow', authFailureBan: { enabled: true, maxFailures: 4, window: '60s', banTime: '8s' } },
        fly: { apiBaseUrl: fake.url, token: '${FLY_API_TOKEN}' },
        tenants: [
          { id: 'demo', upstream, auth: { method: 'trust' }, pool: { size: 6 } },
          { id: 'shop', upstream, auth: { users: [{ name: USERS.scram.user, password: USERS.scram.password }] } },
          { id: 'locked', upstream, auth: { method: 'trust' }, allowlist: ['203.0.113.0/24', '2001:db8::/32'] },
          { id: 'edit', upstream, auth: { method: 'trust' }, allowlist: ['127.0.0.0/8'], dropDisallowedSessions: true },
          {
            id: 'acme',
            upstream: { host: '127.0.0.1', port: wakeDb.port },
            auth: { users: [{ name: USERS.scram.user, password: USERS.scram.password }] },
            fly: { app: 'acme-db', machineId: 'bench0001', suspendAfterIdle: '2s' },
          },
        ],
      },
      env: { FLY_API_TOKEN: fake.token ?? '' },
    });
    cleanups.unshift(() => porter.stop());
    const prom = await startPrometheus(porter.metricsPort, dir.path);
    cleanups.unshift(() => stopProcess(prom.proc));

    const init = await pgbench(['-i', '-q', '-s', '5', '-h', '127.0.0.1', '-p', String(db.port), '-U', USERS.trust.user, 'postgres']);
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);

    const start = Math.floor(Date.now() / 1000);
    console.error(`workload: ${SECONDS}s (prometheus at ${prom.base})`);
    let done = false;
    const user = `${USERS.trust.user}.demo`;
    const half = String(Math.max(5, Math.round(SECONDS / 2)));
    const bench = (async () => {
      for (const args of [['-S', '-c', '8'], ['-c', '12']]) {
        const out = await pgbench(['-n', '-j', '2', '-T', half, ...args, '-h', '127.0.0.1', '-p', String(porter.port), '-U', user, 'postgres']);
        if (out.code !== 0) throw new Error(`pgbench ${args.join(' ')} failed: ${out.stderr}`);
      }
    })().finally(() => (done = true));
    const side = Promise.all([
      every(1500, () => done, () => login(porter.port, `${USERS.trust.user}.locked`, undefined)),
      every(700, () => done, () => login(porter.port, `${USERS.scram.user}.shop`, 'wrong-password', true, '198.51.100.7')),
      every(4000, () => done, () => cancelOne(porter.port, user)),
      every(9000, () => done, () => dropOne(porter.port, porter.adminPort)),
      every(5000, () => done, () => login(porter.port, `${USERS.scram.user}.shop`, USERS.scram.password)),
      every(6000, () => done, () => login(porter.port, `${USERS.scram.user}.acme`, USERS.scram.password)),
      (async () => {
        await sleep((SECONDS * 1000) / 3);
        await fetch(`http://127.0.0.1:${porter.adminPort}/v1/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      })(),
    ]);
    await bench;
    await side;
    // A few more scrapes so the last rates settle.
    await sleep(4000);
    const end = Math.floor(Date.now() / 1000);
    const empty = await renderPicture(rows, prom.base, start, end);
    const panels = rows.reduce((n, r) => n + r.panels.length, 0);
    console.log(`wrote ${PICTURE}: ${panels} panels, ${empty} without samples; ${end - start}s of data; whole run ${((performance.now() - t0) / 1000).toFixed(0)}s`);
  } finally {
    for (const c of cleanups) await c().catch((err) => console.error('cleanup:', err));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
