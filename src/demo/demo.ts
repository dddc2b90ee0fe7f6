// `pgporter demo`: a throwaway PostgreSQL with pgporter in front of it on embedded defaults, removed again on Ctrl-C.
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { parseConfig, readConfigFile } from '../config/index.js';
import { createWriteStream } from 'node:fs';
import { startApp, type App } from '../app.js';
import { createLogger } from '../observability/index.js';
import { LocalDriver } from '../wake/index.js';
import { LocalPostgres } from './local-postgres.js';
import { runTour } from './walkthrough.js';

/** The example config shipped at the repository root (two levels above dist/src/demo). */
export function exampleConfigPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const p = join(here, up, 'pgporter.example.yaml');
    try {
      readConfigFile(p);
      return p;
    } catch {
      /* try the next level */
    }
  }
  throw new Error('pgporter.example.yaml not found next to the installation');
}

/** How long the demo database may sit without clients before pgporter suspends it. */
const IDLE_SECONDS = 5;

export interface DemoIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export async function runDemo(io: DemoIo, opts: { signal?: AbortSignal } = {}): Promise<number> {
  // Listen for Ctrl-C from the very start, so a stop during start-up or the tour still cleans up.
  let stopRequested = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      stopRequested = true;
      resolve();
    };
    opts.signal?.addEventListener('abort', stop, { once: true });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  io.stdout.write('starting a throwaway PostgreSQL...\n');
  const pg = await LocalPostgres.start();
  if (stopRequested) return cleanUp(io, pg, undefined);
  pg.sql(`CREATE TABLE demo_greeting (id int PRIMARY KEY, text text); INSERT INTO demo_greeting VALUES (1, 'hello through pgporter');`);
  const raw = readConfigFile(exampleConfigPath());
  const adminToken = io.env.PGPORTER_ADMIN_TOKEN ?? randomBytes(18).toString('base64url');
  let app: App;
  // pgporter's JSON log goes to a file of its own, so the tour reads as text.
  const logFile = join(pg.dir, 'pgporter.log');
  try {
    const config = parseConfig(
      {
        ...raw,
        // The demo runs pgporter inside its own process (startApp, never the supervisor), whatever the example says.
        workers: 1,
        listen: { host: '127.0.0.1', port: await demoPort(io.env.PGPORTER_DEMO_PORT) },
        metrics: { host: '127.0.0.1', port: 0 },
        store: { kind: 'embedded', path: join(pg.dir, 'pgporter-state.json') },
        admin: { host: '127.0.0.1', port: 0, tokens: [{ name: 'demo', token: adminToken }] },
        tenants: [
          {
            id: 'demo',
            upstream: { host: pg.host, port: pg.port },
            auth: { method: 'trust' },
            // The local driver suspends and resumes this PostgreSQL with SIGSTOP/SIGCONT, as Fly suspends a Machine.
            fly: { driver: 'local', dataDir: pg.dataDir, suspendAfterIdle: `${IDLE_SECONDS}s` },
          },
        ],
      },
      'demo',
      { ...io.env, PGPORTER_ADMIN_TOKEN: adminToken },
    );
    app = await startApp(config, { logger: createLogger(config.log.level, createWriteStream(logFile, { flags: 'a' })) });
  } catch (err) {
    await pg.destroy();
    throw err;
  }
  io.stdout.write(
    [
      '',
      `pgporter is listening on 127.0.0.1:${app.port} in front of PostgreSQL on port ${pg.port}.`,
      `PostgreSQL data: ${pg.dir} (postmaster pid ${pg.pid})`,
      `pgporter's log: ${logFile}`,
      '',
    ].join('\n'),
  );
  // The tour edits the allowlist and suspends the database, so the invitation to try comes after it.
  const tour = async () => {
    if (io.env.PGPORTER_DEMO_TOUR !== '0' && app.adminPort !== undefined) {
      try {
        await runTour({ port: app.port, adminPort: app.adminPort, adminToken, tenant: 'demo', dataDir: pg.dataDir, idleSeconds: IDLE_SECONDS, out: io.stdout });
      } catch (err) {
        if (!stopRequested) io.stderr.write(`demo tour failed: ${(err as Error).message}\n`);
      }
    }
    if (stopRequested) return;
    io.stdout.write(
      [
        '',
        `Try:   psql "postgres://postgres@127.0.0.1:${app.port}/postgres" -c "SELECT text FROM demo_greeting"`,
        `Metrics: http://127.0.0.1:${app.metricsPort}/metrics`,
        `Admin API: PGPORTER_ADMIN_URL=http://127.0.0.1:${app.adminPort} PGPORTER_ADMIN_TOKEN=${adminToken} node dist/src/cli.js allowlist list demo`,
        '',
        'Press Ctrl-C to stop and remove everything.',
        '',
      ].join('\n'),
    );
  };
  await Promise.race([tour(), stopped]);
  await stopped;
  return cleanUp(io, pg, app);
}

/** PostgreSQL poolers' usual 6432, or any free port when something already listens there (PGPORTER_DEMO_PORT overrides). */
async function demoPort(wanted: string | undefined): Promise<number> {
  if (wanted !== undefined) return Number(wanted);
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(6432, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  return free ? 6432 : 0;
}

async function cleanUp(io: DemoIo, pg: LocalPostgres, app: App | undefined): Promise<number> {
  io.stdout.write('stopping...\n');
  // A database pgporter suspended (SIGSTOP) would never finish shutting down: resume it first.
  await new LocalDriver(pg.dataDir).start().catch(() => undefined);
  await app?.close();
  await pg.destroy();
  io.stdout.write('removed the throwaway PostgreSQL and its data.\n');
  return 0;
}
