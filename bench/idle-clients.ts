// `npm run bench:idle`: idle-client cost for PgBouncer and pgporter (1 and 2 workers), plus what each idle client adds to pgporter's heap, by constructor.
// Environment: IDLE_CLIENTS, IDLE_CONCURRENCY, IDLE_WARMUP (clients logged in and out first), IDLE_POOL, IDLE_PGBOUNCER
// (0: skip it), IDLE_WORKERS (pgporter worker counts to measure, default `1,2`; empty: none), IDLE_HEAP_CLIENTS (0: no
// snapshots), IDLE_KEEP_SNAPSHOTS (a directory to copy the heap snapshots into, for Chrome DevTools; default: they are deleted).
// Heap growth is self size per constructor (retained size would need the dominator tree).
import { copyFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PostgresFixture } from '../test/fixtures/postgres.js';
import { sleep, waitFor } from '../test/fixtures/ports.js';
import { constructorTotals, perUnitGrowth, type ConstructorTotal } from './heap-snapshot.js';
import { IDLE_DEFAULTS, measureIdle, warmUp, type IdleOptions, type IdleResult } from './idle-measure.js';
import { closeAll, loginMany } from './raw-clients.js';
import { heapTable, idleTable } from './report-tables.js';
import { startPgbouncer, startPgporter, type Target } from './targets.js';

const OPTS: IdleOptions = {
  ...IDLE_DEFAULTS,
  clients: Number(process.env.IDLE_CLIENTS ?? IDLE_DEFAULTS.clients),
  concurrency: Number(process.env.IDLE_CONCURRENCY ?? IDLE_DEFAULTS.concurrency),
  warmup: Number(process.env.IDLE_WARMUP ?? IDLE_DEFAULTS.warmup),
};
const POOL = Number(process.env.IDLE_POOL ?? 20);
const WITH_PGBOUNCER = process.env.IDLE_PGBOUNCER !== '0';
const WORKERS = (process.env.IDLE_WORKERS ?? '1,2')
  .split(',')
  .filter((w) => w.trim() !== '')
  .map(Number);
const HEAP_CLIENTS = Number(process.env.IDLE_HEAP_CLIENTS ?? 2000);
const KEEP_SNAPSHOTS = process.env.IDLE_KEEP_SNAPSHOTS;

/** Sends SIGUSR2 and waits for the snapshot file to be complete (V8 writes it on the main thread, so its size stops changing). */
async function heapSnapshot(p: Target): Promise<string> {
  const dir = p.workDir!;
  const existing = new Set(readdirSync(dir));
  process.kill(p.poolerPid!, 'SIGUSR2');
  const file = await waitFor(() => readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !existing.has(f)), 'heap snapshot', 120_000, 200);
  await p.active!();
  let size = -1;
  while (size !== statSync(join(dir, file)).size) {
    size = statSync(join(dir, file)).size;
    await sleep(500);
  }
  if (KEEP_SNAPSHOTS) copyFileSync(join(dir, file), join(KEEP_SNAPSHOTS, file));
  return join(dir, file);
}

async function heapPerClient(pgPort: number, n: number): Promise<ConstructorTotal[]> {
  const porter = await startPgporter({ pgPort, pool: POOL, maxClients: n + OPTS.warmup + 100, workers: 1, proxyProtocol: 'off' });
  try {
    await warmUp(porter, OPTS);
    await sleep(OPTS.warmupSettleMs);
    const before = constructorTotals(await heapSnapshot(porter));
    const { sockets } = await loginMany(porter.port, n, OPTS.concurrency);
    await sleep(1000);
    const after = constructorTotals(await heapSnapshot(porter));
    await closeAll(sockets);
    for (const key of ['object:Socket', 'object:TCP', 'object:Pino']) {
      process.stderr.write(`heap snapshots: ${key} ${before.get(key)?.count ?? 0} before, ${after.get(key)?.count ?? 0} after ${n} clients\n`);
    }
    return perUnitGrowth(before, after, n);
  } finally {
    await porter.stop();
  }
}

async function main(): Promise<void> {
  const db = await PostgresFixture.start({ conf: [`max_connections = ${4 * POOL + 30}`] });
  const results: IdleResult[] = [];
  let heap: ConstructorTotal[] = [];
  try {
    const pooler = { pgPort: db.port, pool: POOL, maxClients: OPTS.clients + OPTS.warmup + 100 };
    const starts: Array<() => Promise<Target>> = [
      ...(WITH_PGBOUNCER ? [() => startPgbouncer(pooler)] : []),
      ...WORKERS.map((workers) => () => startPgporter({ ...pooler, workers, proxyProtocol: 'off' })),
    ];
    for (const start of starts) {
      const target = await start();
      try {
        await warmUp(target, OPTS);
        await sleep(OPTS.warmupSettleMs);
        results.push(await measureIdle(target, OPTS));
        process.stderr.write(`${target.label}: ${JSON.stringify(results.at(-1))}\n`);
      } finally {
        await target.stop();
      }
    }
    if (HEAP_CLIENTS > 0) heap = await heapPerClient(db.port, HEAP_CLIENTS);
  } finally {
    await db.destroy();
  }
  const lines = [
    `${OPTS.clients} idle clients (raw StartupMessage, trust, loopback; ${OPTS.concurrency} logins at a time; pool size ${POOL}, transaction mode; RSS over the process tree after ${OPTS.settleMs / 1000} s)`,
    '',
    ...idleTable(results),
  ];
  if (heap.length) lines.push('', `pgporter heap growth per idle client (snapshots before and after ${HEAP_CLIENTS} clients; self size)`, '', ...heapTable(heap, 15));
  console.log(lines.join('\n'));
  console.log(JSON.stringify({ results, heapPerClient: { clients: HEAP_CLIENTS, top: heap.slice(0, 30) } }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
