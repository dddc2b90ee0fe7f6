// The container image's entrypoint, run without Docker by deploy/run-as-image.sh (same user, command, environment, production dependencies only): it serves through a PROXY v2 header, answers /healthz, and drains on SIGTERM; the Dockerfile, fly.toml and the Fly config agree.
import t from 'tap';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, realpathSync, readlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { stringify } from 'yaml';
import { parseConfig, readConfigFile } from '../src/config/index.js';
import { PostgresFixture, USERS } from './fixtures/postgres.js';
import { v2 } from './fixtures/proxy-headers.js';
import { tempDir, waitFor } from './fixtures/ports.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(ROOT, 'deploy/run-as-image.sh');
const FLY_TOML = join(ROOT, 'deploy/fly/fly.toml');
const FLY_CONFIG = join(ROOT, 'deploy/fly/pgporter.fly.yaml');

// --- the Dockerfile's runtime stage, as the image builder would read it ---

interface RuntimeStage {
  user: string;
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
  stopSignal: string;
}

/** Instructions of the last stage, with `\` continuations joined and comments dropped. */
function runtimeStage(text: string): RuntimeStage {
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const last = lines.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0).pop()!;
  const stage: RuntimeStage = { user: '', workdir: '', env: {}, entrypoint: [], cmd: [], healthcheck: [], stopSignal: '' };
  for (const line of lines.slice(last + 1)) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    switch (op?.toUpperCase()) {
      case 'USER': stage.user = rest!; break;
      case 'WORKDIR': stage.workdir = rest!; break;
      case 'STOPSIGNAL': stage.stopSignal = rest!; break;
      case 'ENV':
        for (const m of rest!.matchAll(/(\w+)=("[^"]*"|\S+)/g)) stage.env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
        break;
      case 'ENTRYPOINT': stage.entrypoint = JSON.parse(rest!) as string[]; break;
      case 'CMD': stage.cmd = JSON.parse(rest!) as string[]; break;
      case 'HEALTHCHECK': stage.healthcheck = JSON.parse(/\bCMD\s+(\[.*\])$/.exec(rest!)![1]!) as string[]; break;
    }
  }
  return stage;
}

const image = runtimeStage(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const [imageUid, imageGid] = image.user.split(':').map(Number) as [number, number];

/** fly.toml parsed by a real TOML parser (Python's tomllib), so a syntax error fails here rather than at `fly deploy`. */
function flyToml(): Record<string, any> {
  const out = execFileSync('python3', ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))))', FLY_TOML], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, any>;
}

/** The grace pgporter's SIGTERM handler adds to shutdown.timeout (src/cli/main.ts), read from the source so the test follows it. */
const SHUTDOWN_GRACE_MS = Number(/SHUTDOWN_GRACE_MS = ([\d_]+)/.exec(readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8'))![1]!.replace(/_/g, ''));

const FLY_SECRETS = { PGPORTER_ADMIN_TOKEN: 'admin-token-0123456789', FLY_API_TOKEN: 'fly-token', REDIS_URL: 'redis://127.0.0.1:6379', ACME_APP_PASSWORD: USERS.scram.password };

t.test('the image, fly.toml and the Fly config agree', async (t) => {
  t.match(image.user, /^\d+:\d+$/, 'USER is numeric uid:gid');
  t.not(imageUid, 0, 'USER is not root');
  t.same(image.entrypoint.slice(0, 2), ['node', 'dist/src/cli.js'], 'ENTRYPOINT runs the CLI with node itself, which handles SIGTERM');
  t.equal(image.stopSignal, 'SIGTERM');

  const fly = flyToml();
  const cfg = parseConfig(readConfigFile(FLY_CONFIG), FLY_CONFIG, FLY_SECRETS);
  t.equal(fly.kill_signal, image.stopSignal, 'kill_signal is the signal pgporter drains on');
  const bound = cfg.shutdown.timeout + SHUTDOWN_GRACE_MS;
  t.ok(fly.kill_timeout * 1000 > cfg.shutdown.timeout, `kill_timeout (${fly.kill_timeout}s) exceeds the drain's shutdown.timeout (${cfg.shutdown.timeout}ms)`);
  t.ok(fly.kill_timeout * 1000 >= bound, `kill_timeout (${fly.kill_timeout}s) covers pgporter's own shutdown bound (${bound}ms)`);

  const files = fly.files as { guest_path: string; local_path: string }[];
  t.equal(files.length, 1);
  t.equal(fly.env.PGPORTER_CONFIG, files[0]!.guest_path, '[env] PGPORTER_CONFIG names the file [[files]] writes');
  t.equal(image.env.PGPORTER_CONFIG, files[0]!.guest_path, 'and so does the image default');
  t.equal(realpathSync(join(ROOT, files[0]!.local_path)), FLY_CONFIG, 'local_path (from the repository root) is the Fly config');

  const svc = (fly.services as Record<string, any>[]).find((s) => s.internal_port === cfg.listen.port);
  t.ok(svc, `a [[services]] entry reaches listen.port ${cfg.listen.port}`);
  t.same(svc!.ports[0].handlers, ['proxy_proto']);
  t.same(svc!.ports[0].proxy_proto_options, { version: 'v2' });
  t.equal(cfg.proxyProtocol.mode, 'required');
  t.equal(cfg.listen.host, '0.0.0.0', "IPv4: Fly's proxy reaches the machine over its private IPv4 address");
  t.notOk(cfg.proxyProtocol.trustedProxies.some((c) => c.toLowerCase().startsWith('fdaa')), 'the org-wide 6PN is not trusted to send headers');

  t.equal(fly.metrics.port, cfg.metrics.port, '[metrics] scrapes the metrics listener');
  t.equal(fly.checks.healthz.port, cfg.metrics.port, '[checks] asks the metrics listener');
  t.equal(fly.checks.healthz.path, '/healthz');
  t.equal(new URL(image.env.PGPORTER_HEALTHCHECK_URL!).port, String(cfg.metrics.port), 'the image HEALTHCHECK asks the same port');
  t.ok(Array.isArray(fly.vm) && fly.vm[0].size, '[[vm]] names a size');
  t.equal(cfg.store.kind, 'redis', 'several nodes share one store');
  t.notOk(['0.0.0.0', '::'].includes(cfg.admin.host), 'the admin API is not on a public wildcard');
});

t.test('the entrypoint, run as the image runs it, serves and drains', { skip: process.getuid?.() !== 0 ? 'needs root to become the image user (CI runs as root)' : false }, async (t) => {
  const db = await PostgresFixture.start();
  t.teardown(() => db.destroy());
  const work = tempDir('deploy');
  t.teardown(() => work.remove());
  chmodSync(work.path, 0o755); // the image user reads the config from here
  const appDir = join(work.path, 'app');

  // The Fly config itself, with only what a test machine needs changed: loopback ports chosen by the kernel, the test
  // PostgreSQL, no Redis, no Machines API. The secrets stay ${ENV} references, filled like `fly secrets`.
  const raw = readConfigFile(FLY_CONFIG) as Record<string, any>;
  const tenant = { ...raw.tenants[0], upstream: { ...raw.tenants[0].upstream, host: '127.0.0.1', port: db.port } };
  delete tenant.fly;
  const config = {
    ...raw,
    listen: { host: '127.0.0.1', port: 0 },
    proxyProtocol: { ...raw.proxyProtocol, trustedProxies: ['127.0.0.0/8'] },
    metrics: { ...raw.metrics, host: '127.0.0.1', port: 0 },
    admin: { ...raw.admin, host: '127.0.0.1', port: 0 },
    store: { kind: 'memory' },
    fly: undefined,
    tenants: [tenant],
  };
  const configFile = join(work.path, 'pgporter.yaml');
  writeFileSync(configFile, stringify(config));
  chmodSync(configFile, 0o644);

  const started = Date.now();
  const proc = spawn('bash', [SCRIPT, appDir, `PGPORTER_CONFIG=${configFile}`, `PGPORTER_ADMIN_TOKEN=${FLY_SECRETS.PGPORTER_ADMIN_TOKEN}`, `FLY_API_TOKEN=${FLY_SECRETS.FLY_API_TOKEN}`, `ACME_APP_PASSWORD=${FLY_SECRETS.ACME_APP_PASSWORD}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = proc.pid!;
  const exited = new Promise<{ code: number | null; at: number }>((r) => proc.once('exit', (code) => r({ code, at: Date.now() })));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(pid, 'SIGKILL');
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));

  const listening = await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}: ${stderr}`);
    return logs.find((l) => l.event === 'listening');
  }, 'pgporter to listen', 120_000, 100);
  t.comment(`npm ci --omit=dev and start-up took ${Date.now() - started} ms`);
  const port = listening.port as number;
  const metricsPort = listening.metricsPort as number;

  t.test('it is the image: user, command, environment, working directory, files', async (t) => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    t.match(status, new RegExp(`^Uid:\\s+${imageUid}\\s+${imageUid}\\s+${imageUid}\\s+${imageUid}$`, 'm'), `runs as uid ${imageUid}`);
    t.match(status, new RegExp(`^Gid:\\s+${imageGid}\\s+${imageGid}\\s+${imageGid}\\s+${imageGid}$`, 'm'), `and gid ${imageGid}`);
    t.match(status, /^Groups:\s*$/m, 'with no supplementary groups');
    t.match(status, /^CapEff:\s+0+$/m, 'and no capabilities');
    t.same(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean), [...image.entrypoint, ...image.cmd], 'the command is ENTRYPOINT + CMD');
    t.equal(readlinkSync(`/proc/${pid}/cwd`), realpathSync(appDir), 'in the WORKDIR stand-in');
    t.equal(image.workdir, '/app');
    const env = Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const overrides = new Set(['PGPORTER_CONFIG']); // where this test's config lies instead of /etc/pgporter
    for (const [k, v] of Object.entries(image.env)) if (!overrides.has(k)) t.equal(env[k], v, `ENV ${k}`);
    const secrets = new Set(['PGPORTER_ADMIN_TOKEN', 'FLY_API_TOKEN', 'ACME_APP_PASSWORD']);
    const unexpected = Object.keys(env).filter((k) => !(k in image.env) && !secrets.has(k) && k !== 'PATH' && k !== 'HOME');
    t.same(unexpected, [], 'nothing from the test runner leaks into the environment');
    t.same(readdirSync(appDir).sort(), ['dist', 'node_modules', 'package.json'], 'the runtime files only');
    t.same(readdirSync(join(appDir, 'dist')), ['src']);
    for (const dev of ['typescript', 'tap', 'pg', '@types/node']) t.notOk(existsSync(join(appDir, 'node_modules', dev)), `no dev dependency ${dev}`);
    for (const dep of Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies)) {
      t.ok(existsSync(join(appDir, 'node_modules', dep)), `production dependency ${dep}`);
    }
  });

  t.test('/healthz answers 200, and so does the image HEALTHCHECK command as the image user', async (t) => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    t.equal(res.status, 200);
    const url = `http://127.0.0.1:${metricsPort}/healthz`;
    const code = await new Promise<number>((r) => execFile('bash', [SCRIPT, '--exec', appDir, `PGPORTER_HEALTHCHECK_URL=${url}`, '--', ...image.healthcheck], (err) => r(err ? ((err as { code?: number }).code ?? 1) : 0)));
    t.equal(code, 0, 'HEALTHCHECK exits 0');
    const down = await new Promise<number>((r) => execFile('bash', [SCRIPT, '--exec', appDir, `PGPORTER_HEALTHCHECK_URL=http://127.0.0.1:1/healthz`, '--', ...image.healthcheck], (err) => r(err ? ((err as { code?: number }).code ?? 1) : 0)));
    t.equal(down, 1, 'and 1 when nothing answers');
  });

  /** A node-postgres client whose socket first sends the PROXY v2 header Fly's proxy would, for `client`. */
  const viaFlyProxy = (clientIp: number[]) =>
    new pg.Client({
      host: '127.0.0.1',
      port,
      user: USERS.scram.user,
      password: USERS.scram.password,
      database: 'postgres',
      stream: () => {
        const s = new Socket();
        // Registered before pg's own 'connect' listener, so the header precedes the StartupMessage.
        s.once('connect', () => s.write(v2(0x21, 0x11, Buffer.from([...clientIp, 10, 0, 0, 1, 0xc8, 0x22, 0x15, 0x38]))));
        return s;
      },
    });

  const held = viaFlyProxy([203, 0, 113, 7]);
  const heldError = new Promise<Error & { code?: string }>((r) => held.once('error', r));
  held.on('error', () => {}); // a later 'connection terminated' must not become an uncaught error

  t.test('a real client queries through it behind a PROXY v2 header', async (t) => {
    await held.connect();
    const res = await held.query('SELECT current_user AS u, 6 * 7 AS answer');
    t.same(res.rows, [{ u: USERS.scram.user, answer: 42 }]);
    const accepted = await waitFor(() => logs.find((l) => l.event === 'accepted' && l.client === '203.0.113.7'), 'accepted log line');
    t.equal(accepted.client, '203.0.113.7', 'the client address comes from the header');

    const direct = new pg.Client({ host: '127.0.0.1', port, user: USERS.scram.user, password: USERS.scram.password, database: 'postgres' });
    direct.on('error', () => {});
    await t.rejects(direct.connect(), 'a connection without a header is refused (proxyProtocol.mode required)');
  });

  t.test('SIGTERM drains: the open session ends with 57P01 and the process exits 0 within the bound', async (t) => {
    const sent = Date.now();
    process.kill(pid, 'SIGTERM');
    const { code, at } = await exited;
    t.equal(code, 0, `exit code 0 (stderr: ${stderr.slice(-500)})`);
    t.ok(at - sent < SHUTDOWN_GRACE_MS, `exited in ${at - sent} ms, within ${SHUTDOWN_GRACE_MS} ms`);
    const err = await heldError;
    t.equal(err.code, '57P01', 'the open client was told the server is shutting down');
    t.ok(logs.find((l) => l.event === 'signal' && l.signal === 'SIGTERM'), 'pgporter logged the signal');
    t.ok(logs.find((l) => l.event === 'stopped'), 'and its clean stop');
    await held.end().catch(() => {});
  });
});
