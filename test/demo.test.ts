// `pgporter demo` as a user runs it: real psql through the printed URL gets the greeting, and Ctrl-C (SIGINT) removes the throwaway PostgreSQL, its process and its files.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from './fixtures/pgporter.js';
import { waitFor } from './fixtures/ports.js';

const run = promisify(execFile);

/** Whether a process with this PID exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

t.test('demo: psql through pgporter, then SIGINT removes everything', async (t) => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGPORTER_') && !k.startsWith('PG')));
  const demo = spawn(process.execPath, [CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, PGPORTER_DEMO_PORT: '0' } });
  let out = '';
  let err = '';
  demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
  demo.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    demo.once('exit', (code, signal) => resolve({ code, signal })),
  );

  let pgDir: string | undefined;
  let postmaster: number | undefined;
  t.teardown(async () => {
    // Only if the test failed part-way: stop what it started, by PID, and remove the files.
    if (demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGINT'); // lets a started demo clean up after itself
      const hard = setTimeout(() => demo.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(hard);
    }
    if (postmaster !== undefined && alive(postmaster)) process.kill(postmaster, 'SIGQUIT');
    if (pgDir) rmSync(pgDir, { recursive: true, force: true });
  });

  // initdb on a busy 2-core machine can take a while; this is a deadline for a hang, not a speed check.
  const lines = await waitFor(
    () => {
      if (demo.exitCode !== null) throw new Error(`demo exited with ${demo.exitCode}: ${err}`);
      const url = /psql "(postgres:\/\/[^"]+)"/.exec(out)?.[1];
      const data = /^PostgreSQL data: (\S+) \(postmaster pid (\d+)\)$/m.exec(out);
      return url && data ? { url, dir: data[1]!, pid: Number(data[2]) } : undefined;
    },
    'the demo to print its psql line',
    90_000,
  );
  pgDir = lines.dir;
  postmaster = lines.pid;

  const url = new URL(lines.url);
  t.equal(url.hostname, '127.0.0.1');
  t.not(url.port, '', 'the URL has a port');
  t.not(url.port, '0', 'PGPORTER_DEMO_PORT=0 is replaced by the port the kernel chose');
  t.ok(existsSync(pgDir), 'the throwaway PostgreSQL directory exists while the demo runs');
  t.ok(alive(postmaster), 'its postmaster runs');
  const pidFile = readFileSync(join(pgDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0];
  t.equal(Number(pidFile), postmaster, 'the printed pid is the postmaster of that data directory');

  const psql = await run('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', lines.url, '-c', 'SELECT text FROM demo_greeting'], {
    env: { ...env, PGCONNECT_TIMEOUT: '10' },
    timeout: 30_000,
  });
  t.equal(psql.stdout.trim(), 'hello through pgporter', 'real psql gets the greeting through pgporter');
  // The guided tour: an allowlist refusal, the edit that admits the client, and the suspended database waking.
  await waitFor(() => out.includes('Press Ctrl-C'), 'the demo tour to finish', 60_000);
  const tour = out;
  t.notMatch(out, /^\{/m, "pgporter's JSON log does not interleave with the tour");
  const logFile = /^pgporter's log: (\S+)$/m.exec(out)?.[1];
  t.ok(logFile && readFileSync(logFile, 'utf8').includes('"event":"listening"'), 'the log goes to the file the demo names');
  t.match(tour, /psql from 127\.0\.0\.1 -> refused:\s+.*FATAL: +no allowlist entry for host "127\.0\.0\.1", tenant "demo"/, 'the tour shows an allowlist refusal');
  t.match(tour, /pgporter allowlist add demo 127\.0\.0\.1\s+psql from 127\.0\.0\.1 -> admitted:\s+hello through pgporter/, 'and the edit taking effect');
  t.match(tour, /PostgreSQL is suspended/, 'pgporter suspended the idle database');
  t.match(tour, /first psql -> answered in \d+ ms:\s+NOTICE: +waking up the database for tenant "demo"[^\n]*\s+hello through pgporter/, 'the first psql woke it');

  t.ok(demo.kill('SIGINT'), 'SIGINT sent to the demo by PID');
  const end = await exited;
  t.same(end, { code: 0, signal: null }, `the demo exits 0 on SIGINT (stderr: ${err})`);
  t.match(out, 'removed the throwaway PostgreSQL');
  t.notOk(existsSync(pgDir), 'the temp dir is gone');
  t.notOk(alive(postmaster), 'the postmaster is gone');
});

t.test('demo: Ctrl-C while the database is suspended resumes and stops it and removes everything', async (t) => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGPORTER_') && !k.startsWith('PG')));
  const demo = spawn(process.execPath, [CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, PGPORTER_DEMO_PORT: '0', PGPORTER_DEMO_TOUR: '0' } });
  let out = '';
  demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
  let pgDir: string | undefined;
  let postmaster: number | undefined;
  t.teardown(async () => {
    if (demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGKILL');
      await exited;
    }
    if (postmaster !== undefined && alive(postmaster)) {
      process.kill(postmaster, 'SIGCONT');
      process.kill(postmaster, 'SIGQUIT');
    }
    if (pgDir) rmSync(pgDir, { recursive: true, force: true });
  });
  const data = await waitFor(() => /^PostgreSQL data: (\S+) \(postmaster pid (\d+)\)$/m.exec(out), 'the demo to start', 90_000);
  pgDir = data[1]!;
  postmaster = Number(data[2]);
  const url = await waitFor(() => /psql "(postgres:\/\/[^"]+)"/.exec(out)?.[1], 'the psql line', 30_000);
  await run('psql', ['-X', '-A', '-t', url, '-c', 'SELECT 1'], { env: { ...env, PGCONNECT_TIMEOUT: '10' }, timeout: 30_000 });
  // The client left: after its idle period pgporter suspends the database (SIGSTOP, state T).
  await waitFor(() => /^State:\s+T/m.test(readFileSync(`/proc/${postmaster}/status`, 'utf8')), 'the database to be suspended', 30_000);
  t.ok(demo.kill('SIGINT'), 'SIGINT while suspended');
  t.equal(await exited, 0, 'the demo exits 0');
  t.notOk(existsSync(pgDir), 'the temp dir is gone');
  await waitFor(() => !alive(postmaster!), 'the postmaster to be gone', 15_000);
  t.pass('the postmaster is gone');
});
