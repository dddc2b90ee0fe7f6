// Runs a throwaway PostgreSQL in a temp dir (as the postgres user when pgporter runs as root), holding the postmaster's PID; used by the demo and the tests.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A loopback port that was free a moment ago, for processes that cannot listen on port 0 themselves. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Where PostgreSQL's server binaries live (Debian keeps them off PATH). */
export function pgBinDir(): string {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    /* fall through to the Debian layout */
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    for (const v of readdirSync(root).sort((a, b) => Number(b) - Number(a))) {
      if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
    }
  }
  throw new Error('PostgreSQL server binaries not found (looked at pg_config --bindir and /usr/lib/postgresql/*/bin)');
}

/** initdb refuses to run as root, so as root the cluster belongs to the postgres user. */
function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

export interface LocalPostgresOptions {
  /** pg_hba.conf lines; default: trust for everything on loopback. */
  hba?: string[];
  /** Extra postgresql.conf lines. */
  conf?: string[];
}

export class LocalPostgres {
  readonly host = '127.0.0.1';
  readonly dir: string;
  readonly dataDir: string;
  proc: ChildProcess | undefined;
  private readonly bin = pgBinDir();
  private readonly owner = owner();

  private constructor(private _port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'pgporter-pg-'));
    this.dataDir = join(this.dir, 'data');
  }

  get port(): number {
    return this._port;
  }

  static async start(opts: LocalPostgresOptions = {}): Promise<LocalPostgres> {
    const pg = new LocalPostgres(await freePort());
    try {
      pg.init(opts);
      // A free port can be taken by someone else before the postmaster binds it: then try another.
      for (let attempt = 1; ; attempt++) {
        try {
          await pg.launch();
          break;
        } catch (err) {
          if (attempt >= 3 || !/could not (bind|create listen socket)|Address already in use/i.test((err as Error).message)) throw err;
          pg._port = await freePort();
          appendFileSync(join(pg.dataDir, 'postgresql.conf'), `port = ${pg._port}\n`);
        }
      }
    } catch (err) {
      await pg.destroy();
      throw err;
    }
    return pg;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /**
   * A streaming replica of `primary` (which must allow replication connections from postgres on loopback), made with
   * `pg_basebackup -R` over TCP and started on its own port. `conf` lines are appended to the copied configuration.
   */
  static async replicaOf(primary: LocalPostgres, conf: string[] = []): Promise<LocalPostgres> {
    const pg = new LocalPostgres(await freePort());
    try {
      if (pg.owner) chownSync(pg.dir, pg.owner.uid, pg.owner.gid);
      pg.run('pg_basebackup', ['-h', primary.host, '-p', String(primary.port), '-U', 'postgres', '-D', pg.dataDir, '-R', '-X', 'stream', '-c', 'fast']);
      const lines = [`port = ${pg.port}`, `unix_socket_directories = '${pg.dir}'`, 'hot_standby = on', ...conf];
      appendFileSync(join(pg.dataDir, 'postgresql.conf'), lines.join('\n') + '\n');
      await pg.launch();
    } catch (err) {
      await pg.destroy();
      throw err;
    }
    return pg;
  }

  /** `pg_ctl promote`: a replica becomes a primary; resolves once it says it is out of recovery. */
  promote(): Promise<void> {
    // Not execFileSync: whoever measures the failover must keep running while the promotion does.
    return new Promise((resolve, reject) => {
      execFile(join(this.bin, 'pg_ctl'), ['promote', '-D', this.dataDir, '-w', '-t', '30'], { ...(this.owner ?? {}) }, (err, _out, stderr) =>
        err ? reject(new Error(`pg_ctl promote failed: ${stderr || err.message}`)) : resolve(),
      );
    });
  }

  /** SIGKILL to the postmaster and every child (a machine lost at once, no shutdown checkpoint); waits for the exit. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    let children: number[] = [];
    try {
      children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(proc.pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')
        .map((l) => Number(l.trim()))
        .filter((n) => Number.isInteger(n) && n > 0);
    } catch {
      /* no children */
    }
    proc.kill('SIGKILL');
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* exited */
      }
    }
    await exited;
  }

  private run(cmd: string, args: string[]): string {
    return execFileSync(join(this.bin, cmd), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...(this.owner ?? {}) });
  }

  private init(opts: LocalPostgresOptions): void {
    if (this.owner) chownSync(this.dir, this.owner.uid, this.owner.gid);
    this.run('initdb', ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
    const conf = [
      `port = ${this.port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${this.dir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 300',
      'shared_buffers = 32MB',
      ...(opts.conf ?? []),
    ];
    appendFileSync(join(this.dataDir, 'postgresql.conf'), conf.join('\n') + '\n');
    const hba = opts.hba ?? ['local all all trust', 'host all all 127.0.0.1/32 trust'];
    writeFileSync(join(this.dataDir, 'pg_hba.conf'), hba.join('\n') + '\n');
    if (this.owner) chownSync(join(this.dataDir, 'pg_hba.conf'), this.owner.uid, this.owner.gid);
  }

  /** Starts the postmaster directly (not via pg_ctl) so this object holds its PID; resolves when it accepts connections. */
  async launch(): Promise<void> {
    const proc = spawn(join(this.bin, 'postgres'), ['-D', this.dataDir], { stdio: ['ignore', 'ignore', 'pipe'], ...(this.owner ?? {}) });
    this.proc = proc;
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`postgres exited with ${proc.exitCode}: ${stderr}`);
      try {
        // Over this instance's own socket directory: on TCP another server could answer for a port we failed to bind.
        this.run('pg_isready', ['-h', this.dir, '-p', String(this.port), '-q']);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`postgres did not start in 30s: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Runs SQL as the superuser over the Unix socket; returns psql's unaligned output. */
  sql(text: string, db = 'postgres'): string {
    return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', this.dir, '-p', String(this.port), '-U', 'postgres', '-d', db, '-c', text], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  }

  /** Fast shutdown by PID; waits for the postmaster to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGCONT'); // in case it was left suspended
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
