// Starts what the benchmarks measure: PgBouncer, pgporter (N workers) and haproxy in front of either, each a process tree whose CPU and RSS can be read.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { HaproxyFixture } from '../test/fixtures/haproxy.js';
import { CLI, exampleWith } from '../test/fixtures/pgporter.js';
import { USERS } from '../test/fixtures/postgres.js';
import { freePort, stopProcess, tempDir, waitFor } from '../test/fixtures/ports.js';

export const PGBOUNCER = process.env.PGBOUNCER ?? '/usr/sbin/pgbouncer';
export const USER = USERS.trust.user;
/** Children raise their soft descriptor limit to the hard one; exec keeps the PID that of the program itself. */
const ULIMIT = 'ulimit -n "$(ulimit -Hn)" && exec "$@"';

/** One thing a client connects to. */
export interface Target {
  /** Column label: `direct`, `PgBouncer`, `pgporter 1w`, `haproxy → pgporter 1w`, ... */
  label: string;
  port: number;
  /** Root of the process tree counted as the pooler (undefined for a direct connection). */
  poolerPid?: number;
  /** haproxy in front, counted apart from the pooler. */
  haproxyPid?: number;
  /** pgporter's working directory, where SIGUSR2 writes heap snapshots. */
  workDir?: string;
  /** Client connections the pooler still holds, where it can tell (pgporter's metrics). */
  active?(): Promise<number>;
  stop(): Promise<void>;
}

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

export interface PoolerOptions {
  pgPort: number;
  /** Server connections per pool. */
  pool: number;
  /** Most client connections at once. */
  maxClients: number;
  /** Serve client TLS with this certificate (clients choose with sslmode). */
  tls?: CertFiles;
  /** A command the pooler runs under (e.g. valgrind and its flags); it must exec the pooler in its own process. */
  wrapper?: string[];
}

/** A direct connection to PostgreSQL: nothing to start or stop. */
export function directTarget(pgPort: number): Target {
  return { label: 'direct', port: pgPort, stop: async () => {} };
}

/** As root, PgBouncer must run as another user; the postgres user owns the fixture (and its TLS key) anyway. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Spawns `argv` with the descriptor limit raised and waits until it accepts on `port`; stops it if it never does. */
async function spawnListening(argv: string[], port: number, what: string, opts: { cwd?: string; uid?: number; gid?: number; signal?: NodeJS.Signals; slow?: boolean }): Promise<ChildProcess> {
  const proc = spawn('bash', ['-c', ULIMIT, 'bash', ...argv], { cwd: opts.cwd, uid: opts.uid, gid: opts.gid, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  try {
    await waitFor(
      () => {
        if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}: ${stderr}`);
        return listening(port);
      },
      `${what} to listen on ${port}`,
      // Generous: bench-smoke runs this beside the rest of the suite, where a start can take many seconds; under
      // valgrind Node needs most of a minute to load.
      opts.slow ? 180_000 : 60_000,
      100,
    );
  } catch (err) {
    await stopProcess(proc, opts.signal);
    throw err;
  }
  return proc;
}

/** Debian's PgBouncer in transaction mode with the same pool size and client limit, connection logging and stats lines off. */
export async function startPgbouncer(opts: PoolerOptions): Promise<Target> {
  const dir = tempDir('bench-pgbouncer');
  const owner = runAs();
  if (owner) chownSync(dir.path, owner.uid, owner.gid);
  const port = await freePort();
  const ini = join(dir.path, 'pgbouncer.ini');
  const tls = opts.tls ? ['client_tls_sslmode = allow', `client_tls_cert_file = ${opts.tls.certFile}`, `client_tls_key_file = ${opts.tls.keyFile}`] : [];
  writeFileSync(
    ini,
    [
      '[databases]',
      `postgres = host=127.0.0.1 port=${opts.pgPort} dbname=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir.path, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${opts.pool}`,
      `max_client_conn = ${opts.maxClients}`,
      'log_connections = 0',
      'log_disconnections = 0',
      'log_stats = 0',
      ...tls,
      `logfile = ${join(dir.path, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir.path, 'users.txt'), `"${USER}" ""\n`);
  const proc = await spawnListening([...(opts.wrapper ?? []), PGBOUNCER, ini], port, 'pgbouncer', { ...owner, signal: 'SIGINT', slow: opts.wrapper !== undefined }).catch((err) => {
    dir.remove();
    throw err;
  });
  return {
    label: 'PgBouncer',
    port,
    poolerPid: proc.pid!,
    stop: async () => {
      await stopProcess(proc, 'SIGINT');
      dir.remove();
    },
  };
}

export interface PgporterOptions extends PoolerOptions {
  /** The `workers` config key. */
  workers: number;
  /** `required` behind haproxy; `off` for clients that connect straight. */
  proxyProtocol: 'off' | 'required';
  /** The tenant's allowlist (absent: the default policy, allow). */
  allowlist?: string[];
  label?: string;
  /** Extra node flags (e.g. --cpu-prof); files they write land in the working directory, removed at stop unless `keepDir`. */
  nodeArgs?: string[];
  keepDir?: boolean;
  /** Another build's CLI (dist/src/cli.js), to compare two builds side by side. Default: this one's. */
  cli?: string;
}

/** pgporter from dist/ at log level warn, trust auth, one transaction-mode tenant, metrics on a free port (for its client count). */
export async function startPgporter(opts: PgporterOptions): Promise<Target> {
  const dir = tempDir('bench-pgporter');
  const port = await freePort();
  const metricsPort = await freePort();
  const config = exampleWith({
    workers: opts.workers,
    listen: { host: '127.0.0.1', port },
    proxyProtocol: { mode: opts.proxyProtocol },
    tls: opts.tls ? { certFile: opts.tls.certFile, keyFile: opts.tls.keyFile, requireTls: false } : { requireTls: false },
    metrics: { enabled: true, host: '127.0.0.1', port: metricsPort },
    admin: { enabled: false, host: '127.0.0.1', port: 0, tokens: [{ name: 'bench', token: 'bench-token-0123456789' }] },
    store: { kind: 'memory', path: join(dir.path, 'state.json') },
    log: { level: 'warn' },
    pool: { maxClientConnections: opts.maxClients },
    tenants: [
      {
        id: 'bench',
        upstream: { host: '127.0.0.1', port: opts.pgPort },
        auth: { method: 'trust' },
        pool: { mode: 'transaction', size: opts.pool },
        ...(opts.allowlist ? { allowlist: opts.allowlist } : {}),
      },
    ],
  });
  const configFile = join(dir.path, 'pgporter.yaml');
  writeFileSync(configFile, stringify(config));
  // cwd is the temp dir so that SIGUSR2 heap snapshots land there.
  const proc = await spawnListening(
    [...(opts.wrapper ?? []), process.execPath, '--heapsnapshot-signal=SIGUSR2', ...(opts.nodeArgs ?? []), opts.cli ?? CLI, 'start', '--config', configFile],
    port,
    'pgporter',
    { cwd: dir.path, slow: opts.wrapper !== undefined },
  ).catch(
    (err) => {
      dir.remove();
      throw err;
    },
  );
  const active = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    let n = 0;
    for (const m of text.matchAll(/^pgporter_connections_active(?:\{[^}]*\})? (\d+)/gm)) n += Number(m[1]);
    return n;
  };
  return {
    label: opts.label ?? `pgporter ${opts.workers}w`,
    port,
    poolerPid: proc.pid!,
    workDir: dir.path,
    active,
    stop: async () => {
      await stopProcess(proc);
      if (!opts.keepDir) dir.remove();
    },
  };
}

/**
 * haproxy in front of `behind`: with the PROXY v2 header (pgporter reads it) or as a plain relay (to PostgreSQL,
 * which does not), so haproxy's own share can be told apart. Stopping it leaves `behind` running.
 */
export async function startHaproxy(behind: Target, proxy: 'v2' | 'none'): Promise<Target> {
  const h = await HaproxyFixture.start({ targetPort: behind.port, proxy });
  return {
    label: `haproxy → ${behind.label}`,
    port: h.port,
    poolerPid: behind.poolerPid,
    haproxyPid: h.pid,
    active: behind.active,
    stop: () => h.stop(),
  };
}
