// Measures what idle clients cost a pooler: N raw clients log in and sit idle; login rate, RSS and CPU per login for pgporter and PgBouncer.
// Run with `npm run bench:idle` (environment: IDLE_CLIENTS, IDLE_CONCURRENCY, IDLE_POOL, IDLE_PGBOUNCER, IDLE_HEAP_CLIENTS,
// IDLE_KEEP_SNAPSHOTS).
// With IDLE_HEAP_CLIENTS > 0 a second pgporter takes a heap snapshot before and after that many idle clients and prints
// what each idle client adds, by constructor (self size; retained size would need the dominator tree).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, copyFileSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { PostgresFixture, USERS } from '../test/fixtures/postgres.js';
import { CLI, exampleWith } from '../test/fixtures/pgporter.js';
import { freePort, sleep, stopProcess, tempDir, waitFor } from '../test/fixtures/ports.js';
import { constructorTotals, perUnitGrowth } from './heap-snapshot.js';

const CLIENTS = Number(process.env.IDLE_CLIENTS ?? 10_000);
const CONCURRENCY = Number(process.env.IDLE_CONCURRENCY ?? 200);
const POOL = Number(process.env.IDLE_POOL ?? 10);
const WITH_PGBOUNCER = process.env.IDLE_PGBOUNCER !== '0';
const HEAP_CLIENTS = Number(process.env.IDLE_HEAP_CLIENTS ?? 2000);
/** A directory to copy the heap snapshots into, for a closer look in Chrome DevTools; default: they are deleted. */
const KEEP_SNAPSHOTS = process.env.IDLE_KEEP_SNAPSHOTS;
const PGBOUNCER = process.env.PGBOUNCER ?? '/usr/sbin/pgbouncer';
const USER = USERS.trust.user;
const WARMUP = 200;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** Children raise their soft descriptor limit to the hard one; exec keeps the PID that of the pooler itself. */
const ULIMIT = 'ulimit -n "$(ulimit -Hn)" && exec "$@"';

interface Pooler {
  name: string;
  pid: number;
  port: number;
  /** V8 heap in use (pgporter only, from its Prometheus default metrics). */
  heapUsed?(): Promise<number>;
  /** Client connections pgporter still holds (pgporter only). */
  active?(): Promise<number>;
  stop(): Promise<void>;
}

interface Result {
  target: string;
  clients: number;
  loginSeconds: number;
  loginsPerSecond: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerClientBytes: number;
  heapBeforeBytes?: number;
  heapAfterBytes?: number;
  cpuMicrosPerLogin: number;
}

/** RSS (VmRSS) and user+system CPU time of a process, from /proc. */
function procStats(pid: number): { rssBytes: number; cpuMicros: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  return { rssBytes: Number(rss?.[1] ?? 0) * 1024, cpuMicros: (ticks * 1e6) / CLK_TCK };
}

// StartupMessage, protocol 3.0 (protocol-message-formats.html): length, version, name/value pairs, a closing NUL.
function startupMessage(): Buffer {
  const body = Buffer.from(`user\0${USER}\0database\0postgres\0\0`);
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(196608, 4);
  body.copy(out, 8);
  return out;
}
const STARTUP = startupMessage();

/** Opens one client and resolves once it has read ReadyForQuery ('Z'); the socket then stays open and unread. */
function login(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let buf: Buffer = Buffer.alloc(0);
    const fail = (err: Error) => {
      s.destroy();
      reject(err);
    };
    s.on('error', fail);
    s.on('connect', () => s.write(STARTUP));
    s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 5) {
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const code = buf[0];
        if (code === 0x45 /* E */) return fail(new Error(`ErrorResponse: ${buf.subarray(5, 1 + len).toString().replace(/\0/g, ' ')}`));
        buf = buf.subarray(1 + len);
        if (code === 0x5a /* Z */) {
          s.removeAllListeners('data');
          s.removeListener('error', fail);
          s.on('error', () => {});
          return resolve(s);
        }
      }
    });
  });
}

/** Logs in `n` clients, at most `concurrency` at a time; returns them and the seconds the logins took. */
async function loginMany(port: number, n: number, concurrency: number): Promise<{ sockets: Socket[]; seconds: number }> {
  const sockets: Socket[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      sockets.push(await login(port));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw err;
  }
  return { sockets, seconds: (performance.now() - t0) / 1000 };
}

async function closeAll(sockets: Socket[]): Promise<void> {
  const terminate = Buffer.from([0x58 /* X */, 0, 0, 0, 4]);
  await Promise.all(sockets.map((s) => new Promise<void>((r) => {
    s.once('close', () => r());
    s.end(terminate);
  })));
}

function waitPort(port: number, proc: ChildProcess, what: string): Promise<true> {
  return waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    return new Promise<boolean>((r) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
  }, `${what} to listen on ${port}`, 15_000, 100) as Promise<true>;
}

async function startPgporter(pgPort: number, maxClients: number): Promise<Pooler & { dir: string }> {
  const dir = tempDir('idle-pgporter');
  const port = await freePort();
  const metricsPort = await freePort();
  const config = exampleWith({
    listen: { host: '127.0.0.1', port },
    proxyProtocol: { mode: 'off' },
    metrics: { enabled: true, host: '127.0.0.1', port: metricsPort },
    admin: { enabled: false, host: '127.0.0.1', port: 0, tokens: [{ name: 'bench', token: 'bench-token-0123456789' }] },
    store: { kind: 'memory', path: join(dir.path, 'state.json') },
    log: { level: 'warn' },
    pool: { maxClientConnections: maxClients },
    tenants: [{ id: 'bench', upstream: { host: '127.0.0.1', port: pgPort }, auth: { method: 'trust' }, pool: { mode: 'transaction', size: POOL } }],
  });
  const configFile = join(dir.path, 'pgporter.yaml');
  writeFileSync(configFile, stringify(config));
  // cwd is the temp dir so that SIGUSR2 heap snapshots land there.
  const proc = spawn('bash', ['-c', ULIMIT, 'bash', process.execPath, '--heapsnapshot-signal=SIGUSR2', CLI, 'start', '--config', configFile], {
    cwd: dir.path,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async () => {
    await stopProcess(proc);
    dir.remove();
  };
  try {
    await waitPort(port, proc, 'pgporter');
  } catch (err) {
    await stop();
    throw err;
  }
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const heapUsed = async () => Number(/^pgporter_nodejs_heap_size_used_bytes (\d+)/m.exec(await metrics())?.[1] ?? Number.NaN);
  const active = async () => {
    let n = 0;
    for (const m of (await metrics()).matchAll(/^pgporter_connections_active(?:\{[^}]*\})? (\d+)/gm)) n += Number(m[1]);
    return n;
  };
  return { name: 'pgporter', pid: proc.pid!, port, heapUsed, active, stop, dir: dir.path };
}

/** As root, PgBouncer must run as another user; the postgres user owns the fixture anyway. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function startPgbouncer(pgPort: number, maxClients: number): Promise<Pooler> {
  const dir = tempDir('idle-pgbouncer');
  const owner = runAs();
  if (owner) chownSync(dir.path, owner.uid, owner.gid);
  const port = await freePort();
  const ini = join(dir.path, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `postgres = host=127.0.0.1 port=${pgPort} dbname=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir.path, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${POOL}`,
      `max_client_conn = ${maxClients}`,
      'log_connections = 0',
      'log_disconnections = 0',
      `logfile = ${join(dir.path, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir.path, 'users.txt'), `"${USER}" ""\n`);
  const proc = spawn('bash', ['-c', ULIMIT, 'bash', PGBOUNCER, ini], { stdio: ['ignore', 'ignore', 'inherit'], ...(owner ?? {}) });
  const stop = async () => {
    await stopProcess(proc, 'SIGINT');
    dir.remove();
  };
  try {
    await waitPort(port, proc, 'pgbouncer');
  } catch (err) {
    await stop();
    throw err;
  }
  return { name: 'PgBouncer', pid: proc.pid!, port, stop };
}

async function measure(p: Pooler, n: number): Promise<Result> {
  // Warm up: the pool's server connections, the JIT and the first allocations are not an idle client's cost.
  const warm = await loginMany(p.port, WARMUP, CONCURRENCY);
  await closeWarmup(p, warm.sockets);
  const heapBefore = await p.heapUsed?.();
  const before = procStats(p.pid);
  const { sockets, seconds } = await loginMany(p.port, n, CONCURRENCY);
  const cpuAfter = procStats(p.pid).cpuMicros;
  await sleep(2000);
  const after = procStats(p.pid);
  const heapAfter = await p.heapUsed?.();
  await closeAll(sockets);
  return {
    target: p.name,
    clients: n,
    loginSeconds: seconds,
    loginsPerSecond: n / seconds,
    rssBeforeBytes: before.rssBytes,
    rssAfterBytes: after.rssBytes,
    rssPerClientBytes: (after.rssBytes - before.rssBytes) / n,
    heapBeforeBytes: heapBefore,
    heapAfterBytes: heapAfter,
    cpuMicrosPerLogin: (cpuAfter - before.cpuMicros) / n,
  };
}

/** Closes warm-up clients and waits until the pooler has let go of them, so their memory is not counted as baseline. */
async function closeWarmup(p: Pooler, sockets: Socket[]): Promise<void> {
  await closeAll(sockets);
  if (p.active) await waitFor(async () => (await p.active!()) === 0, 'pgporter to drop the warm-up clients', 15_000, 100);
  // pgporter keeps a closed client's objects for up to 5 s (END_WAIT_MS, the 2 s destroy fallback); let those go too.
  await sleep(6000);
}

/** Sends SIGUSR2 and waits for the snapshot file to be complete (V8 writes it on the main thread, so a metrics request answers only after). */
async function heapSnapshot(p: Pooler & { dir: string }): Promise<string> {
  const existing = new Set(readdirSync(p.dir));
  process.kill(p.pid, 'SIGUSR2');
  const file = await waitFor(() => readdirSync(p.dir).find((f) => f.endsWith('.heapsnapshot') && !existing.has(f)), 'heap snapshot', 120_000, 200);
  await p.heapUsed!();
  let size = -1;
  while (size !== statSync(join(p.dir, file)).size) {
    size = statSync(join(p.dir, file)).size;
    await sleep(500);
  }
  if (KEEP_SNAPSHOTS) copyFileSync(join(p.dir, file), join(KEEP_SNAPSHOTS, file));
  return join(p.dir, file);
}

async function heapPerClient(pgPort: number, n: number): Promise<{ key: string; count: number; selfBytes: number }[]> {
  const porter = await startPgporter(pgPort, n + WARMUP + 100);
  try {
    const warm = await loginMany(porter.port, WARMUP, CONCURRENCY);
    await closeWarmup(porter, warm.sockets);
    const before = constructorTotals(await heapSnapshot(porter));
    const { sockets } = await loginMany(porter.port, n, CONCURRENCY);
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

const mb = (b: number | undefined) => (b === undefined || Number.isNaN(b) ? '-' : (b / 2 ** 20).toFixed(1));

async function main(): Promise<void> {
  const db = await PostgresFixture.start({ conf: [`max_connections = ${3 * POOL + 30}`] });
  const results: Result[] = [];
  let heap: { key: string; count: number; selfBytes: number }[] = [];
  try {
    const maxClients = CLIENTS + WARMUP + 100;
    const porter = await startPgporter(db.port, maxClients);
    try {
      results.push(await measure(porter, CLIENTS));
      process.stderr.write(`pgporter: ${JSON.stringify(results.at(-1))}\n`);
    } finally {
      await porter.stop();
    }
    if (WITH_PGBOUNCER) {
      const bouncer = await startPgbouncer(db.port, maxClients);
      try {
        results.push(await measure(bouncer, CLIENTS));
        process.stderr.write(`PgBouncer: ${JSON.stringify(results.at(-1))}\n`);
      } finally {
        await bouncer.stop();
      }
    }
    if (HEAP_CLIENTS > 0) heap = await heapPerClient(db.port, HEAP_CLIENTS);
  } finally {
    await db.destroy();
  }

  const lines = [
    `${CLIENTS} idle clients (raw StartupMessage, trust, loopback; ${CONCURRENCY} logins at a time; pool size ${POOL}, transaction mode; RSS after 2 s settle)`,
    '',
    '| target | logins/s | RSS before (MiB) | RSS after (MiB) | RSS per idle client (bytes) | V8 heap before/after (MiB) | CPU per login (µs) |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const heapCol = r.heapBeforeBytes === undefined ? '-' : `${mb(r.heapBeforeBytes)} / ${mb(r.heapAfterBytes)}`;
    lines.push(`| ${r.target} | ${r.loginsPerSecond.toFixed(0)} | ${mb(r.rssBeforeBytes)} | ${mb(r.rssAfterBytes)} | ${r.rssPerClientBytes.toFixed(0)} | ${heapCol} | ${r.cpuMicrosPerLogin.toFixed(0)} |`);
  }
  if (heap.length) {
    const top = heap.slice(0, 15);
    const total = heap.reduce((a, r) => a + r.selfBytes, 0);
    lines.push(
      '',
      `pgporter heap growth per idle client (snapshots before and after ${HEAP_CLIENTS} clients; self size; total ${total.toFixed(0)} bytes)`,
      '',
      '| type:constructor | objects per client | bytes per client |',
      '|---|---:|---:|',
      ...top.map((r) => `| ${r.key.replace(/\|/g, '\\|')} | ${r.count.toFixed(2)} | ${r.selfBytes.toFixed(0)} |`),
    );
  }
  console.log(lines.join('\n'));
  console.log(JSON.stringify({ results, heapPerClient: { clients: HEAP_CLIENTS, top: heap.slice(0, 30) } }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
