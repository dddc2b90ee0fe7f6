// `pgporter check-config` and the CLI's usage errors, run as a real process: exit 0 valid, 1 invalid or unreadable, 2 misuse.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, EXAMPLE_CONFIG, exampleWith } from './fixtures/pgporter.js';
import { tempDir } from './fixtures/ports.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion with `env` on top of a clean environment (no PGPORTER_* leaking in from the caller). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PGPORTER_')));
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A command that should exit but serves instead would hang the test; kill it by PID and report.
    const guard = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('error', reject);
    proc.once('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const dir = tempDir('check-config');
t.teardown(() => dir.remove());
const TOKEN = { PGPORTER_ADMIN_TOKEN: 'admin-token-0123456789' };

t.test('a valid file: exit 0 and stdout says valid', async (t) => {
  const r = await cli(['check-config', EXAMPLE_CONFIG], TOKEN);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, EXAMPLE_CONFIG);
  t.match(r.stdout, /\bvalid\b/);
  t.match(r.stdout, '1 tenant');
  t.equal(r.stderr, '', 'nothing on stderr');
  t.notMatch(r.stdout, TOKEN.PGPORTER_ADMIN_TOKEN, 'the secret is not echoed');
});

t.test('an invalid file: exit 1 and stderr names the key', async (t) => {
  const file = join(dir.path, 'unknown-key.yaml');
  writeFileSync(file, stringify(exampleWith({ listen: { prot: 6432 } })));
  const r = await cli(['check-config', file], TOKEN);
  t.equal(r.code, 1);
  t.match(r.stderr, 'listen.prot');
  t.match(r.stderr, file, 'names the file');
  t.equal(r.stdout, '', 'nothing claims it is valid');

  const dur = join(dir.path, 'duration.yaml');
  writeFileSync(dur, stringify(exampleWith({ startup: { timeout: '10' } })));
  const r2 = await cli(['check-config', dur], TOKEN);
  t.equal(r2.code, 1);
  t.match(r2.stderr, 'startup.timeout');

  const cidr = join(dir.path, 'cidr.yaml');
  writeFileSync(cidr, stringify(exampleWith({ tenants: [{ id: 'a', upstream: { host: 'h' }, allowlist: ['10.0.0.0/33'] }] })));
  const r3 = await cli(['check-config', cidr], TOKEN);
  t.equal(r3.code, 1);
  t.match(r3.stderr, 'tenants[0].allowlist[0]');
  t.match(r3.stderr, '10.0.0.0/33');
});

t.test('a missing environment variable: exit 1 naming the key and the variable', async (t) => {
  const r = await cli(['check-config', EXAMPLE_CONFIG]);
  t.equal(r.code, 1);
  t.match(r.stderr, 'admin.tokens[0].token');
  t.match(r.stderr, 'PGPORTER_ADMIN_TOKEN');
});

t.test('invalid YAML: exit 1', async (t) => {
  const file = join(dir.path, 'broken.yaml');
  writeFileSync(file, 'listen: [1\n');
  const r = await cli(['check-config', file], TOKEN);
  t.equal(r.code, 1);
  t.match(r.stderr, 'not valid YAML');
});

t.test('a missing file: exit 1', async (t) => {
  const file = join(dir.path, 'does-not-exist.yaml');
  const r = await cli(['check-config', file], TOKEN);
  t.equal(r.code, 1);
  t.match(r.stderr, file);
  t.match(r.stderr, 'cannot read file');
});

t.test('no argument (or two): exit 2 with usage', async (t) => {
  const r = await cli(['check-config'], TOKEN);
  t.equal(r.code, 2);
  t.match(r.stderr, 'usage');
  const r2 = await cli(['check-config', EXAMPLE_CONFIG, EXAMPLE_CONFIG], TOKEN);
  t.equal(r2.code, 2);
  t.match(r2.stderr, 'usage');
});

t.test('an unknown command: exit 2 with usage', async (t) => {
  const r = await cli(['nosuchcommand']);
  t.equal(r.code, 2);
  t.match(r.stderr, 'nosuchcommand');
  t.match(r.stderr, 'usage');
});

t.test('start without a config: exit 2 with a hint', async (t) => {
  const r = await cli(['start']);
  t.equal(r.code, 2);
  t.match(r.stderr, '--config');
  t.match(r.stderr, 'pgporter demo', 'points at the demo');

  const bare = await cli([]);
  t.equal(bare.code, 2, 'no command at all means start, same answer');
  t.match(bare.stderr, '--config');

  const badFlag = await cli(['start', '--nosuchflag']);
  t.equal(badFlag.code, 2, 'an unknown flag is misuse too');
});

t.test('start with an invalid config: exit 1 before listening', async (t) => {
  const file = join(dir.path, 'start-invalid.yaml');
  writeFileSync(file, stringify(exampleWith({ listen: { prot: 1 } })));
  const r = await cli(['start', '--config', file], TOKEN);
  t.equal(r.code, 1);
  t.match(r.stderr, 'listen.prot');
});
